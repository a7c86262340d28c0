import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Actor, ApiKeyService, ChangeContext, Role } from '../../access/index.js';
import { forbidden, StewardError } from '../../errors/index.js';
import { sendProblem } from './problem.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The roles that may call this route. Every `/v1` route must declare it; a route without it
     * fails at start-up rather than being open by accident.
     */
    roles?: readonly Role[];
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
}

/**
 * API-key authentication and role checks. Runs before body parsing and validation, so an
 * unauthenticated caller learns nothing about a route but that it needs a key.
 */
export const authenticationPlugin = fp(
  async (app: FastifyInstance, options: { apiKeys: ApiKeyService; routeRoles: RouteRoles[] }) => {
    app.decorateRequest('actor', null as unknown as Actor);

    app.addHook('onRoute', (route) => {
      const roles = route.config?.roles;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        if (method === 'HEAD') continue;
        options.routeRoles.push({ method, url: route.url, roles });
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
      const token = bearerToken(request);
      const actor = token === undefined ? undefined : await options.apiKeys.authenticate(token);
      if (actor === undefined) {
        return sendProblem(
          request,
          reply,
          new StewardError(
            'unauthenticated',
            'Send a valid API key as "Authorization: Bearer <key>".',
          ),
        );
      }
      if (!roles.includes(actor.role as Role)) {
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

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim());
  return match?.[1];
}

/** The change context of a request: who, and which request, for the trail. */
export function changeContext(request: FastifyRequest): ChangeContext {
  return { actor: request.actor, requestId: request.id };
}
