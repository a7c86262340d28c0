import type { Command } from 'commander';
import { printDone, printRecord } from '../context.js';
import { integer, name } from '../flags.js';
import { readSecretValue, valueOptions } from '../secret-input.js';
import { columns, getsRecord, item, listsRows, nameArgument, send, subcommand } from '../verbs.js';

const SECRETS = '/v1/secrets';

/** `steward secret create|list|get|rotate|delete`: upstream credentials, write-only. */
export function registerSecret(program: Command): void {
  const secret = subcommand(
    program,
    'secret',
    'Secrets: upstream credentials, sealed at rest; a value goes in and never comes out',
    [
      'steward secret create crm-key --team payments --value-file ./crm-key.txt',
      'vault read -field=key secret/crm | steward secret rotate crm-key --value -',
      'steward secret list',
    ],
  );

  const create = subcommand(
    secret,
    'create',
    'Store a secret (admin, security, or its team owner)',
    [
      'steward secret create crm-key --team payments --value-file ./crm-key.txt \\',
      '    --rotation-period-seconds 7776000',
    ],
  );
  valueOptions(nameArgument(create, 'secret'))
    .option('--team <name>', 'the owning team (owners: their own, the default)', name('--team'))
    .option(
      '--rotation-period-seconds <n>',
      'how often it should be rotated (posture checks read it)',
      integer('--rotation-period-seconds', 60, 5 * 366 * 86_400),
    )
    .option('--description <text>', 'what the secret is for')
    .action(async () => {
      const { value: _value, valueFile: _file, ...flags } = create.opts<Record<string, unknown>>();
      const value = await readSecretValue(create);
      printRecord(
        create,
        await send(create, {
          method: 'POST',
          path: SECRETS,
          body: { name: create.args[0], value, ...flags },
        }),
      );
    });

  const list = subcommand(secret, 'list', "List secrets' metadata (never a value)", [
    'steward secret list --team payments',
  ]);
  listsRows(
    list.option('--team <name>', 'only this team', name('--team')),
    SECRETS,
    columns({
      name: 'name',
      team: (row) => row['team'] ?? '-',
      version: 'version',
      'last rotated': 'lastRotatedAt',
      'rotation due': (row) =>
        typeof row['exposedAt'] === 'string'
          ? `yes: exposed ${row['exposedAt']}`
          : row['rotationDue'] === true
            ? 'yes'
            : 'no',
      'used by': (row) => (Array.isArray(row['usedBy']) ? row['usedBy'].join(', ') : ''),
    }),
  );

  const get = subcommand(secret, 'get', "Show a secret's metadata: versions, rotation, users", [
    'steward secret get crm-key --json',
  ]);
  getsRecord(nameArgument(get, 'secret'), SECRETS);

  const rotate = subcommand(secret, 'rotate', 'Store a new value as the next version', [
    'steward secret rotate crm-key --value-file ./new-key.txt',
  ]);
  valueOptions(nameArgument(rotate, 'secret')).action(async () => {
    const value = await readSecretValue(rotate);
    printRecord(
      rotate,
      await send(rotate, {
        method: 'POST',
        path: item(SECRETS, rotate.args, 'rotate'),
        body: { value },
      }),
    );
  });

  const remove = subcommand(secret, 'delete', 'Delete a secret no upstream uses', [
    'steward secret delete crm-key',
  ]);
  nameArgument(remove, 'secret').action(async () => {
    await send(remove, { method: 'DELETE', path: item(SECRETS, remove.args) });
    printDone(remove, `deleted secret ${remove.args[0] ?? ''}`);
  });
}
