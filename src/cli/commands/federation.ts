import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { printDone, printList, printRecord, UsageError } from '../context.js';
import { httpUrl, id } from '../flags.js';
import { columns, getsRecord, item, nameArgument, send, subcommand, type Row } from '../verbs.js';

const TRUSTS = '/v1/federation/trusts';
const EXAMPLE_IDENTITY = '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a';
/** A key set worth pasting is a few kilobytes; the API takes at most 20 keys. */
const MAX_JWKS_BYTES = 64 * 1024;

/** `--condition claim=value`, repeatable, collected into the API's `conditions` object. */
function condition(value: string, previous: Record<string, string> | undefined) {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1) {
    throw new UsageError(
      `--condition must be claim=value (e.g. sub=system:serviceaccount:payments:refund), not ${JSON.stringify(value)}`,
    );
  }
  const claim = value.slice(0, at);
  if (previous?.[claim] !== undefined) {
    throw new UsageError(`--condition: ${claim} is given twice; one value per claim`);
  }
  return { ...previous, [claim]: value.slice(at + 1) };
}

/**
 * Reads an inline JWKS (public keys only) and checks its shape before it is sent: a key set the
 * API would refuse, or a private key pasted by mistake, never leaves the machine.
 */
async function readJwks(path: string): Promise<{ keys: Record<string, unknown>[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`--jwks-file: cannot read ${JSON.stringify(path)} (${code})`);
  }
  if (text.length > MAX_JWKS_BYTES) throw new UsageError('--jwks-file: larger than 64 KiB');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('--jwks-file: not JSON');
  }
  const keys =
    parsed !== null && typeof parsed === 'object' && 'keys' in parsed ? parsed.keys : undefined;
  if (
    !Array.isArray(keys) ||
    keys.length === 0 ||
    !keys.every((key) => key !== null && typeof key === 'object' && !Array.isArray(key))
  ) {
    throw new UsageError(
      '--jwks-file: must be a JWKS, {"keys": [ {…}, … ]}, with at least one key',
    );
  }
  const jwks = keys as Record<string, unknown>[];
  // `d` is the private part of an RSA, EC or OKP key, `k` a symmetric secret: neither belongs
  // with the issuer's public keys, nor on Steward's disk.
  if (jwks.some((key) => 'd' in key || 'k' in key)) {
    throw new UsageError(
      '--jwks-file: holds a private or symmetric key; give the issuer public keys only',
    );
  }
  return { keys: jwks };
}

/** `steward federation trust add|list|get|remove`: external OIDC issuers trusted for an identity. */
export function registerFederation(program: Command): void {
  const federation = subcommand(
    program,
    'federation',
    'Federation: let workloads exchange a platform OIDC token (Kubernetes, CI) for a Steward token',
    [
      'steward federation trust add k8s-refund --issuer https://oidc.eks.example.com/id/ABC \\',
      `    --audience steward --condition sub=system:serviceaccount:payments:refund --identity ${EXAMPLE_IDENTITY}`,
      'steward federation trust list',
    ],
  );
  const trust = subcommand(
    federation,
    'trust',
    'Trust rules: an external issuer, an audience and claim conditions, mapped to one identity',
    ['steward federation trust list', 'steward federation trust remove k8s-refund'],
  );

  const add = subcommand(
    trust,
    'add',
    "Trust an issuer's tokens for one identity (admin, security)",
    [
      '# keys found through the issuer (OIDC discovery):',
      'steward federation trust add k8s-refund --issuer https://oidc.eks.example.com/id/ABC \\',
      '    --audience steward --condition sub=system:serviceaccount:payments:refund \\',
      `    --identity ${EXAMPLE_IDENTITY}`,
      '# a CI issuer, one repository, any branch; or keys pasted from a file:',
      'steward federation trust add ci-deploy --issuer https://token.actions.githubusercontent.com \\',
      '    --audience steward --condition "repository=acme/refund-agent" \\',
      `    --condition "ref=refs/heads/*" --identity ${EXAMPLE_IDENTITY} --jwks-file ./ci-jwks.json`,
    ],
  )
    .requiredOption('--issuer <url>', 'the iss its tokens carry', httpUrl('--issuer'))
    .option(
      '--jwks-uri <url>',
      'where its public keys are (default: from its OIDC discovery document)',
      httpUrl('--jwks-uri'),
    )
    .option('--jwks-file <path>', 'its public keys, inline: a JWKS JSON file (no fetching)')
    .requiredOption('--audience <audience>', 'the aud its tokens must carry for Steward')
    .requiredOption(
      '--condition <claim=value>',
      'a claim its tokens must carry (repeatable; "*" matches any run of characters; a/b for a nested claim)',
      condition,
    )
    .requiredOption(
      '--identity <id>',
      'the identity a matching token stands for',
      id('--identity', 'steward identity list'),
    );
  nameArgument(add, 'trust').action(async () => {
    const { jwksFile, ...flags } = add.opts<{ jwksFile?: string } & Record<string, unknown>>();
    if (jwksFile !== undefined && flags['jwksUri'] !== undefined) {
      throw new UsageError('give --jwks-uri or --jwks-file, not both');
    }
    const { condition: conditions, ...rest } = flags;
    const body = {
      name: add.args[0],
      ...rest,
      conditions,
      ...(jwksFile === undefined ? {} : { jwks: await readJwks(jwksFile) }),
    };
    printRecord(add, await send(add, { method: 'POST', path: TRUSTS, body }));
  });

  const list = subcommand(trust, 'list', 'List trust rules', [
    'steward federation trust list',
    'steward federation trust list --json',
  ]);
  // Not listsRows: the endpoint answers every rule at once, so --limit and --cursor would lie.
  const trustColumns = columns({
    name: 'name',
    issuer: 'issuer',
    audience: 'audience',
    keys: (row: Row) => row['jwksUri'] ?? (row['jwks'] ? 'inline' : 'discovery'),
    conditions: 'conditions',
    identity: 'identity',
  });
  list.action(async () => {
    printList(
      list,
      await send<{ items: Row[] }>(list, { method: 'GET', path: TRUSTS }),
      trustColumns,
    );
  });

  const get = subcommand(trust, 'get', 'Show one trust rule', [
    'steward federation trust get k8s-refund',
  ]);
  getsRecord(nameArgument(get, 'trust'), TRUSTS);

  const remove = subcommand(
    trust,
    'remove',
    'Remove a trust rule: its tokens are exchanged no more (admin, security)',
    ['steward federation trust remove k8s-refund'],
  );
  nameArgument(remove, 'trust').action(async () => {
    await send(remove, { method: 'DELETE', path: item(TRUSTS, remove.args) });
    printDone(remove, `removed trust ${remove.args[0] ?? ''}`);
  });
}
