import { createApiKeyService, type ApiKeyService } from '../access/index.js';
import { SYSTEM_ACTOR } from '../actors/index.js';
import { DEFAULT_SIGNING } from '../config/index.js';
import {
  createFederationService,
  createJoinTokenService,
  type FederationService,
  type JoinTokenService,
} from '../attestation/index.js';
import { startJobs, type Scheduler } from '../jobs/index.js';
import {
  createIdentityService,
  createPersonService,
  createServiceService,
  createTeamNames,
  createTeamService,
  MAX_TOKEN_LIFETIME_MS,
  type IdentityService,
  type PersonService,
  type ServiceService,
  type TeamService,
} from '../registry/index.js';
import {
  createEnforcementCore,
  createOtlpTracer,
  noopTracer,
  type EnforcementCore,
  type GatewayTracer,
  type RateLimit,
} from '../gateway/index.js';
import { createPolicyService, type PolicyService } from '../policy/index.js';
import {
  createSecretService,
  rewrapMasterKey,
  type RewrapReport,
  type SecretService,
} from '../secrets/index.js';
import {
  createAudienceResolver,
  createEgressAllowlist,
  createUpstreamService,
  credentialUsers,
  type EgressAllowlist,
  type HostResolver,
  type UpstreamService,
} from '../upstreams/index.js';
import { createRevocationList, type RevocationList } from '../revocation/index.js';
import type { Clock } from '../shared/clock.js';
import { createKeyring, type Keyring, type SigningAlgorithm } from '../signing/index.js';
import {
  createReplication,
  type ReplicationFailure,
  type ReplicationFailureCounts,
  type Store,
} from '../store/index.js';
import { createReadiness, type Readiness } from './readiness.js';
import { createTaskService, type TaskService } from '../tasks/index.js';
import { createToolPinService, type ToolPinService } from '../toolpins/index.js';
import {
  createInventory,
  createMinter,
  createTokenIssuer,
  createRevoker,
  createTokenExchange,
  createTokenVerifier,
  revocationConcerns,
  type Inventory,
  type Revoker,
  type TokenExchange,
  type TokenVerifier,
} from '../tokens/index.js';

export interface CoreOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly trustDomain: string;
  /** Token issuer (`iss`) and the base of every URL Steward names. */
  readonly issuer: string;
  /** Wraps every private key and secret at rest. */
  readonly masterKey: Buffer;
  /**
   * The master key being rotated away from (`STEWARD_MASTER_KEY_PREVIOUS`): on start, everything
   * still sealed under it is re-sealed under `masterKey`.
   */
  readonly previousMasterKey?: Buffer | undefined;
  /** STEWARD_OTLP_ENDPOINT: where gateway spans go (OTLP/HTTP); none are made when unset. */
  readonly otlpEndpoint?: string | undefined;
  /** The gateway's default rate limits (`STEWARD_RATE_*`); the built-in defaults when unset. */
  readonly rateLimits?: {
    readonly perIdentity: RateLimit;
    readonly perIdentityUpstream: RateLimit;
    readonly perUpstream: RateLimit;
    /** Gateway requests without a valid token, per client address (`STEWARD_RATE_UNAUTHENTICATED`). */
    readonly unauthenticated?: RateLimit;
  };
  /** `STEWARD_GATEWAY_STORE_TIMEOUT_MS`: a gateway call's bound on its waits for the database. */
  readonly gatewayStoreTimeoutMs?: number;
  /** `STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS`, in ms: the window refusals are counted in. */
  readonly gatewayRefusalWindowMs?: number;
  /** `STEWARD_API_KEY_CACHE_SECONDS`, in ms: how long a verified API-key lookup is reused. */
  readonly apiKeyCacheMs?: number;
  /** Told what the gateway could not say to a caller (a failed outcome record, a failed revocation). */
  readonly onGatewayError?: (message: string, error: unknown) => void;
  /**
   * Told when a change this process made (a policy version, a registry change, a tool pin) was
   * stored but could not be announced on `channel`: the other replicas see it at their next poll.
   */
  readonly onAnnounceError?: (channel: string, error: unknown) => void;
  /** The egress guard's name resolver; `dns.lookup` by default. */
  readonly resolveHost?: HostResolver;
  readonly signing?: {
    readonly algorithm: SigningAlgorithm;
    readonly rotationSeconds: number;
    readonly leadSeconds: number;
  };
}

/**
 * The domain services of one Steward process, wired to one store and one clock. HTTP routes, the
 * bootstrap and the tests all go through this object; nothing here knows about HTTP.
 */
export interface Core {
  readonly store: Store;
  readonly clock: Clock;
  readonly trustDomain: string;
  readonly issuer: string;
  readonly apiKeys: ApiKeyService;
  readonly teams: TeamService;
  readonly people: PersonService;
  readonly services: ServiceService;
  readonly identities: IdentityService;
  readonly keyring: Keyring;
  readonly revocations: RevocationList;
  readonly verifier: TokenVerifier;
  readonly joinTokens: JoinTokenService;
  readonly federation: FederationService;
  readonly tasks: TaskService;
  readonly exchange: TokenExchange;
  readonly revoker: Revoker;
  readonly inventory: Inventory;
  /** Cedar policies: the versioned store and the decision point. */
  readonly policies: PolicyService;
  /** Upstream credentials, sealed at rest; `reveal` is the gateway's only way to a value. */
  readonly secrets: SecretService;
  /** The tools behind the gateway; `resolve` is the gateway's cached lookup. */
  readonly upstreams: UpstreamService;
  /** Addresses an admin allowed upstreams to reach despite the egress guard. */
  readonly egress: EgressAllowlist;
  /** MCP tool definitions pinned per upstream; the MCP gateway serves only accepted ones. */
  readonly toolPins: ToolPinService;
  /**
   * The enforcement core both gateways call: verify, decide, record durably, inject. `drain`
   * waits for records in flight (on shutdown).
   */
  readonly gateway: EnforcementCore & { drain(): Promise<void> };
  /** Gateway spans (a no-op without an OTLP endpoint). */
  readonly tracer: GatewayTracer;
  /** `/readyz`: reads, migrations and writes of the store. */
  readonly readiness: Readiness;
  /** What kept this replica's caches from following the others, counted for `/metrics`. */
  readonly replication: { failures(): ReplicationFailureCounts };
  /**
   * Fills every replicated cache (keys, revocations, policies, …) and subscribes it to other
   * replicas' changes, makes the first signing key if there is none, and starts the background
   * jobs. Call once, before serving.
   */
  start(options?: {
    jobs?: boolean;
    onJobError?: (job: string, error: unknown) => void;
    /**
     * Told of each failed cache refresh and each lost subscription to other replicas' changes
     * (they are counted whether or not anyone is told).
     */
    onReplicationError?: (failure: ReplicationFailure) => void;
    /** Told what the master-key re-wrap on start changed (nothing, without a previous key). */
    onRewrap?: (report: RewrapReport) => void;
  }): Promise<void>;
  stop(): Promise<void>;
}

export function createCore(options: CoreOptions): Core {
  const { store, clock, trustDomain, issuer, masterKey } = options;
  const signing = options.signing ?? DEFAULT_SIGNING;
  const db = store.db;
  const revocations = createRevocationList({ store, clock, concerning: revocationConcerns });
  const keyring = createKeyring({
    store,
    clock,
    masterKey,
    schedule: {
      algorithm: signing.algorithm,
      rotationMs: signing.rotationSeconds * 1000,
      leadTimeMs: signing.leadSeconds * 1000,
      maxTokenLifetimeMs: MAX_TOKEN_LIFETIME_MS,
    },
  });
  const verifier = createTokenVerifier({ keyring, revocations, clock, issuer });
  const joinTokens = createJoinTokenService({ db, clock });
  const federation = createFederationService({ db, clock });
  // Every revocation goes through the revoker, those inside another service's change too.
  const revoker = createRevoker({ db, clock, revocations, verifier });
  const tasks = createTaskService({ db, clock, revokeWithin: revoker.revokeWithin });
  // Team names for the rows of other folders that carry a team id (keys, secrets, upstreams).
  const teamNames = createTeamNames();
  const secrets = createSecretService({
    store,
    clock,
    masterKey,
    previousMasterKey: options.previousMasterKey,
    credentialUsers,
    teams: teamNames,
  });
  const egress = createEgressAllowlist({ store, clock });
  const upstreams = createUpstreamService({
    store,
    clock,
    allowlist: egress,
    teams: teamNames,
    ...(options.resolveHost ? { resolveHost: options.resolveHost } : {}),
  });
  const resolveAudience = createAudienceResolver({
    issuer,
    resolve: (name) => upstreams.resolve(name),
  });
  const minter = createMinter({ keyring, clock, issuer });
  const exchange = createTokenExchange({
    db,
    clock,
    joinTokens,
    federation,
    verifier,
    revoker,
    minter,
    issuer: createTokenIssuer({ db, minter }),
    resolveAudience,
  });
  // Counted for /metrics by the replication (built below, once every cache exists: nothing is
  // announced before), then told to whoever logs it.
  const onAnnounceFailed = (channel: string, error: unknown) => {
    replication.countAnnounceFailure(channel);
    options.onAnnounceError?.(channel, error);
  };
  const policies = createPolicyService({ store, clock, verifier, upstreams, onAnnounceFailed });
  const registryChanged = () => policies.registryChanged();
  const tracer = options.otlpEndpoint
    ? createOtlpTracer({ endpoint: options.otlpEndpoint })
    : noopTracer;
  const apiKeys = createApiKeyService({
    db,
    clock,
    teams: teamNames,
    notifications: store.notifications,
    cacheTtlMs: options.apiKeyCacheMs,
    onAnnounceFailed,
  });
  const gateway = createEnforcementCore({
    db,
    appendAuditEvents: (rows) => store.appendAuditEvents(rows),
    clock,
    issuer,
    verifier,
    policies,
    upstreams,
    secrets,
    revoker,
    apiKeys,
    joinTokens,
    tracer,
    ...(options.rateLimits ? { limits: options.rateLimits } : {}),
    ...(options.gatewayStoreTimeoutMs !== undefined
      ? { storeTimeoutMs: options.gatewayStoreTimeoutMs }
      : {}),
    ...(options.gatewayRefusalWindowMs !== undefined
      ? { refusalWindowMs: options.gatewayRefusalWindowMs }
      : {}),
    ...(options.onGatewayError ? { onError: options.onGatewayError } : {}),
  });
  const teams = createTeamService({ db, clock, onChange: registryChanged });
  const toolPins = createToolPinService({ store, clock, upstreams, teams, onAnnounceFailed });
  // The caches every replica keeps in step with the others.
  const replication = createReplication(store.notifications, [
    keyring.replication,
    revocations.replication,
    secrets.replication,
    upstreams.replication,
    ...policies.replication,
    toolPins.replication,
    apiKeys.replication,
  ]);
  let scheduler: Scheduler | undefined;

  return {
    store,
    clock,
    trustDomain,
    issuer,
    apiKeys,
    teams,
    people: createPersonService({ db, clock }),
    services: createServiceService({ db, clock, onChange: registryChanged }),
    identities: createIdentityService({
      db,
      clock,
      trustDomain,
      revokeWithin: revoker.revokeWithin,
      onChange: registryChanged,
    }),
    keyring,
    revocations,
    verifier,
    joinTokens,
    federation,
    tasks,
    exchange,
    revoker,
    inventory: createInventory({ db, clock, revocations }),
    policies,
    secrets,
    upstreams,
    egress,
    toolPins,
    gateway,
    tracer,
    readiness: createReadiness({ store, clock }),
    replication: { failures: () => replication.failures() },

    async start(startOptions = {}) {
      // Before anything opens a sealed value: after this, everything is under the current key.
      const rewrap = await rewrapMasterKey({
        store,
        clock,
        context: { actor: SYSTEM_ACTOR },
        current: masterKey,
        previous: options.previousMasterKey,
      });
      startOptions.onRewrap?.(rewrap);
      const jobs = startOptions.jobs !== false;
      // Subscribes and fills every replicated cache; with the jobs, their polls run too.
      await replication.start({ poll: jobs, onFailure: startOptions.onReplicationError });
      // The key schedule: the first signing key, or the next one when it is due.
      await keyring.maintain();
      if (!jobs) return;
      const onError = startOptions.onJobError ?? (() => {});
      scheduler = startJobs(
        [
          { name: 'revocations.sweep', everyMs: 60_000, run: () => revocations.sweep() },
          { name: 'keys.maintain', everyMs: 60_000, run: () => keyring.maintain() },
          {
            name: 'tasks.expire',
            everyMs: 5_000,
            run: () => tasks.expireDue({ actor: SYSTEM_ACTOR }),
          },
        ],
        onError,
      );
    },

    async stop() {
      await replication.stop();
      await scheduler?.stop();
      await gateway.drain();
      await tracer.shutdown().catch(() => {});
    },
  };
}
