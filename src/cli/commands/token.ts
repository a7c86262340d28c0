import { Option, type Command } from 'commander';
import { MAX_TOKEN_TTL_SECONDS } from '../../registry/vocabulary.js';
// The claims module itself rather than the tokens index, which would load the store and the
// signing code into every CLI run; it declares constants only.
import {
  ACCESS_TOKEN_TYPE,
  JOIN_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT,
} from '../../tokens/claims.js';
import { adminKey, printRecord, UsageError, type OutputOptions } from '../context.js';
import { id, integer, name } from '../flags.js';
import { postForm } from '../oauth.js';
import { readToken, tokenOptions, tokenSource, type TokenInput } from '../token-input.js';
import { columns, listsRows, subcommand } from '../verbs.js';

const EXAMPLE_TASK = '3c9d2e1f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const EXAMPLE_IDENTITY = '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a';

/** Short names for RFC 8693 token types, as a person types them. */
const SUBJECT_TYPES = {
  'join-token': JOIN_TOKEN_TYPE,
  jwt: JWT_TOKEN_TYPE,
  'access-token': ACCESS_TOKEN_TYPE,
} as const;
type SubjectType = keyof typeof SUBJECT_TYPES;

const SUBJECT: TokenInput = { flag: 'subject-token', what: 'the token to exchange' };
const ACTOR: TokenInput = {
  flag: 'actor-token',
  what: 'the Steward access token of whoever delegates (RFC 8693 act)',
};
const TOKEN: TokenInput = { flag: 'token', what: 'the access token' };

const HISTORY_WARNING =
  '\nA token given as a flag ends up in shell history and in `ps`: prefer --…-file or - (stdin).';

/**
 * The type of a subject token when none is given: Steward's join tokens have a prefix, and its
 * access tokens say `typ: at+jwt` in their header; any other JWT is a platform's (federation).
 */
export function inferSubjectType(token: string): SubjectType {
  if (token.startsWith('stw_join_')) return 'join-token';
  try {
    const header: unknown = JSON.parse(
      Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'),
    );
    if (header !== null && typeof header === 'object' && 'typ' in header) {
      if (String(header.typ).toLowerCase() === 'at+jwt') return 'access-token';
    }
  } catch {
    // Not a JWT at all: let the server say so, with its own error.
  }
  return 'jwt';
}

/** Unix times in introspection claims, made readable for a person; `--json` keeps them raw. */
function readableTimes(claims: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...claims };
  for (const claim of ['exp', 'iat', 'nbf']) {
    const value = shown[claim];
    if (typeof value === 'number') shown[claim] = new Date(value * 1000).toISOString();
  }
  return shown;
}

/** `steward token exchange|introspect|revoke|list`: access tokens, from the OAuth endpoints. */
export function registerToken(program: Command): void {
  const token = subcommand(
    program,
    'token',
    'Access tokens: exchange proof of identity for one, inspect it, revoke it, list what was issued',
    [
      'TOKEN=$(steward token exchange --subject-token-file ./join.token)',
      'steward token introspect --token-file ./access.token',
      'steward token list --identity ' + EXAMPLE_IDENTITY,
    ],
  );

  const widest = Math.max(...Object.values(MAX_TOKEN_TTL_SECONDS));
  const exchange = subcommand(
    token,
    'exchange',
    'Exchange a join token, a platform JWT or a Steward token for an access token (RFC 8693); prints the access token alone',
    [
      '# a join token from `steward identity join-token`:',
      'TOKEN=$(steward token exchange --subject-token-file ./join.token)',
      '# a Kubernetes projected service-account token (federation), for an upstream, for a task:',
      'steward token exchange --subject-token-file /var/run/secrets/tokens/steward \\',
      `    --audience crm --task ${EXAMPLE_TASK}`,
      '# renew from stdin, with the full response:',
      'printenv TOKEN | steward token exchange --subject-token - --json',
    ],
  );
  tokenOptions(exchange, SUBJECT)
    .addOption(
      new Option(
        '--subject-token-type <type>',
        'what the subject token is (default: from its form: stw_join_… is a join token, a JWT with typ at+jwt a Steward token, any other JWT a platform token)',
      ).choices(Object.keys(SUBJECT_TYPES)),
    )
    .option('--audience <audience>', 'who the token is for: steward (default) or an upstream')
    .option('--task <id>', 'bind the token to this open task', id('--task', 'steward task list'))
    .option(
      '--expires-in <seconds>',
      `ask for a shorter life (30-${widest}; default 300, capped by the identity)`,
      integer('--expires-in', 30, widest),
    );
  tokenOptions(exchange, ACTOR).addHelpText('after', HISTORY_WARNING);
  exchange.action(async () => {
    const flags = exchange.opts<{
      subjectTokenType?: SubjectType;
      audience?: string;
      task?: string;
      expiresIn?: number;
    }>();
    // Every source is settled before anything is read, and anything read before it is sent.
    const subjectSource = tokenSource(exchange, SUBJECT, true);
    const actorSource = tokenSource(exchange, ACTOR, false);
    if (subjectSource.kind === 'stdin' && actorSource?.kind === 'stdin') {
      throw new UsageError('only one token can come from stdin: give the other as a file');
    }
    if (flags.audience === '') throw new UsageError('--audience must not be empty');
    const subject = await readToken(SUBJECT, subjectSource);
    const actor = actorSource === undefined ? undefined : await readToken(ACTOR, actorSource);
    const answer = await postForm<{ access_token: string }>(exchange, '/oauth2/token', {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subject,
      subject_token_type: SUBJECT_TYPES[flags.subjectTokenType ?? inferSubjectType(subject)],
      audience: flags.audience,
      task: flags.task,
      expires_in: flags.expiresIn === undefined ? undefined : String(flags.expiresIn),
      actor_token: actor,
      actor_token_type: actor === undefined ? undefined : ACCESS_TOKEN_TYPE,
    });
    // The token alone, so that `TOKEN=$(steward token exchange …)` is all a script needs.
    process.stdout.write(
      exchange.optsWithGlobals<OutputOptions>().json
        ? `${JSON.stringify(answer, null, 2)}\n`
        : `${answer.access_token}\n`,
    );
  });

  const introspect = subcommand(
    token,
    'introspect',
    'Show whether an access token is active and its claims (RFC 7662; admin, security, auditor)',
    [
      'steward token introspect --token-file ./access.token',
      'printenv TOKEN | steward token introspect --token - --json | jq .active',
    ],
  );
  tokenOptions(introspect, TOKEN).addHelpText('after', HISTORY_WARNING);
  introspect.action(async () => {
    const credential = adminKey();
    const source = tokenSource(introspect, TOKEN, true);
    const claims = await postForm<Record<string, unknown>>(
      introspect,
      '/oauth2/introspect',
      { token: await readToken(TOKEN, source) },
      credential,
    );
    printRecord(
      introspect,
      introspect.optsWithGlobals<OutputOptions>().json ? claims : readableTimes(claims),
    );
  });

  const revoke = subcommand(
    token,
    'revoke',
    'Revoke an access token you hold (RFC 7009); operators revoke by id with `steward revoke`',
    [
      'steward token revoke --token-file ./access.token',
      'printenv TOKEN | steward token revoke --token -',
    ],
  );
  tokenOptions(revoke, TOKEN).addHelpText('after', HISTORY_WARNING);
  revoke.action(async () => {
    const source = tokenSource(revoke, TOKEN, true);
    const answer = await postForm<object>(revoke, '/oauth2/revoke', {
      token: await readToken(TOKEN, source),
    });
    process.stdout.write(
      revoke.optsWithGlobals<OutputOptions>().json
        ? `${JSON.stringify(answer)}\n`
        : // RFC 7009 §2.2: the answer is the same for an unknown or already dead token.
          'revoked: Steward accepts it no more (the answer is the same for a token it never issued)\n',
    );
  });

  const list = subcommand(
    token,
    'list',
    'List issued tokens, newest first: metadata only, never the tokens',
    [
      'steward token list',
      `steward token list --identity ${EXAMPLE_IDENTITY} --json`,
      `steward token list --task ${EXAMPLE_TASK}`,
    ],
  )
    .option('--identity <id>', 'only this identity', id('--identity', 'steward identity list'))
    .option('--task <id>', 'only this task', id('--task', 'steward task list'))
    .option(
      '--session <id>',
      'only this session (the jti of its first token)',
      id('--session', 'steward token list'),
    )
    .option('--service <name>', 'only this service', name('--service'));
  listsRows(
    list,
    '/v1/tokens',
    columns({
      jti: 'jti',
      'spiffe id': 'spiffeId',
      audience: 'audience',
      task: 'task',
      attestation: 'attestation',
      issued: 'issuedAt',
      expires: 'expiresAt',
      status: 'status',
    }),
  );
}
