import type { Command } from 'commander';
import { printDone } from '../context.js';
import {
  columns,
  getsRecord,
  item,
  listsRows,
  nameArgument,
  send,
  showsRecord,
  subcommand,
  updatesRecord,
} from '../verbs.js';

const TEAMS = '/v1/teams';

/** The flags a team is made of; `create` requires the two contacts, `update` changes any. */
function withFields(command: Command, required: boolean): Command {
  const contact = 'where to reach the team: mail address, chat channel';
  const escalation = 'who to reach when it is urgent: phone, pager';
  return (
    required
      ? command
          .requiredOption('--contact <text>', contact)
          .requiredOption('--escalation <text>', escalation)
      : command.option('--contact <text>', contact).option('--escalation <text>', escalation)
  )
    .option('--on-call <ref>', 'on-call schedule reference (id or URL)')
    .option('--description <text>', 'what the team does');
}

/** `steward team create|list|get|update|delete`: teams own services and answer for them. */
export function registerTeam(program: Command): void {
  const team = subcommand(
    program,
    'team',
    'Teams: who owns services and answers for them (contact, escalation, on-call)',
    [
      'steward team create payments --contact payments@example.com --escalation +1-555-0100',
      'steward team list',
      'steward team get payments --json',
    ],
  );

  const create = subcommand(team, 'create', 'Create a team (admin)', [
    'steward team create payments --contact payments@example.com --escalation +1-555-0100 \\',
    '    --on-call https://pager.example.com/payments',
  ]);
  showsRecord(withFields(nameArgument(create, 'team'), true), ([teamName], flags) => ({
    method: 'POST',
    path: TEAMS,
    body: { name: teamName, ...flags },
  }));

  const list = subcommand(team, 'list', 'List teams by name', [
    'steward team list',
    'steward team list --limit 20 --json',
  ]);
  listsRows(
    list,
    TEAMS,
    columns({ name: 'name', contact: 'contact', escalation: 'escalation', 'on call': 'onCall' }),
  );

  const get = subcommand(team, 'get', 'Show one team', ['steward team get payments']);
  getsRecord(nameArgument(get, 'team'), TEAMS);

  const update = subcommand(team, 'update', "Change a team's contacts (admin, or its owner)", [
    'steward team update payments --escalation +1-555-0199',
  ]);
  updatesRecord(withFields(nameArgument(update, 'team'), false), TEAMS);

  const remove = subcommand(team, 'delete', 'Delete a team that owns nothing (admin)', [
    'steward team delete payments',
  ]);
  nameArgument(remove, 'team').action(async () => {
    await send(remove, { method: 'DELETE', path: item(TEAMS, remove.args) });
    printDone(remove, `deleted team ${remove.args[0] ?? ''}`);
  });
}
