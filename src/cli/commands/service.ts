import { Option, type Command } from 'commander';
import { DATA_CLASSIFICATIONS, ENVIRONMENTS } from '../../registry/vocabulary.js';
import { UsageError } from '../context.js';
import { httpUrl, name } from '../flags.js';
import {
  columns,
  getsRecord,
  item,
  listsRows,
  nameArgument,
  reasonOption,
  showsRecord,
  subcommand,
  updatesRecord,
} from '../verbs.js';

const SERVICES = '/v1/services';

/** The flags a service is made of; `create` requires its team and data classification. */
function withFields(command: Command, required: boolean): Command {
  const team = new Option('--team <name>', 'the owning team').argParser(name('--team'));
  const classification = new Option(
    '--data-classification <level>',
    'the most sensitive data it handles',
  ).choices(DATA_CLASSIFICATIONS);
  if (required) {
    team.makeOptionMandatory();
    classification.makeOptionMandatory();
  }
  return command
    .addOption(team)
    .addOption(classification)
    .option('--description <text>', 'what the service does')
    .option('--runbook-url <url>', 'where its runbook lives', httpUrl('--runbook-url'))
    .option('--rollback-plan <text>', 'how to roll back a bad release');
}

/** `steward service create|list|get|update|admit`: the AI services and agents a team owns. */
export function registerService(program: Command): void {
  const service = subcommand(
    program,
    'service',
    'Services: AI services and agent applications, each owned by a team',
    [
      'steward service create refund-agent --team payments --data-classification confidential',
      'steward service list --team payments',
      'steward service admit refund-agent --environment pilot --reason "pilot approved in CHG-1234"',
    ],
  );

  const create = subcommand(service, 'create', 'Register a service (admin, or the team owner)', [
    'steward service create refund-agent --team payments --data-classification confidential \\',
    '    --runbook-url https://wiki.example.com/refund-agent --rollback-plan "redeploy previous tag"',
  ]);
  showsRecord(withFields(nameArgument(create, 'service'), true), ([serviceName], flags) => ({
    method: 'POST',
    path: SERVICES,
    body: { name: serviceName, ...flags },
  }));

  const list = subcommand(service, 'list', 'List services by name, optionally of one team', [
    'steward service list',
    'steward service list --team payments --json',
  ]).option('--team <name>', 'only this team', name('--team'));
  listsRows(
    list,
    SERVICES,
    columns({
      name: 'name',
      team: 'team',
      classification: 'dataClassification',
      admitted: 'admittedEnvironments',
      runbook: 'runbookUrl',
    }),
  );

  const get = subcommand(service, 'get', 'Show one service', ['steward service get refund-agent']);
  getsRecord(nameArgument(get, 'service'), SERVICES);

  const update = subcommand(
    service,
    'update',
    'Change a service (moving it to another team: admin only)',
    ['steward service update refund-agent --data-classification restricted'],
  );
  updatesRecord(withFields(nameArgument(update, 'service'), false), SERVICES);

  const admit = subcommand(
    service,
    'admit',
    'Set the environments a service is admitted to; sandbox is always implied (admin, security)',
    [
      'steward service admit refund-agent --environment pilot --reason "pilot approved in CHG-1234"',
      'steward service admit refund-agent --environment pilot production --reason "go-live CHG-1301"',
      'steward service admit refund-agent --none --reason "pulled back to sandbox after INC-77"',
    ],
  )
    .addOption(
      new Option(
        '--environment <environment...>',
        'the environments it is admitted to, one or more: the full set, replacing the old one',
      ).choices(ENVIRONMENTS),
    )
    .addOption(
      new Option('--none', 'admit it to no environment beyond sandbox').conflicts('environment'),
    )
    .addOption(reasonOption());
  showsRecord(nameArgument(admit, 'service'), (args, { environment, none, reason }) => {
    if (environment === undefined && none !== true) {
      throw new UsageError(
        'give --environment <environment> for each environment to admit, or --none to withdraw every admission beyond sandbox',
      );
    }
    return {
      method: 'PUT',
      path: item(SERVICES, args, 'admitted-environments'),
      body: { environments: environment ?? [], reason },
    };
  });
}
