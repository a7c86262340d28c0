import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  createEgressAgent,
  egressGuardedFetch,
  httpGatewayRoutes,
  mcpGatewayRoutes,
} from '../gateway/index.js';
import type { Core } from '../server/core.js';
import { authenticationPlugin, type RouteRoles } from './plugins/authentication.js';
import { metricsPlugin } from './plugins/metrics.js';
import { problemPlugin, sendFrameworkError } from './plugins/problem.js';
import { clientRequestId, newRequestId, requestIdPlugin } from './plugins/request-id.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { auditRoutes } from './routes/audit.js';
import { credentialRoutes } from './routes/credentials.js';
import { oauthRoutes } from './routes/oauth.js';
import { revocationRoutes } from './routes/revocations.js';
import { taskRoutes } from './routes/tasks.js';
import { healthRoutes } from './routes/health.js';
import { identityRoutes } from './routes/identities.js';
import { peopleRoutes } from './routes/people.js';
import { policyRoutes } from './routes/policies.js';
import { serviceRoutes } from './routes/services.js';
import { teamRoutes } from './routes/teams.js';
import { secretRoutes } from './routes/secrets.js';
import { upstreamRoutes } from './routes/upstreams.js';
import { toolPinRoutes } from './routes/tool-pins.js';
import { Problem } from './schemas.js';
import { validatorCompiler } from './validation.js';

export interface HttpAppOptions {
  readonly core: Core;
  readonly logger: FastifyBaseLogger;
  /** Process-level metrics (CPU, memory, event loop); off in tests that build many apps. */
  readonly processMetrics?: boolean;
}

/** The largest JSON body the admin API accepts. Nothing it takes comes near this. */
const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Builds the HTTP application: plugins for cross-cutting concerns, then thin routes over `core`.
 * Returns it ready but not listening, so tests can `inject()` and `up` can `listen()`.
 */
export async function buildHttpApp(
  options: HttpAppOptions,
): Promise<{ app: FastifyInstance; routeRoles: RouteRoles[] }> {
  const { core } = options;
  const routeRoles: RouteRoles[] = [];
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: newRequestId,
    // Every log line of a request names the caller's own id too, when it sent a usable one.
    childLoggerFactory(logger, bindings, options, rawRequest) {
      const client = clientRequestId(rawRequest.headers);
      return logger.child(
        client === undefined ? bindings : { ...bindings, clientRequestId: client },
        options,
      );
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors: sendFrameworkError,
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  // JSON only (the OAuth routes add their form parser): a text/plain body is a 415, not a
  // string that fails validation further on.
  app.removeContentTypeParser('text/plain');
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Steward',
        version: '0.1.0',
        description: "Control plane for AI agents' non-human identities.",
      },
      servers: [{ url: core.issuer }],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An admin API key (stw_key_…).' },
        },
      },
      security: [{ apiKey: [] }],
    },
  });
  app.addSchema(Problem);
  await app.register(requestIdPlugin);
  await app.register(problemPlugin);
  // Authentication first, so that its route list (the role matrix) sees every route after it.
  await app.register(authenticationPlugin, {
    apiKeys: core.apiKeys,
    verifier: core.verifier,
    routeRoles,
  });
  await app.register(metricsPlugin, {
    processMetrics: options.processMetrics ?? false,
    replicationFailures: () => core.replication.failures(),
  });

  for (const routes of [
    healthRoutes,
    teamRoutes,
    peopleRoutes,
    serviceRoutes,
    identityRoutes,
    apiKeyRoutes,
    auditRoutes,
    oauthRoutes,
    credentialRoutes,
    taskRoutes,
    revocationRoutes,
    policyRoutes,
    secretRoutes,
    upstreamRoutes,
    toolPinRoutes,
  ]) {
    await app.register(routes, { core });
  }
  // Connections of the MCP gateway's upstream leg, checked by the egress guard as they are made.
  const mcpEgress = createEgressAgent({ egress: (url) => core.upstreams.checkEgress(url) });
  // The MCP gateway: no API keys; the bearer is an access token for the upstream, verified at
  // the edge (for the MCP 401 discovery) and by the enforcement core for every method.
  await app.register(mcpGatewayRoutes, {
    issuer: core.issuer,
    enforcement: core.gateway,
    toolPins: core.toolPins,
    clock: core.clock,
    fetch: egressGuardedFetch((url) => core.upstreams.checkEgress(url), mcpEgress),
    onClosed: () => mcpEgress.close(),
    db: core.store.db,
    notifications: core.store.notifications,
  });
  // The HTTP gateway: no API keys either; the enforcement core authenticates every call.
  await app.register(httpGatewayRoutes, {
    gateway: core.gateway,
    checkEgress: (url) => core.upstreams.checkEgress(url),
  });
  await app.ready();
  return { app, routeRoles };
}
