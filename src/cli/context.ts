import { StewardApiError, StewardClient, StewardUnreachableError } from '@steward/sdk';
import { Command, CommanderError, Option } from 'commander';
import { CLIENT_VARIABLES } from '../config/index.js';
import { integer, UsageError } from './flags.js';
import { renderRecord, renderTable, type Column } from './output.js';

export { UsageError };

/**
 * Exit codes scripts can rely on:
 * 0 success; 1 unexpected failure; 2 usage or configuration error; 3 the API refused the
 * request (4xx, except those below, and OAuth refusals such as invalid_grant); 4 authentication or permission (401, 403);
 * 5 not found (404); 6 conflict (409); 7 Steward unreachable or failing (network, 5xx).
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  rejected: 3,
  auth: 4,
  notFound: 5,
  conflict: 6,
  unavailable: 7,
} as const;

/** Where the CLI looks for Steward without `--url` or `STEWARD_URL`. */
const DEFAULT_URL = CLIENT_VARIABLES.url.default;

export interface OutputOptions {
  readonly json?: boolean;
}

/** Steward's base URL from `--url` or `STEWARD_URL`, checked to be http(s) before any request. */
export function stewardUrl(command: Command): string {
  const options = command.optsWithGlobals<{ url?: string }>();
  const url = options.url ?? process.env['STEWARD_URL'] ?? DEFAULT_URL;
  if (!URL.canParse(url) || !/^https?:\/\//i.test(url)) {
    throw new UsageError(
      `--url/STEWARD_URL must be an http:// or https:// URL, not ${JSON.stringify(url)}`,
    );
  }
  return url.replace(/\/+$/, '');
}

/** The API key in `STEWARD_ADMIN_KEY`; its absence is a usage error, before any request. */
export function adminKey(): string {
  const credential = process.env['STEWARD_ADMIN_KEY'];
  if (!credential) {
    throw new UsageError(
      'STEWARD_ADMIN_KEY is not set: export the API key to use (the bootstrap key is printed by the first `steward up`).',
    );
  }
  return credential;
}

/** The API client from `--url`/`STEWARD_URL` and `STEWARD_ADMIN_KEY`. */
export function client(command: Command): StewardClient {
  return new StewardClient({ url: stewardUrl(command), credential: adminKey() });
}

/** A refusal that carries its own exit code and message, for commands that do not call the API. */
export class CliRefusal extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliRefusal';
  }
}

/**
 * An OAuth endpoint's refusal (RFC 6749 §5.2 `{"error", "error_description"}`), kept apart from
 * the API's problem documents as the server keeps them apart: the codes are OAuth's, not ours.
 */
export class OAuthRefusal extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string | undefined,
  ) {
    super(description === undefined ? error : `${error}: ${description}`);
    this.name = 'OAuthRefusal';
  }
}

/** Prints a list as a table, or the raw page as JSON; says how to get the next page. */
export function printList<T>(
  command: Command,
  page: { items: T[]; nextCursor?: string },
  columns: readonly Column<T>[],
): void {
  if (command.optsWithGlobals<OutputOptions>().json) {
    process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `${page.items.length === 0 ? '(none)' : renderTable(page.items, columns)}\n`,
  );
  if (page.nextCursor) process.stderr.write(`more: repeat with --cursor ${page.nextCursor}\n`);
}

/** Prints one record as `key value` lines, or as JSON. */
export function printRecord(command: Command, record: object): void {
  process.stdout.write(
    command.optsWithGlobals<OutputOptions>().json
      ? `${JSON.stringify(record, null, 2)}\n`
      : `${renderRecord(record as Record<string, unknown>)}\n`,
  );
}

/**
 * Confirms a change the API answered with no body (204): a line for people; nothing for
 * `--json`, which prints what the API returned and it returned nothing.
 */
export function printDone(command: Command, message: string): void {
  if (!command.optsWithGlobals<OutputOptions>().json) process.stdout.write(`${message}\n`);
}

/** Common flags of list commands. */
export function pageOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--limit <n>', 'rows per page (1-500)').argParser(integer('--limit', 1, 500)),
    )
    .option('--cursor <cursor>', 'continue from a previous page');
}

/**
 * Steward did not answer: which URL was tried, where that URL came from, and how to change it,
 * since the usual cause is a CLI pointed at the wrong place (or at a Steward not started yet).
 */
function unreachable(error: StewardUnreachableError): string {
  const url = error.url.replace(/\/+$/, '');
  const fromEnv = process.env['STEWARD_URL']?.replace(/\/+$/, '');
  const source =
    fromEnv === url ? 'from STEWARD_URL' : url === DEFAULT_URL ? 'the default' : 'from --url';
  return [
    `error: cannot reach Steward at ${url} (${source}): ${failureOf(error.cause)}`,
    `  Set STEWARD_URL (or --url) to the address Steward listens on, or start it there with \`steward up\`.`,
    '',
  ].join('\n');
}

/** The network failure under fetch's "fetch failed": a socket code, or a timeout. */
function failureOf(cause: unknown): string {
  for (let current = cause, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.name === 'TimeoutError') return 'no answer in time';
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    current = current.cause;
  }
  return cause instanceof Error ? cause.message : 'no answer';
}

/** Turns any error into a message on stderr and an exit code. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof CliRefusal) {
    process.stderr.write(`error: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof StewardUnreachableError) {
    process.stderr.write(unreachable(error));
    return EXIT.unavailable;
  }
  if (error instanceof OAuthRefusal) {
    process.stderr.write(`error: ${error.message}\n`);
    // invalid_client is OAuth's "who are you?"; server_error and temporarily_unavailable are
    // Steward failing, not refusing. Every other code is a refusal of this request.
    if (error.status === 401 || error.status === 403 || error.error === 'invalid_client') {
      return EXIT.auth;
    }
    if (error.status >= 500) return EXIT.unavailable;
    return EXIT.rejected;
  }
  if (error instanceof StewardApiError) {
    process.stderr.write(`error: ${error.code}: ${error.detail}\n`);
    for (const field of error.errors) process.stderr.write(`  ${field.pointer}: ${field.detail}\n`);
    if (error.requestId) process.stderr.write(`  (request ${error.requestId})\n`);
    if (error.status === 401 || error.status === 403) return EXIT.auth;
    if (error.status === 404) return EXIT.notFound;
    if (error.status === 409) return EXIT.conflict;
    if (error.status >= 500) return EXIT.unavailable;
    return EXIT.rejected;
  }
  process.stderr.write(`error: ${(error as Error)?.message ?? String(error)}\n`);
  return EXIT.failure;
}
