import { StewardApiError, StewardClient, StewardUnreachableError } from '@steward/sdk';
import { Command, CommanderError, Option } from 'commander';
import { renderRecord, renderTable, type Column } from './output.js';

/**
 * Exit codes scripts can rely on:
 * 0 success; 1 unexpected failure; 2 usage or configuration error; 3 the API refused the
 * request (4xx, except those below); 4 authentication or permission (401, 403);
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

/** Raised for a bad flag value; printed as `error: <message>` with exit code 2. */
export class UsageError extends Error {}

export interface OutputOptions {
  readonly json?: boolean;
}

/** The API client from `--url`/`STEWARD_URL` and `STEWARD_ADMIN_KEY`. */
export function client(command: Command): StewardClient {
  const options = command.optsWithGlobals<{ url?: string }>();
  const url = options.url ?? process.env['STEWARD_URL'] ?? 'http://127.0.0.1:8080';
  const credential = process.env['STEWARD_ADMIN_KEY'];
  if (!credential) {
    throw new UsageError(
      'STEWARD_ADMIN_KEY is not set: export the API key to use (the bootstrap key is printed by the first `steward up`).',
    );
  }
  try {
    return new StewardClient({ url, credential });
  } catch (error) {
    throw new UsageError(`--url/STEWARD_URL: ${(error as Error).message}`);
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

/** Common flags of list commands. */
export function pageOptions(command: Command): Command {
  return command
    .addOption(new Option('--limit <n>', 'rows per page (1-500)').argParser(positiveInt('--limit')))
    .option('--cursor <cursor>', 'continue from a previous page');
}

export function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new UsageError(`${flag} must be a positive whole number, not ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/** Turns any error into a message on stderr and an exit code. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof StewardUnreachableError) {
    process.stderr.write(`error: ${error.message}\n`);
    return EXIT.unavailable;
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
