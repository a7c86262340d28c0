/**
 * The shape every `steward <noun> <verb>` shares: a subcommand with examples in its --help, an
 * action that turns arguments and flags into one API request, and a printer for what comes back.
 * Noun files only say which request and which columns; the plumbing lives here once.
 */
import type { Query } from '@steward/sdk';
import { Option, type Command } from 'commander';
import { client, pageOptions, printList, printRecord, UsageError } from './context.js';
import { id, name } from './flags.js';
import type { Column } from './output.js';

/** One resource as the API returned it (JSON). */
export type Row = Readonly<Record<string, unknown>>;

/** The flags of one invocation, by commander's camelCase key (`--agent-path` is `agentPath`). */
export type Flags = Readonly<Record<string, unknown>>;

/** One API request, described. */
export interface Call {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly query?: Query;
}

/**
 * Adds `<parent> <name>` with a one-line description and the given examples at the end of its
 * --help: an example is what a newcomer reads first.
 */
export function subcommand(
  parent: Command,
  name: string,
  description: string,
  examples: readonly string[],
): Command {
  return (
    parent
      .command(name)
      .description(description)
      // --url and --json belong to `steward` itself; a verb's help should still mention them.
      .configureHelp({ showGlobalOptions: true })
      .addHelpText('after', `\nExamples:\n${examples.map((line) => `  ${line}`).join('\n')}`)
  );
}

/** `<id>` of one `noun` (as `steward <noun> list` shows it), checked before it is sent. */
export function idArgument(command: Command, noun: string): Command {
  const list = `steward ${noun} list`;
  return command.argument('<id>', `the ${noun} id (from \`${list}\`)`, id('<id>', list));
}

/** `<name>` of one `noun`, checked before it is sent. */
export function nameArgument(command: Command, noun: string): Command {
  return command.argument('<name>', `the ${noun} name`, name('<name>'));
}

/** `base/<first argument>/<more…>`, each segment escaped for the URL. */
export function item(base: string, args: readonly string[], ...more: string[]): string {
  return [base, ...[args[0] ?? '', ...more].map(encodeURIComponent)].join('/');
}

/** Sends one request with the client `command`'s flags and environment describe. */
export async function send<T = Row>(command: Command, call: Call): Promise<T> {
  const { method, path, ...options } = call;
  return client(command).request<T>(method, path, options);
}

/** The command sends the request `call` builds and prints the record that comes back. */
export function showsRecord(
  command: Command,
  call: (args: readonly string[], flags: Flags) => Call,
): Command {
  return command.action(async () => {
    // Build the request first: a bad combination of flags is a usage error before any network.
    const request = call(command.args, command.opts());
    printRecord(command, await send(command, request));
  });
}

/** The command shows the record its first argument names under `base`. */
export function getsRecord(command: Command, base: string): Command {
  return showsRecord(command, (args) => ({ method: 'GET', path: item(base, args) }));
}

/** The command lists `path`, its own flags as filters, with --limit and --cursor for paging. */
export function listsRows(
  command: Command,
  path: string,
  columns: readonly Column<Row>[],
): Command {
  return pageOptions(command).action(async () => {
    const page = await send<{ items: Row[]; nextCursor?: string }>(command, {
      method: 'GET',
      path,
      query: command.opts<Query>(),
    });
    printList(command, page, columns);
  });
}

/**
 * The command PATCHes the record its first argument names with the flags given (or what `body`
 * makes of them); giving none is a usage error rather than an empty change in the trail.
 */
export function updatesRecord(
  command: Command,
  base: string,
  body: (flags: Flags) => Flags = (flags) => flags,
): Command {
  return showsRecord(command, (args, flags) => {
    const changes = body(flags);
    if (Object.keys(changes).length === 0) {
      const choices = command.options.map((option) => option.long).filter(Boolean);
      throw new UsageError(`nothing to change: give at least one of ${choices.join(', ')}`);
    }
    return { method: 'PATCH', path: item(base, args), body: changes };
  });
}

/** `--reason <text>`, required: every lifecycle or admission change says why, in the trail. */
export function reasonOption(): Option {
  return new Option('--reason <text>', 'why: recorded in the audit trail').makeOptionMandatory();
}

/** Table columns from `HEADER: field` pairs, or `HEADER: row => value` for a derived cell. */
export function columns(
  spec: Readonly<Record<string, string | ((row: Row) => unknown)>>,
): Column<Row>[] {
  return Object.entries(spec).map(([header, field]) => ({
    header,
    value: typeof field === 'string' ? (row: Row) => row[field] : field,
  }));
}
