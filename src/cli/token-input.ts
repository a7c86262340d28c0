/**
 * Where a command gets a token it must send: a flag, a file, or standard input. A flag is the
 * easiest and the worst (shell history, `ps`), so every command that takes a token also takes a
 * file (the Kubernetes projected-token pattern: the platform writes it, the CLI re-reads it) and
 * `-` for standard input. Nothing here ever prints the token, even in an error.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from './flags.js';

/** Tokens worth sending are a few kilobytes at most; the server's form limit is 16 KiB. */
const MAX_TOKEN_CHARS = 12 * 1024;

/** One token a command takes: `--<flag> <token>` and `--<flag>-file <path>`. */
export interface TokenInput {
  /** The flag without dashes, e.g. `subject-token`. */
  readonly flag: string;
  /** What the token is, for --help and messages, e.g. `the token to exchange`. */
  readonly what: string;
}

/** commander's key for a flag: `subject-token` is `subjectToken`. */
function key(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

/** Adds the flag and the file flag of `input` to `command`. */
export function tokenOptions(command: Command, input: TokenInput): Command {
  return command
    .option(
      `--${input.flag} <token>`,
      `${input.what}, or - for stdin (as a flag it lands in shell history: see below)`,
    )
    .option(`--${input.flag}-file <path>`, `read ${input.what} from this file (- for stdin)`);
}

/** Which source `input` names in `command`'s flags: the token itself, a path, or stdin. */
export type Source =
  | { readonly kind: 'value'; readonly value: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'stdin' };

/**
 * The source the flags give for `input`, checked before anything is read or sent: at most one of
 * the two flags; none is a usage error when `required`.
 */
export function tokenSource(command: Command, input: TokenInput, required: true): Source;
export function tokenSource(
  command: Command,
  input: TokenInput,
  required: false,
): Source | undefined;
export function tokenSource(
  command: Command,
  input: TokenInput,
  required: boolean,
): Source | undefined {
  const flags = command.opts<Record<string, string | undefined>>();
  const value = flags[key(input.flag)];
  const path = flags[key(`${input.flag}-file`)];
  if (value !== undefined && path !== undefined) {
    throw new UsageError(`give --${input.flag} or --${input.flag}-file, not both`);
  }
  if (value === '-' || path === '-') return { kind: 'stdin' };
  if (value !== undefined) return { kind: 'value', value };
  if (path !== undefined) return { kind: 'file', path };
  if (required) {
    throw new UsageError(
      `${input.what} is required: give --${input.flag}-file <path>, --${input.flag} - (stdin) or --${input.flag} <token>`,
    );
  }
  return undefined;
}

/** Reads the token `source` names and checks it looks like one (without ever showing it). */
export async function readToken(input: TokenInput, source: Source): Promise<string> {
  const label = source.kind === 'file' ? `--${input.flag}-file` : `--${input.flag}`;
  let raw: string;
  if (source.kind === 'value') raw = source.value;
  else if (source.kind === 'stdin') raw = await readStdin();
  else {
    try {
      raw = await readFile(source.path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new UsageError(`${label}: cannot read ${JSON.stringify(source.path)} (${code})`);
    }
  }
  // Files and pipes end with a newline; a token never contains whitespace.
  const token = raw.trim();
  if (token === '') throw new UsageError(`${label}: ${input.what} is empty`);
  if (token.length > MAX_TOKEN_CHARS) {
    throw new UsageError(`${label}: longer than ${MAX_TOKEN_CHARS} characters, not a token`);
  }
  if (/\s/.test(token)) {
    throw new UsageError(`${label}: contains whitespace inside, not a token`);
  }
  return token;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    size += buffer.length;
    // Enough to tell it is too long; the rest is not worth holding.
    if (size > MAX_TOKEN_CHARS * 4) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}
