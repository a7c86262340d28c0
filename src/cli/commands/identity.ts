import { Option, type Command } from 'commander';
import {
  DEFAULT_MAX_SESSION_SECONDS,
  ENVIRONMENTS,
  IDENTITY_STATUSES,
  MAX_SESSION_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
} from '../../registry/vocabulary.js';
import { printRecord, type OutputOptions } from '../context.js';
import { agentPath, integer, name } from '../flags.js';
import {
  columns,
  getsRecord,
  idArgument,
  item,
  listsRows,
  reasonOption,
  send,
  showsRecord,
  subcommand,
  updatesRecord,
} from '../verbs.js';

const IDENTITIES = '/v1/identities';
const EXAMPLE_ID = '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a';
/** The API's bounds for a session (renewals from one attestation): five minutes to a week. */
const MIN_SESSION_SECONDS = 300;
/** The API's bounds for a join token's life: minutes, not days. */
const JOIN_TTL_SECONDS = { min: 60, max: 3600 } as const;

/** The flags `create` and `update` share. */
function withTunables(command: Command): Command {
  // The server caps by environment (sandbox 3600, pilot 1800, production 900); the CLI knows
  // only the widest bound, since `update` does not say which environment the identity is in.
  const widest = Math.max(...Object.values(MAX_TOKEN_TTL_SECONDS));
  return command
    .option('--description <text>', 'what this agent does')
    .option(
      '--max-token-ttl-seconds <seconds>',
      `longest access-token lifetime (${MIN_TOKEN_TTL_SECONDS}-${widest}; at most 1800 in pilot, 900 in production)`,
      integer('--max-token-ttl-seconds', MIN_TOKEN_TTL_SECONDS, widest),
    )
    .option(
      '--max-session-seconds <seconds>',
      `how long renewals may extend one session before the workload must attest again (${MIN_SESSION_SECONDS}-${MAX_SESSION_SECONDS}; default ${DEFAULT_MAX_SESSION_SECONDS})`,
      integer('--max-session-seconds', MIN_SESSION_SECONDS, MAX_SESSION_SECONDS),
    );
}

/** The lifecycle moves: each a POST with a reason, which the trail records. */
const STATUS_CHANGES = [
  {
    verb: 'disable',
    summary: 'Disable an identity: it gets no new tokens until enabled (reversible)',
    example: `steward identity disable ${EXAMPLE_ID} --reason "suspected key leak, INC-88"`,
  },
  {
    verb: 'enable',
    summary: 'Re-enable a disabled identity (admin, security)',
    example: `steward identity enable ${EXAMPLE_ID} --reason "INC-88 closed: no leak"`,
  },
  {
    verb: 'decommission',
    summary: 'Decommission an identity: permanent, its history is kept',
    example: `steward identity decommission ${EXAMPLE_ID} --reason "agent retired"`,
  },
] as const;

/**
 * `steward identity create|list|get|update|join-token|disable|enable|decommission`: workload
 * identities.
 */
export function registerIdentity(program: Command): void {
  const identity = subcommand(
    program,
    'identity',
    'Workload identities: one per (service, environment, agent path), with a SPIFFE ID',
    [
      'steward identity create --service refund-agent --environment sandbox --agent-path planner',
      'steward identity list --service refund-agent --status active',
      `steward identity disable ${EXAMPLE_ID} --reason "suspected key leak, INC-88"`,
    ],
  );

  const create = subcommand(
    identity,
    'create',
    'Create a workload identity (pilot and production need the service admitted there)',
    [
      'steward identity create --service refund-agent --environment sandbox --agent-path planner',
      'steward identity create --service refund-agent --environment pilot --agent-path planner/search \\',
      '    --max-token-ttl-seconds 600 --json',
    ],
  )
    .requiredOption('--service <name>', 'the service it belongs to', name('--service'))
    .addOption(
      new Option('--environment <environment>', 'where it runs')
        .choices(ENVIRONMENTS)
        .makeOptionMandatory(),
    )
    .requiredOption(
      '--agent-path <path>',
      'which agent of the service: name segments joined by "/", e.g. planner/search',
      agentPath('--agent-path'),
    );
  showsRecord(withTunables(create), (_args, flags) => ({
    method: 'POST',
    path: IDENTITIES,
    body: flags,
  }));

  const list = subcommand(identity, 'list', 'List workload identities, with filters', [
    'steward identity list',
    'steward identity list --service refund-agent --environment production --status active --json',
  ])
    .option('--service <name>', 'only this service', name('--service'))
    .option('--team <name>', "only this team's services", name('--team'))
    .addOption(new Option('--environment <environment>', 'only this one').choices(ENVIRONMENTS))
    .addOption(new Option('--status <status>', 'only this status').choices(IDENTITY_STATUSES))
    .option('--spiffe-id <id>', 'only this SPIFFE ID');
  listsRows(
    list,
    IDENTITIES,
    columns({
      id: 'id',
      'spiffe id': 'spiffeId',
      status: 'status',
      'max ttl': 'maxTokenTtlSeconds',
      'last used': 'lastUsedAt',
    }),
  );

  const get = subcommand(identity, 'get', 'Show one workload identity', [
    `steward identity get ${EXAMPLE_ID}`,
  ]);
  getsRecord(idArgument(get, 'identity'), IDENTITIES);

  const update = subcommand(
    identity,
    'update',
    "Change an identity's description, token TTL or session limit",
    [
      `steward identity update ${EXAMPLE_ID} --max-token-ttl-seconds 300`,
      `steward identity update ${EXAMPLE_ID} --max-session-seconds 3600`,
    ],
  );
  updatesRecord(withTunables(idArgument(update, 'identity')), IDENTITIES);

  const join = subcommand(
    identity,
    'join-token',
    'Create a single-use join token for an identity; prints the token alone, this once (admin, owner)',
    [
      `steward identity join-token ${EXAMPLE_ID} > join.token`,
      `steward identity join-token ${EXAMPLE_ID} --ttl-seconds 300 --json`,
      '# then, where the workload runs:',
      'TOKEN=$(steward token exchange --subject-token-file join.token)',
    ],
  ).option(
    '--ttl-seconds <seconds>',
    `how long it may wait to be used (${JOIN_TTL_SECONDS.min}-${JOIN_TTL_SECONDS.max}; default 600)`,
    integer('--ttl-seconds', JOIN_TTL_SECONDS.min, JOIN_TTL_SECONDS.max),
  );
  idArgument(join, 'identity').action(async () => {
    const created = await send<{ token: string; spiffeId: string; expiresAt: string }>(join, {
      method: 'POST',
      path: item(IDENTITIES, join.args, 'join-tokens'),
      body: join.opts(),
    });
    if (join.optsWithGlobals<OutputOptions>().json) {
      printRecord(join, created);
      return;
    }
    // The token alone on stdout, so `> join.token` or `$(…)` takes exactly it; the rest is for
    // the person, on stderr, where a redirect of stdout still shows it.
    process.stdout.write(`${created.token}\n`);
    process.stderr.write(
      `Join token for ${created.spiffeId}: single use, valid until ${created.expiresAt}.\n` +
        'Store it now: it is shown this once, and Steward keeps only its hash.\n',
    );
  });

  for (const { verb, summary, example } of STATUS_CHANGES) {
    const change = subcommand(identity, verb, summary, [example]).addOption(reasonOption());
    showsRecord(idArgument(change, 'identity'), (args, { reason }) => ({
      method: 'POST',
      path: item(IDENTITIES, args, verb),
      body: { reason },
    }));
  }
}
