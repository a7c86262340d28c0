import type { Command } from 'commander';
import { printList } from '../context.js';
import { columns, send, showsRecord, subcommand, type Row } from '../verbs.js';

/** `steward key list|rotate`: the keys that sign access tokens (only their public halves shown). */
export function registerKey(program: Command): void {
  const key = subcommand(
    program,
    'key',
    'Signing keys: Steward rotates them on a schedule; rotate by hand after a suspected compromise',
    ['steward key list', 'steward key rotate', 'steward key rotate --immediate'],
  );

  const list = subcommand(
    key,
    'list',
    'List signing keys and their schedule, never their private halves (admin, security, auditor)',
    ['steward key list', 'steward key list --json'],
  );
  const keyColumns = columns({
    kid: 'kid',
    alg: 'alg',
    state: 'state',
    activates: 'activatesAt',
    retires: 'retiresAt',
    unpublishes: 'unpublishesAt',
  });
  // Not listsRows: the endpoint answers every key at once, so --limit and --cursor would lie.
  list.action(async () => {
    const keys = await send<{ items: Row[] }>(list, { method: 'GET', path: '/v1/keys' });
    printList(list, keys, keyColumns);
  });

  const rotate = subcommand(
    key,
    'rotate',
    'Rotate the signing key now (admin, security): the new key is published before it signs',
    [
      '# the new key signs after the lead time, once verifiers have fetched it:',
      'steward key rotate',
      '# after a compromise: sign with the new key at once (verifiers with a stale JWKS refetch)',
      'steward key rotate --immediate',
    ],
  ).option('--immediate', 'sign with the new key at once instead of after the lead time');
  showsRecord(rotate, (_args, flags) => ({
    method: 'POST',
    path: '/v1/keys/rotate',
    body: { immediate: flags['immediate'] === true },
  }));
}
