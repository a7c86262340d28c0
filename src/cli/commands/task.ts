import { Option, type Command } from 'commander';
import { id, integer } from '../flags.js';
import {
  columns,
  getsRecord,
  idArgument,
  item,
  listsRows,
  showsRecord,
  subcommand,
} from '../verbs.js';

const TASKS = '/v1/tasks';
const EXAMPLE_ID = '3c9d2e1f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const EXAMPLE_IDENTITY = '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a';
/** The API's bounds for a task's deadline: ten seconds to a day (the tasks module's own). */
const DEADLINE_SECONDS = { min: 10, max: 24 * 3600 } as const;
const TASK_STATUSES = ['open', 'completed', 'expired'] as const;

/** `steward task open|complete|get|list`: units of agent work whose tokens die with them. */
export function registerTask(program: Command): void {
  const task = subcommand(
    program,
    'task',
    'Tasks: a unit of agent work with a deadline; tokens issued for it die when it completes',
    [
      `steward task open --identity ${EXAMPLE_IDENTITY} --deadline-seconds 900 --description "refund #4411"`,
      `steward token exchange --subject-token-file ./join.token --task ${EXAMPLE_ID}`,
      `steward task complete ${EXAMPLE_ID}`,
    ],
  );

  const open = subcommand(
    task,
    'open',
    'Open a task for an identity (admin, owner; a workload may open its own with its token)',
    [
      `steward task open --identity ${EXAMPLE_IDENTITY} --deadline-seconds 900`,
      `TASK=$(steward task open --identity ${EXAMPLE_IDENTITY} --deadline-seconds 600 --json | jq -r .id)`,
      '# as the workload itself, with its access token in place of an API key:',
      `STEWARD_ADMIN_KEY=$TOKEN steward task open --identity ${EXAMPLE_IDENTITY} --deadline-seconds 300`,
    ],
  )
    .requiredOption(
      '--identity <id>',
      'the identity doing the work',
      id('--identity', 'steward identity list'),
    )
    .requiredOption(
      '--deadline-seconds <seconds>',
      `when its tokens die at the latest (${DEADLINE_SECONDS.min}-${DEADLINE_SECONDS.max})`,
      integer('--deadline-seconds', DEADLINE_SECONDS.min, DEADLINE_SECONDS.max),
    )
    .option('--description <text>', 'what the work is, for the trail');
  showsRecord(open, (_args, flags) => ({ method: 'POST', path: TASKS, body: flags }));

  const complete = subcommand(
    task,
    'complete',
    'Complete a task: every token issued for it is revoked at once',
    [`steward task complete ${EXAMPLE_ID}`],
  );
  showsRecord(idArgument(complete, 'task'), (args) => ({
    method: 'POST',
    path: item(TASKS, args, 'complete'),
  }));

  const get = subcommand(task, 'get', 'Show one task', [`steward task get ${EXAMPLE_ID}`]);
  getsRecord(idArgument(get, 'task'), TASKS);

  const list = subcommand(task, 'list', 'List tasks, optionally of one identity or status', [
    'steward task list --status open',
    `steward task list --identity ${EXAMPLE_IDENTITY} --json`,
  ])
    .option('--identity <id>', 'only this identity', id('--identity', 'steward identity list'))
    .addOption(new Option('--status <status>', 'only this status').choices(TASK_STATUSES));
  listsRows(
    list,
    TASKS,
    columns({
      id: 'id',
      identity: 'identity',
      status: 'status',
      deadline: 'deadlineAt',
      description: 'description',
      closed: 'closedAt',
    }),
  );
}
