/**
 * Where `steward secret create|rotate` gets a value: a file (`--value-file`), standard input
 * (`--value -` or `--value-file -`), or the flag itself. The flag works without a prompt, for
 * scripts, but lands in shell history and `ps`, so using it prints a warning. The value is never
 * printed, not even in an error.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from './flags.js';

/** The API's limit on a secret value. */
const MAX_VALUE_CHARS = 16_384;

export const VALUE_HISTORY_WARNING =
  '\nA value given as --value ends up in shell history and in `ps`: prefer --value-file <path> or --value - (stdin).';

/** Adds `--value` and `--value-file` to `command`. */
export function valueOptions(command: Command): Command {
  return command
    .option('--value <value>', 'the value, or - for stdin (as a flag it lands in shell history)')
    .option('--value-file <path>', 'read the value from this file (- for stdin)')
    .addHelpText('after', VALUE_HISTORY_WARNING);
}

/**
 * The value the flags name. A file's or pipe's one trailing newline is dropped (editors and
 * `echo` add it); anything else is kept as given, spaces included.
 */
export async function readSecretValue(command: Command): Promise<string> {
  const flags = command.opts<{ value?: string; valueFile?: string }>();
  if (flags.value !== undefined && flags.valueFile !== undefined) {
    throw new UsageError('give --value or --value-file, not both');
  }
  let raw: string;
  if (flags.value === '-' || flags.valueFile === '-') raw = await readStdin();
  else if (flags.value !== undefined) {
    process.stderr.write(`warning:${VALUE_HISTORY_WARNING.slice(1)}\n`);
    raw = flags.value;
  } else if (flags.valueFile !== undefined) {
    try {
      raw = await readFile(flags.valueFile, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new UsageError(
        `--value-file: cannot read ${JSON.stringify(flags.valueFile)} (${code})`,
      );
    }
  } else {
    throw new UsageError(
      'a value is required: give --value-file <path>, --value - (stdin) or --value <value>',
    );
  }
  const value = raw.replace(/\r?\n$/, '');
  if (value === '') throw new UsageError('the value is empty');
  if (value.length > MAX_VALUE_CHARS) {
    throw new UsageError(`the value is longer than ${MAX_VALUE_CHARS} characters`);
  }
  return value;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    size += buffer.length;
    if (size > MAX_VALUE_CHARS * 4) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}
