import { readFile } from 'node:fs/promises';
import type { StewardToolPin, StewardToolPins } from '@steward/sdk';
import { Option, type Command } from 'commander';
import { printDone, printList, printRecord } from '../context.js';
import type { Column } from '../output.js';
import { httpUrl, integer, name, UsageError } from '../flags.js';
import {
  columns,
  getsRecord,
  item,
  listsRows,
  nameArgument,
  reasonOption,
  send,
  showsRecord,
  subcommand,
  type Flags,
} from '../verbs.js';

const UPSTREAMS = '/v1/upstreams';
const EGRESS = '/v1/egress/allow';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A tool definition's hash as `steward upstream tools` shows it: SHA-256, 64 hex digits. */
function definitionHash(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) {
    throw new UsageError(
      `--hash must be a SHA-256 in hex (64 characters, as \`steward upstream tools\` shows it), not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The columns of `steward upstream tools`: one tool's pins as the API lists them. */
const TOOL_COLUMNS: readonly Column<StewardToolPin>[] = [
  { header: 'tool', value: (tool) => tool.name },
  { header: 'status', value: (tool) => tool.status },
  { header: 'pinned', value: (tool) => tool.pinned?.hash.slice(0, 12) ?? '-' },
  { header: 'current', value: (tool) => tool.current?.hash ?? '-' },
  {
    header: 'changed',
    value: (tool) => tool.changes.map((change) => change.path).join(' ') || '-',
  },
];

/** `steward upstream tools` and `steward upstream accept-tool`: pinned MCP tool definitions. */
function registerToolPins(upstream: Command): void {
  const tools = subcommand(
    upstream,
    'tools',
    "An MCP upstream's tools: pinned definitions against the ones last seen (--json: with the definitions and what changed)",
    [
      'steward upstream tools crm',
      'steward upstream tools crm --json',
      'steward upstream tools crm --on-change warn',
    ],
  );
  nameArgument(tools, 'upstream')
    .addOption(
      new Option(
        '--on-change <mode>',
        'set what a changed or new tool does: hide (held until accepted, the default) or warn (served, with a finding)',
      ).choices(['hide', 'warn']),
    )
    .action(async () => {
      const onChange = tools.opts<{ onChange?: string }>().onChange;
      const path = item(UPSTREAMS, tools.args, 'tools');
      const view = await send<StewardToolPins>(
        tools,
        onChange === undefined
          ? { method: 'GET', path }
          : { method: 'PATCH', path, body: { onChange } },
      );
      if (tools.optsWithGlobals<{ json?: boolean }>().json) {
        printRecord(tools, view);
        return;
      }
      process.stdout.write(
        `${view.upstream}: a changed or new tool is ${view.onChange === 'warn' ? 'served with a finding (warn)' : 'held until accepted (hide)'}; ${view.pinnedAt === null ? 'not pinned yet (at its first listing)' : `pinned ${view.pinnedAt}`}\n`,
      );
      printList(tools, { items: [...view.tools] }, TOOL_COLUMNS);
    });

  const accept = subcommand(
    upstream,
    'accept-tool',
    "Accept a tool's current definition, named by its hash (from `steward upstream tools`); recorded",
    [
      'steward upstream accept-tool crm refund --hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    ],
  );
  nameArgument(accept, 'upstream')
    .argument('<tool>', 'the tool name, exactly as the upstream lists it')
    .addOption(
      new Option('--hash <sha256>', 'the current definition, as `steward upstream tools` shows it')
        .argParser(definitionHash)
        .makeOptionMandatory(),
    );
  showsRecord(accept, ([name, tool], flags) => ({
    method: 'POST',
    path: item(UPSTREAMS, [name ?? ''], 'tools', tool ?? '', 'accept'),
    body: { hash: flags['hash'] },
  }));
}

/** `name`, or `name=METHOD /path`: one operation of an upstream. */
function operation(spec: string): Record<string, unknown> {
  const match = /^([^=\s]+)(?:=([A-Za-z]+)\s+(\/\S*))?$/.exec(spec);
  if (!match) {
    throw new UsageError(
      `--operation must be NAME or NAME=METHOD /path, not ${JSON.stringify(spec)}`,
    );
  }
  const [, opName, method, path] = match;
  return { name: opName, ...(method ? { method: method.toUpperCase(), path } : {}) };
}

/** `10/20`: a rate of 10 per second with bursts of 20. */
function rateLimit(spec: string): { perSecond: number; burst: number } {
  const match = /^(\d{1,7})\/(\d{1,7})$/.exec(spec);
  if (!match)
    throw new UsageError(
      `--rate-limit must be PER_SECOND/BURST, e.g. 10/20, not ${JSON.stringify(spec)}`,
    );
  return { perSecond: Number(match[1]), burst: Number(match[2]) };
}

function withFields(command: Command): Command {
  return command
    .option('--kind <kind>', 'http or mcp')
    .option(
      // Not --url: that global flag names the Steward server.
      '--base-url <url>',
      'the upstream URL (MCP: its Streamable HTTP endpoint)',
      httpUrl('--base-url'),
    )
    .option('--team <name>', 'the owning team', name('--team'))
    .option('--classification <level>', 'public, internal, confidential or restricted')
    .option('--credential-secret <name>', 'the secret to inject', name('--credential-secret'))
    .option('--credential-in <where>', 'header, bearer or query (default bearer)')
    .option('--credential-name <name>', 'header or query parameter name')
    .option('--credential-format <format>', 'how the value is written, e.g. "Token {secret}"')
    .option('--operation <spec>', 'NAME or NAME=METHOD /path; repeat for each', collect)
    .option('--sensitive <name>', 'a sensitive operation or tool; repeat for each', collect)
    .option('--timeout-ms <n>', 'upstream timeout', integer('--timeout-ms', 100, 300_000))
    .option(
      '--max-request-bytes <n>',
      'request body limit',
      integer('--max-request-bytes', 1, 104_857_600),
    )
    .option(
      '--max-response-bytes <n>',
      'response body limit',
      integer('--max-response-bytes', 1, 1_073_741_824),
    )
    .option('--record-content', 'record full arguments and results in the trail')
    .option('--rate-limit <per-second/burst>', 'per-identity token bucket, e.g. 10/20')
    .option('--file <path>', 'a JSON document with any of the fields; flags win');
}

/** The request body the flags describe, over `--file` when given. */
async function bodyOf(flags: Flags): Promise<Record<string, unknown>> {
  let body: Record<string, unknown> = {};
  if (typeof flags['file'] === 'string') {
    try {
      body = JSON.parse(await readFile(flags['file'], 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--file: ${(error as Error).message}`);
    }
  }
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  set('kind', flags['kind']);
  set('url', flags['baseUrl']);
  set('team', flags['team']);
  set('classification', flags['classification']);
  if (flags['credentialSecret'] !== undefined) {
    body['credential'] = {
      secret: flags['credentialSecret'],
      in: flags['credentialIn'] ?? 'bearer',
      ...(flags['credentialName'] === undefined ? {} : { name: flags['credentialName'] }),
      ...(flags['credentialFormat'] === undefined ? {} : { format: flags['credentialFormat'] }),
    };
  }
  if (Array.isArray(flags['operation']))
    set('operations', flags['operation'].map(String).map(operation));
  set('sensitive', flags['sensitive']);
  set('timeoutMs', flags['timeoutMs']);
  set('maxRequestBytes', flags['maxRequestBytes']);
  set('maxResponseBytes', flags['maxResponseBytes']);
  if (flags['recordContent'] === true) body['recordContent'] = true;
  if (typeof flags['rateLimit'] === 'string') body['rateLimit'] = rateLimit(flags['rateLimit']);
  return body;
}

/**
 * `steward upstream create|list|get|update|delete|tools|accept-tool` and
 * `steward egress allow|list|remove`.
 */
export function registerUpstream(program: Command): void {
  const upstream = subcommand(
    program,
    'upstream',
    'Upstreams: the HTTP APIs and MCP servers behind the gateway',
    [
      'steward upstream create crm --kind mcp --base-url https://crm.example.com/mcp --team payments \\',
      '    --classification confidential --credential-secret crm-key --sensitive refund',
      'steward upstream list --team payments',
    ],
  );

  const create = subcommand(upstream, 'create', 'Register an upstream (the egress guard applies)', [
    'steward upstream create billing --kind http --base-url https://billing.example.com --team payments \\',
    '    --classification internal --operation "refund=POST /refunds" --sensitive refund',
  ]);
  withFields(nameArgument(create, 'upstream')).action(async () => {
    const body = await bodyOf(create.opts());
    const record = await send(create, {
      method: 'POST',
      path: UPSTREAMS,
      body: { name: create.args[0], ...body },
    });
    printRecord(create, record);
  });

  const list = subcommand(upstream, 'list', 'List upstreams by name', [
    'steward upstream list --kind mcp',
  ]);
  listsRows(
    list
      .option('--team <name>', 'only this team', name('--team'))
      .option('--kind <kind>', 'http or mcp'),
    UPSTREAMS,
    columns({
      name: 'name',
      kind: 'kind',
      team: 'team',
      url: 'url',
      classification: 'classification',
      credential: (row) => {
        const credential = row['credential'] as { secret?: string } | null;
        return credential?.secret ?? '-';
      },
    }),
  );

  const get = subcommand(upstream, 'get', 'Show one upstream', ['steward upstream get crm --json']);
  getsRecord(nameArgument(get, 'upstream'), UPSTREAMS);

  const update = subcommand(upstream, 'update', 'Change an upstream', [
    'steward upstream update crm --base-url https://crm-2.example.com/mcp --sensitive refund --sensitive delete',
    'steward upstream update crm --remove-credential',
  ]);
  withFields(nameArgument(update, 'upstream'))
    .option('--remove-credential', 'forward without injecting a credential')
    .option('--remove-rate-limit', "use the gateway's default rate limit");
  update.action(async () => {
    const flags = update.opts();
    const body = await bodyOf(flags);
    if (flags['removeCredential'] === true) body['removeCredential'] = true;
    if (flags['removeRateLimit'] === true) body['removeRateLimit'] = true;
    if (Object.keys(body).length === 0)
      throw new UsageError('nothing to change: give at least one flag');
    printRecord(
      update,
      await send(update, { method: 'PATCH', path: item(UPSTREAMS, update.args), body }),
    );
  });

  const remove = subcommand(upstream, 'delete', 'Delete an upstream', [
    'steward upstream delete crm',
  ]);
  nameArgument(remove, 'upstream').action(async () => {
    await send(remove, { method: 'DELETE', path: item(UPSTREAMS, remove.args) });
    printDone(remove, `deleted upstream ${remove.args[0] ?? ''}`);
  });

  registerToolPins(upstream);

  const egress = subcommand(
    program,
    'egress',
    'The egress allowlist: internal addresses upstreams may reach after all (admin)',
    [
      'steward egress allow 10.20.0.0/16 --reason "the CRM runs in the office network"',
      'steward egress list',
    ],
  );
  const allow = subcommand(egress, 'allow', 'Allow an address or CIDR network', [
    'steward egress allow 127.0.0.1 --reason "local test servers"',
  ]);
  allow.argument('<address>', 'an IP address or a CIDR network').addOption(reasonOption());
  showsRecord(allow, ([address], flags) => ({
    method: 'POST',
    path: EGRESS,
    body: { address, reason: flags['reason'] },
  }));

  const listAllowed = subcommand(egress, 'list', 'List the allowlist', ['steward egress list']);
  listAllowed.action(async () => {
    const page = await send<{ items: Record<string, unknown>[] }>(listAllowed, {
      method: 'GET',
      path: EGRESS,
    });
    printList(
      listAllowed,
      page,
      columns({ id: 'id', address: 'address', reason: 'reason', 'allowed by': 'createdBy' }),
    );
  });

  const removeAllowed = subcommand(egress, 'remove', 'Remove an entry, by id or by address', [
    'steward egress remove 127.0.0.1',
  ]);
  removeAllowed.argument('<id-or-address>', 'the entry id, or its address').action(async () => {
    const target = removeAllowed.args[0] ?? '';
    let id = target;
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-/.test(target)) {
      const { items } = await send<{ items: { id: string; address: string }[] }>(removeAllowed, {
        method: 'GET',
        path: EGRESS,
      });
      const withPrefix = target.includes('/')
        ? target
        : `${target}/${target.includes(':') ? 128 : 32}`;
      const found = items.find((entry) => entry.address === withPrefix || entry.address === target);
      if (!found) throw new UsageError(`no allowlist entry for ${JSON.stringify(target)}`);
      id = found.id;
    }
    await send(removeAllowed, { method: 'DELETE', path: `${EGRESS}/${encodeURIComponent(id)}` });
    printDone(removeAllowed, `removed ${target} from the egress allowlist`);
  });
}
