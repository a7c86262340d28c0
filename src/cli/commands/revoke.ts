import { Option, type Command } from 'commander';
import { ENVIRONMENTS } from '../../registry/vocabulary.js';
import { UsageError } from '../context.js';
import { id, name } from '../flags.js';
import { reasonOption, showsRecord, subcommand, type Flags } from '../verbs.js';

const EXAMPLE_JTI = '9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const EXAMPLE_IDENTITY = '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a';

/** What each kind of revocation names, as the API wants it (`/v1/revocations`). */
const TARGETS = {
  token: ['jti'],
  lineage: ['jti'],
  identity: ['identity'],
  service_environment: ['service', 'environment'],
  task: ['task'],
} as const satisfies Record<string, readonly string[]>;
type Kind = keyof typeof TARGETS;
const TARGET_FLAGS = ['jti', 'identity', 'service', 'environment', 'task'] as const;

/**
 * The body for `kind`, from exactly the flags it needs: a missing one, or one that belongs to
 * another kind (a sign the person meant something else), is a usage error before any request.
 */
function revocation(flags: Flags): Flags {
  const kind = flags['kind'] as Kind;
  const needed: readonly string[] = TARGETS[kind];
  const missing = needed.filter((flag) => flags[flag] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `--kind ${kind} needs ${missing.map((flag) => `--${flag}`).join(' and ')}`,
    );
  }
  const extra = TARGET_FLAGS.filter((flag) => !needed.includes(flag) && flags[flag] !== undefined);
  if (extra.length > 0) {
    throw new UsageError(
      `--kind ${kind} takes ${needed.map((flag) => `--${flag}`).join(' and ')}, not ${extra.map((flag) => `--${flag}`).join(' or ')}`,
    );
  }
  return flags;
}

/** `steward revoke`: operators revoke tokens by id, lineage, identity, service or task. */
export function registerRevoke(program: Command): void {
  const revoke = subcommand(
    program,
    'revoke',
    'Revoke tokens at once, by token id, lineage, identity, service in an environment (kill switch) or task (admin, security, owner)',
    [
      `steward revoke --kind token --jti ${EXAMPLE_JTI} --reason "leaked in a CI log"`,
      `steward revoke --kind lineage --jti ${EXAMPLE_JTI} --reason "end the whole session"`,
      `steward revoke --kind identity --identity ${EXAMPLE_IDENTITY} --reason "INC-88"`,
      'steward revoke --kind service_environment --service refund-agent --environment production \\',
      '    --reason "kill switch: runaway refunds, INC-90"',
    ],
  )
    .addOption(
      new Option(
        '--kind <kind>',
        'what to revoke: token or lineage (--jti; lineage takes every token renewed from it), identity, service_environment, task',
      )
        .choices(Object.keys(TARGETS))
        .makeOptionMandatory(),
    )
    .option(
      '--jti <id>',
      'the token (its jti, from `steward token list`)',
      id('--jti', 'steward token list'),
    )
    .option(
      '--identity <id>',
      'every token of this identity',
      id('--identity', 'steward identity list'),
    )
    .option('--service <name>', 'every token of this service…', name('--service'))
    .addOption(
      new Option('--environment <environment>', '…in this environment').choices(ENVIRONMENTS),
    )
    .option('--task <id>', 'every token of this task', id('--task', 'steward task list'))
    .addOption(reasonOption());
  showsRecord(revoke, (_args, flags) => ({
    method: 'POST',
    path: '/v1/revocations',
    body: revocation(flags),
  }));
}
