import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ApiKeyService } from '../access/index.js';
import type { FederationService, JoinTokenService } from '../attestation/index.js';
import {
  createEgressAgent,
  egressGuardedFetch,
  httpGatewayRoutes,
  mcpGatewayRoutes,
  type EnforcementCore,
} from '../gateway/index.js';
import type { PolicyService } from '../policy/index.js';
import type {
  IdentityService,
  PersonService,
  ServiceService,
  TeamService,
} from '../registry/index.js';
import type { SecretService } from '../secrets/index.js';
import type { Clock } from '../shared/clock.js';
import type { Keyring } from '../signing/index.js';
import type { ReplicationFailureCounts, Store } from '../store/index.js';
import type { TaskService } from '../tasks/index.js';
import type { Inventory, Revoker, TokenExchange, TokenVerifier } from '../tokens/index.js';
import type { ToolPinService } from '../toolpins/index.js';
import type { EgressAllowlist, UpstreamService } from '../upstreams/index.js';
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
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
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

/**
 * The services the HTTP app serves: those its route plugins and both gateways call. The
 * composition root's `Core` is one; `http/` names what it uses rather than importing it.
 */
export interface HttpServices {
  readonly issuer: string;
  readonly clock: Clock;
  readonly store: Pick<Store, 'db' | 'dialect' | 'notifications'>;
  readonly readiness: ReadinessCheck;
  /** What kept this replica's caches from following the others, for `/metrics`. */
  readonly replication: { failures(): ReplicationFailureCounts };
  readonly apiKeys: ApiKeyService;
  readonly verifier: TokenVerifier;
  readonly teams: TeamService;
  readonly people: PersonService;
  readonly services: ServiceService;
  readonly identities: IdentityService;
  readonly keyring: Keyring;
  readonly joinTokens: JoinTokenService;
  readonly federation: FederationService;
  readonly exchange: TokenExchange;
  readonly revoker: Revoker;
  readonly inventory: Inventory;
  readonly tasks: TaskService;
  readonly policies: PolicyService;
  readonly secrets: SecretService;
  readonly upstreams: UpstreamService;
  readonly egress: EgressAllowlist;
  readonly toolPins: ToolPinService;
  /** The enforcement core both gateways call. */
  readonly gateway: EnforcementCore;
}

export interface HttpAppOptions {
  readonly core: HttpServices;
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

  // Each resource's routes get only the services they call.
  await app.register(healthRoutes, { readiness: core.readiness, dialect: core.store.dialect });
  await app.register(teamRoutes, { teams: core.teams });
  await app.register(peopleRoutes, { people: core.people });
  await app.register(serviceRoutes, { services: core.services });
  await app.register(identityRoutes, { identities: core.identities });
  await app.register(apiKeyRoutes, { apiKeys: core.apiKeys });
  await app.register(auditRoutes, { db: core.store.db });
  await app.register(oauthRoutes, {
    issuer: core.issuer,
    exchange: core.exchange,
    revoker: core.revoker,
    keyring: core.keyring,
  });
  await app.register(credentialRoutes, {
    joinTokens: core.joinTokens,
    federation: core.federation,
    keyring: core.keyring,
  });
  await app.register(taskRoutes, { tasks: core.tasks });
  await app.register(revocationRoutes, { revoker: core.revoker, inventory: core.inventory });
  await app.register(policyRoutes, { policies: core.policies });
  await app.register(secretRoutes, { secrets: core.secrets });
  await app.register(upstreamRoutes, { upstreams: core.upstreams, egress: core.egress });
  await app.register(toolPinRoutes, { toolPins: core.toolPins });
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
