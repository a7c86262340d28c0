import { Option, type Command } from 'commander';
import { name } from '../flags.js';
import {
  columns,
  getsRecord,
  idArgument,
  listsRows,
  showsRecord,
  subcommand,
  updatesRecord,
  type Flags,
} from '../verbs.js';

const PEOPLE = '/v1/people';

/**
 * `--inactive` reads better than `--no-active`; the API field is `active`, so turn one into the
 * other (and `--active` back on, for `update`).
 */
function activeField({ inactive, ...rest }: Flags): Flags {
  return inactive === true ? { ...rest, active: false } : rest;
}

/** `steward person add|list|get|update`: the people who answer for a team. */
export function registerPerson(program: Command): void {
  const person = subcommand(
    program,
    'person',
    'People: who belongs to a team, in which role, and whether they are active',
    [
      'steward person add --name "Ada Lovelace" --email ada@example.com --team payments --role lead',
      'steward person list --team payments',
      'steward person update 5b0c1c1e-8f0a-4d5e-9a51-0c6c3f6f2a10 --inactive',
    ],
  );

  const add = subcommand(person, 'add', 'Add a person to a team (admin, or the team owner)', [
    'steward person add --name "Ada Lovelace" --email ada@example.com --team payments --role lead',
  ])
    .requiredOption('--name <text>', 'full name')
    .requiredOption('--email <address>', 'mail address')
    .requiredOption('--team <name>', 'the team they belong to', name('--team'))
    .option('--role <text>', 'role in the team: lead, engineer, on-call…')
    .option('--inactive', 'add them as not active');
  showsRecord(add, (_args, flags) => ({ method: 'POST', path: PEOPLE, body: activeField(flags) }));

  const list = subcommand(person, 'list', 'List people, optionally of one team', [
    'steward person list',
    'steward person list --team payments --json',
  ]).option('--team <name>', 'only this team', name('--team'));
  listsRows(
    list,
    PEOPLE,
    columns({
      id: 'id',
      name: 'name',
      email: 'email',
      team: 'team',
      role: 'role',
      active: (row) => (row['active'] === true ? 'yes' : 'no'),
    }),
  );

  const get = subcommand(person, 'get', 'Show one person', [
    'steward person get 5b0c1c1e-8f0a-4d5e-9a51-0c6c3f6f2a10',
  ]);
  getsRecord(idArgument(get, 'person'), PEOPLE);

  const update = subcommand(person, 'update', "Change a person's name, role or activity", [
    'steward person update 5b0c1c1e-8f0a-4d5e-9a51-0c6c3f6f2a10 --role on-call',
    'steward person update 5b0c1c1e-8f0a-4d5e-9a51-0c6c3f6f2a10 --inactive',
  ])
    .option('--name <text>', 'full name')
    .option('--role <text>', 'role in the team')
    .option('--active', 'mark active again')
    .addOption(new Option('--inactive', 'mark not active').conflicts('active'));
  updatesRecord(idArgument(update, 'person'), PEOPLE, activeField);
}
