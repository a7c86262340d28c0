import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  JOIN_TOKEN_DEFAULT_TTL_SECONDS,
  type FederationService,
  type JoinTokenService,
} from '../../attestation/index.js';
import type { Keyring } from '../../signing/index.js';
import { changeContext } from '../plugins/authentication.js';
import { JoinTokenResource, SigningKeyResource, TrustRuleResource } from '../resources.js';
import {
  CreateJoinTokenRequest,
  CreateTrustRuleRequest,
  ReasonRequest,
  RotateKeyRequest,
} from '../requests.js';
import { ERROR_RESPONSES, IdParams, NameParams, Strict } from '../schemas.js';

/** Attestation and signing: join tokens, federation trust rules, signing keys. */
export const credentialRoutes: FastifyPluginAsyncTypebox<{
  readonly joinTokens: JoinTokenService;
  readonly federation: FederationService;
  readonly keyring: Keyring;
}> = async (app, { joinTokens, federation, keyring }) => {
  app.post(
    '/v1/identities/:id/join-tokens',
    {
      config: { roles: ['admin', 'owner'] },
      schema: {
        tags: ['attestation'],
        summary: 'Create a single-use join token for an identity (owners: their own team)',
        params: IdParams,
        body: Type.Optional(CreateJoinTokenRequest),
        response: { 201: JoinTokenResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const ttl = request.body?.ttlSeconds ?? JOIN_TOKEN_DEFAULT_TTL_SECONDS;
      return reply
        .code(201)
        .send(await joinTokens.create(changeContext(request), request.params.id, ttl));
    },
  );

  const trustTags = ['federation'];
  app.post(
    '/v1/federation/trusts',
    {
      config: { roles: ['admin', 'security'] },
      schema: {
        tags: trustTags,
        summary: 'TrustRuleResource tokens from an external OIDC issuer for one identity',
        body: CreateTrustRuleRequest,
        response: { 201: TrustRuleResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await federation.create(changeContext(request), request.body)),
  );

  app.get(
    '/v1/federation/trusts',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags: trustTags,
        summary: 'List trust rules',
        response: {
          200: Type.Object({ items: Type.Array(TrustRuleResource) }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async () => ({ items: await federation.list() }),
  );

  app.get(
    '/v1/federation/trusts/:name',
    {
      config: { roles: ['admin', 'security', 'auditor', 'owner'] },
      schema: {
        tags: trustTags,
        summary: 'Get a trust rule',
        params: NameParams,
        response: { 200: TrustRuleResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => federation.get(request.params.name),
  );

  app.delete(
    '/v1/federation/trusts/:name',
    {
      config: { roles: ['admin', 'security'] },
      schema: {
        tags: trustTags,
        summary: 'Remove a trust rule',
        params: NameParams,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await federation.remove(changeContext(request), request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/keys',
    {
      config: { roles: ['admin', 'security', 'auditor'] },
      schema: {
        tags: ['keys'],
        summary: 'Signing keys and their schedule (never the private halves)',
        response: {
          200: Type.Object({ items: Type.Array(SigningKeyResource) }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async () => ({ items: keyring.list() }),
  );

  app.post(
    '/v1/keys/rotate',
    {
      config: { roles: ['admin', 'security'] },
      schema: {
        tags: ['keys'],
        summary: 'Rotate the signing key now',
        body: Type.Optional(RotateKeyRequest),
        response: { 201: SigningKeyResource, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) =>
      reply.code(201).send(
        await keyring.rotate(changeContext(request), {
          immediate: request.body?.immediate ?? false,
        }),
      ),
  );

  app.post(
    '/v1/keys/:kid/withdraw',
    {
      config: { roles: ['admin', 'security'] },
      schema: {
        tags: ['keys'],
        summary: 'Withdraw a compromised signing key: its tokens are refused at once',
        params: Strict({
          kid: Type.String({
            pattern: '^[A-Za-z0-9_-]{43}$',
            description: 'The key id (a JWK thumbprint).',
          }),
        }),
        body: ReasonRequest,
        response: { 200: SigningKeyResource, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      keyring.withdraw(changeContext(request), request.params.kid, request.body.reason),
  );
};
