import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiKeyService } from '../../access/index.js';
import type { Actor, ChangeContext, Role } from '../../actors/index.js';
import { forbidden, StewardError } from '../../errors/index.js';
import { STEWARD_AUDIENCE, TokenError, type TokenVerifier } from '../../tokens/index.js';
import { sendProblem } from './problem.js';
import { bearerCredential } from '../../shared/bearer.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The roles that may call this route. Every `/v1` route must declare it; a route without it
     * fails at start-up rather than being open by accident.
     */
    roles?: readonly Role[];
    /**
     * Workloads may call this route with an access token issued for Steward itself (audience
     * `steward`); the handler sees `actor.role === 'workload'` and must scope to its identity.
     */
    workload?: boolean;
  }
  interface FastifyRequest {
    /** The authenticated caller; set on every route that declares `roles`. */
    actor: Actor;
  }
}

/** Every registered route and the roles it allows: the role matrix, for docs and tests. */
export interface RouteRoles {
  readonly method: string;
  readonly url: string;
  readonly roles: readonly Role[] | undefined;
  readonly workload: boolean;
}

/**
 * API-key authentication and role checks. Runs before body parsing and validation, so an
 * unauthenticated caller learns nothing about a route but that it needs a key.
 */
export const authenticationPlugin = fp(
  async (
    app: FastifyInstance,
    options: { apiKeys: ApiKeyService; verifier: TokenVerifier; routeRoles: RouteRoles[] },
  ) => {
    app.decorateRequest('actor', null as unknown as Actor);

    app.addHook('onRoute', (route) => {
      const roles = route.config?.roles;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        if (method === 'HEAD') continue;
        options.routeRoles.push({
          method,
          url: route.url,
          roles,
          workload: route.config?.workload === true,
        });
      }
      if (route.url.startsWith('/v1/') && roles === undefined) {
        throw new Error(
          `route ${route.url} declares no roles: every /v1 route must (deny by default)`,
        );
      }
    });

    app.addHook('onRequest', async (request, reply) => {
      const roles = request.routeOptions.config.roles;
      if (roles === undefined) return;
      const token = bearerCredential(request.headers.authorization);
      const workload = request.routeOptions.config.workload === true;
      const actor =
        token === undefined
          ? undefined
          : workload && isJwt(token)
            ? workloadActor(options.verifier, token)
            : await options.apiKeys.authenticate(token);
      if (actor === undefined) {
        return sendProblem(
          request,
          reply,
          new StewardError(
            'unauthenticated',
            workload
              ? 'Send a valid API key or access token as "Authorization: Bearer <credential>".'
              : 'Send a valid API key as "Authorization: Bearer <key>".',
          ),
        );
      }
      if (actor.role !== 'workload' && !roles.includes(actor.role as Role)) {
        return sendProblem(
          request,
          reply,
          forbidden(`The ${actor.role} role may not call this endpoint.`),
        );
      }
      request.actor = actor;
      return undefined;
    });
  },
  { name: 'authentication', dependencies: ['problem'] },
);

/** API keys never contain dots; a JWT has exactly two. */
function isJwt(token: string): boolean {
  return token.split('.').length === 3;
}

/** The workload behind a Steward access token issued for Steward's own API, if it is valid. */
function workloadActor(verifier: TokenVerifier, token: string): Actor | undefined {
  try {
    const { claims } = verifier.verify(token, STEWARD_AUDIENCE);
    return { ref: `workload:${claims.client_id}`, role: 'workload', identityId: claims.client_id };
  } catch (error) {
    if (error instanceof TokenError) return undefined;
    throw error;
  }
}

/** The change context of a request: who, and which request (ours, and the caller's), for the trail. */
export function changeContext(request: FastifyRequest): ChangeContext {
  return {
    actor: request.actor,
    requestId: request.id,
    ...(request.clientRequestId === undefined ? {} : { clientRequestId: request.clientRequestId }),
  };
}
