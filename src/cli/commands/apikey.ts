import { Option, type Command } from 'commander';
import { ROLES } from '../../actors/index.js';
import { printRecord, type OutputOptions } from '../context.js';
import { integer, name } from '../flags.js';
import {
  columns,
  getsRecord,
  idArgument,
  item,
  listsRows,
  send,
  showsRecord,
  subcommand,
} from '../verbs.js';

const KEYS = '/v1/api-keys';
const EXAMPLE_ID = '7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';
/** The API's bounds for a key's lifetime: a minute to a (leap) year. */
const TTL_SECONDS = { min: 60, max: 366 * 24 * 3600 } as const;

/** `steward apikey create|list|get|revoke`: the keys people and automation use on the admin API. */
export function registerApiKey(program: Command): void {
  const apikey = subcommand(
    program,
    'apikey',
    'API keys for the admin API, each with one role; Steward keeps only their hashes (admin)',
    [
      'steward apikey create --name "ci deploy" --role owner --team payments --ttl-seconds 86400',
      'steward apikey list',
      `steward apikey revoke ${EXAMPLE_ID}`,
    ],
  );

  const create = subcommand(
    apikey,
    'create',
    'Create an API key; its secret is printed this once, never again',
    [
      'steward apikey create --name "alice laptop" --role security',
      'steward apikey create --name "ci deploy" --role owner --team payments --ttl-seconds 86400',
      'KEY=$(steward apikey create --name auditor-bot --role auditor --json | jq -r .key)',
    ],
  )
    .requiredOption('--name <text>', 'what or who the key is for')
    .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
    .option('--team <name>', 'the team an owner key acts for', name('--team'))
    .option(
      '--ttl-seconds <seconds>',
      `expire after this long (${TTL_SECONDS.min}-${TTL_SECONDS.max}; default: never)`,
      integer('--ttl-seconds', TTL_SECONDS.min, TTL_SECONDS.max),
    );
  create.action(async () => {
    const created = await send(create, { method: 'POST', path: KEYS, body: create.opts() });
    printRecord(create, created);
    // On stderr, so `… | grep` or a redirect of stdout still shows the person the warning.
    if (!create.optsWithGlobals<OutputOptions>().json) {
      process.stderr.write(
        'Store the key now: it is shown this once, and Steward keeps only its hash.\n',
      );
    }
  });

  const list = subcommand(apikey, 'list', 'List API keys (never their secrets)', [
    'steward apikey list',
    'steward apikey list --include-revoked --json',
  ]).option('--include-revoked', 'also show revoked keys');
  listsRows(
    list,
    KEYS,
    columns({
      id: 'id',
      name: 'name',
      role: 'role',
      team: 'team',
      prefix: 'prefix',
      status: 'status',
      expires: 'expiresAt',
      'last used': 'lastUsedAt',
    }),
  );

  const get = subcommand(apikey, 'get', 'Show one API key (not its secret)', [
    `steward apikey get ${EXAMPLE_ID}`,
  ]);
  getsRecord(idArgument(get, 'apikey'), KEYS);

  const revoke = subcommand(apikey, 'revoke', 'Revoke an API key, at once', [
    `steward apikey revoke ${EXAMPLE_ID}`,
  ]);
  showsRecord(idArgument(revoke, 'apikey'), (args) => ({
    method: 'DELETE',
    path: item(KEYS, args),
  }));
}

/** `steward whoami`: which key the CLI is using, its role and team. */
export function registerWhoami(program: Command): void {
  const whoami = subcommand(
    program,
    'whoami',
    'Show the key in STEWARD_ADMIN_KEY: its reference, role and team',
    ['steward whoami', 'STEWARD_ADMIN_KEY=stw_key_… steward whoami --json'],
  );
  showsRecord(whoami, () => ({ method: 'GET', path: '/v1/whoami' }));
}
