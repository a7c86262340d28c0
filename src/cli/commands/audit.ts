import { Option, type Command } from 'commander';
import { actor, eventType, id, name, time } from '../flags.js';
import { columns, listsRows, subcommand } from '../verbs.js';

/** `steward audit list`: the change record, newest first, with filters. */
export function registerAudit(program: Command): void {
  const audit = subcommand(
    program,
    'audit',
    'The audit trail: every change, who made it, when, before and after (admin, security, auditor)',
    [
      'steward audit list',
      'steward audit list --service refund-agent --since 24h',
      'steward audit list --type identity. --order asc --json',
    ],
  );

  const list = subcommand(audit, 'list', 'List audit events, newest first, with filters', [
    'steward audit list --limit 20',
    'steward audit list --type identity.created --service refund-agent',
    'steward audit list --actor system --since 2025-06-01 --until 2025-07-01 --order asc',
    'steward audit list --identity 0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a --json',
  ])
    .option(
      '--type <type>',
      'an event type (identity.created) or a prefix ending in "." (identity.)',
      eventType('--type'),
    )
    .option('--identity <id>', 'events about this identity', id('--identity', 'an identity'))
    .option('--service <name>', 'events about this service', name('--service'))
    .option('--team <name>', 'events about this team', name('--team'))
    .option('--actor <ref>', 'events by "system" or "apikey:<id>"', actor('--actor'))
    .option('--since <time>', 'at or after: ISO 8601, or an age such as 2h or 7d', time('--since'))
    .option('--until <time>', 'before: ISO 8601, or an age such as 30m', time('--until'))
    .addOption(
      new Option('--order <order>', 'desc: newest first (default); asc: oldest first').choices([
        'asc',
        'desc',
      ]),
    );
  listsRows(
    list,
    '/v1/audit',
    columns({
      time: 'occurredAt',
      type: 'type',
      actor: 'actor',
      target: (row) => {
        const target = row['target'] as { kind?: unknown; id?: unknown } | null | undefined;
        return target ? `${String(target.kind)}:${String(target.id)}` : null;
      },
      request: 'requestId',
    }),
  );
}
