import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { FEDERATION_ALGORITHMS } from '../../attestation/index.js';
import { JWKS_MAX_AGE_SECONDS } from '../../config/index.js';
import { SIGNING_ALGORITHMS, type Keyring } from '../../signing/index.js';
import {
  ACCESS_TOKEN_TYPE,
  JOIN_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  OAuthError,
  TOKEN_EXCHANGE_GRANT,
  type Revoker,
  type TokenExchange,
} from '../../tokens/index.js';
import { TokenResponseResource } from '../resources.js';

/** Form bodies of the OAuth endpoints are small; nothing legitimate comes near this. */
const FORM_LIMIT_BYTES = 16 * 1024;

/**
 * The OAuth 2.0 endpoints (token exchange, introspection, revocation) and the metadata that
 * lets clients find them. They take `application/x-www-form-urlencoded` bodies and answer
 * RFC 6749 errors (`{"error", "error_description"}`), as OAuth clients expect.
 */
export const oauthRoutes: FastifyPluginAsyncTypebox<{
  readonly issuer: string;
  readonly exchange: TokenExchange;
  readonly revoker: Revoker;
  readonly keyring: Keyring;
}> = async (app, { issuer, exchange, revoker, keyring }) => {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES },
    (_request, body, done) => {
      const params = new URLSearchParams(body as string);
      // No prototype: a parameter named like an Object member (toString) is just an unknown one.
      const form = Object.create(null) as Record<string, string>;
      const seen = new Set<string>();
      for (const [name, value] of params) {
        // RFC 6749 §3.1: a parameter must not appear twice (an empty one included); an empty one
        // counts as absent.
        if (seen.has(name)) {
          done(new OAuthError('invalid_request', `${name} was sent more than once.`), undefined);
          return;
        }
        seen.add(name);
        if (value !== '') form[name] = value;
      }
      done(null, form);
    },
  );
  const tags = ['oauth'];

  function form(request: FastifyRequest): Record<string, string> {
    const body = request.body;
    // RFC 6749 takes form parameters; a JSON body of strings is tolerated, anything else is not.
    if (
      body === null ||
      typeof body !== 'object' ||
      Array.isArray(body) ||
      Object.values(body).some((value) => typeof value !== 'string')
    ) {
      throw new OAuthError(
        'invalid_request',
        'Send the parameters as application/x-www-form-urlencoded.',
      );
    }
    return body as Record<string, string>;
  }

  app.post(
    '/oauth2/token',
    {
      schema: {
        tags,
        summary:
          'Token exchange (RFC 8693): a join token, a platform JWT or a Steward token for an access token',
        description:
          'Form parameters: grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token, subject_token_type ' +
          `(${JOIN_TOKEN_TYPE} | ${JWT_TOKEN_TYPE} | ${ACCESS_TOKEN_TYPE}), audience or resource (default steward), ` +
          'task, expires_in, actor_token and actor_token_type (delegation). Answers RFC 6749 errors.',
        security: [],
        response: {
          200: TokenResponseResource,
        },
      },
    },
    async (request, reply) => {
      const response = await exchange(form(request), request.ip, request.id);
      // RFC 6749 §5.1: token responses must not be cached.
      return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(response);
    },
  );

  app.post(
    '/oauth2/introspect',
    {
      config: { roles: ['admin', 'security', 'auditor'] },
      schema: {
        tags,
        summary: 'Introspection (RFC 7662): is this token active, and what does it say',
        description: 'Form parameter: token. Needs an API key (admin, security or auditor).',
      },
    },
    async (request) => {
      const token = form(request)['token'];
      if (token === undefined) throw new OAuthError('invalid_request', 'token is required.');
      return revoker.introspect(token);
    },
  );

  app.post(
    '/oauth2/revoke',
    {
      schema: {
        tags,
        summary: 'Revocation (RFC 7009): the holder of a token revokes it',
        description:
          'Form parameters: token, token_type_hint (optional). Always 200, whatever the token.',
        security: [],
      },
    },
    async (request, reply) => {
      const token = form(request)['token'];
      if (token === undefined) throw new OAuthError('invalid_request', 'token is required.');
      await revoker.revokePresented(token);
      return reply.code(200).send({});
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: { tags, summary: 'The public keys that verify Steward access tokens', security: [] },
    },
    async (_request, reply) => {
      // Verifiers may cache this long; a new key is published at least this long before it signs.
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return keyring.jwks();
    },
  );

  app.get(
    '/.well-known/oauth-authorization-server',
    { schema: { tags, summary: 'Authorization server metadata (RFC 8414)', security: [] } },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return {
        issuer,
        token_endpoint: `${issuer}/oauth2/token`,
        introspection_endpoint: `${issuer}/oauth2/introspect`,
        revocation_endpoint: `${issuer}/oauth2/revoke`,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        grant_types_supported: [TOKEN_EXCHANGE_GRANT],
        token_endpoint_auth_methods_supported: ['none'],
        introspection_endpoint_auth_methods_supported: ['bearer'],
        revocation_endpoint_auth_methods_supported: ['none'],
        response_types_supported: [],
        access_token_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
        subject_token_types_supported: [JOIN_TOKEN_TYPE, JWT_TOKEN_TYPE, ACCESS_TOKEN_TYPE],
        federation_signing_alg_values_supported: FEDERATION_ALGORITHMS,
      };
    },
  );
};
