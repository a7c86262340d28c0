import { createApiKeyService, SYSTEM_ACTOR, type ApiKeyService } from '../access/index.js';
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
  createTeamService,
  MAX_TOKEN_LIFETIME_MS,
  type IdentityService,
  type PersonService,
  type ServiceService,
  type TeamService,
} from '../registry/index.js';
import { createPolicyService, type PolicyService } from '../policy/index.js';
import { createRevocationList, type RevocationList } from '../revocation/index.js';
import type { Clock } from '../shared/clock.js';
import {
  createKeyring,
  KEYS_CHANNEL,
  type Keyring,
  type SigningAlgorithm,
} from '../signing/index.js';
import type { Store } from '../store/index.js';
import { createTaskService, type TaskService } from '../tasks/index.js';
import {
  createInventory,
  createMinter,
  createTokenIssuer,
  createRevoker,
  createTokenExchange,
  createTokenVerifier,
  STEWARD_AUDIENCE,
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
  /**
   * Loads keys and revocations, makes the first signing key if there is none, subscribes to
   * other replicas' changes, and starts the background jobs. Call once, before serving.
   */
  start(options?: {
    jobs?: boolean;
    onJobError?: (job: string, error: unknown) => void;
  }): Promise<void>;
  stop(): Promise<void>;
}

export function createCore(options: CoreOptions): Core {
  const { store, clock, trustDomain, issuer, masterKey } = options;
  const signing = options.signing ?? {
    algorithm: 'EdDSA',
    rotationSeconds: 86_400,
    leadSeconds: 3_600,
  };
  const db = store.db;
  const revocations = createRevocationList({ store, clock });
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
  const tasks = createTaskService({ db, clock, revocations });
  const resolveAudience = async (requested: string) =>
    requested === STEWARD_AUDIENCE || requested === issuer ? STEWARD_AUDIENCE : undefined;
  const minter = createMinter({ keyring, clock, issuer });
  const exchange = createTokenExchange({
    db,
    clock,
    joinTokens,
    federation,
    verifier,
    revocations,
    minter,
    issuer: createTokenIssuer({ db, minter }),
    resolveAudience,
  });
  const policies = createPolicyService({ store, clock, verifier });
  let scheduler: Scheduler | undefined;
  const unsubscribe: (() => void)[] = [];

  return {
    store,
    clock,
    trustDomain,
    issuer,
    apiKeys: createApiKeyService({ db, clock }),
    teams: createTeamService({ db, clock }),
    people: createPersonService({ db, clock }),
    services: createServiceService({ db, clock }),
    identities: createIdentityService({ db, clock, trustDomain, revocations }),
    keyring,
    revocations,
    verifier,
    joinTokens,
    federation,
    tasks,
    exchange,
    revoker: createRevoker({ db, clock, revocations, verifier }),
    inventory: createInventory({ db, clock, revocations }),
    policies,

    async start(startOptions = {}) {
      unsubscribe.push(revocations.listen());
      unsubscribe.push(
        store.notifications.subscribe(KEYS_CHANNEL, () => void keyring.reload().catch(() => {})),
      );
      unsubscribe.push(policies.listen());
      await keyring.maintain();
      await revocations.refresh(true);
      await policies.reload();
      if (startOptions.jobs === false) return;
      const onError = startOptions.onJobError ?? (() => {});
      let polls = 0;
      scheduler = startJobs(
        [
          // The safety net under LISTEN/NOTIFY: recent revocations every second, all every minute.
          {
            name: 'revocations.poll',
            everyMs: 1_000,
            run: () => revocations.refresh(++polls % 60 === 0),
          },
          { name: 'revocations.sweep', everyMs: 60_000, run: () => revocations.sweep() },
          { name: 'keys.maintain', everyMs: 60_000, run: () => keyring.maintain() },
          // The safety net under key notifications: a withdrawn or rotated key reaches every
          // replica within seconds even if a notification was lost.
          { name: 'keys.reload', everyMs: 5_000, run: () => keyring.reload() },
          // The safety net under the policy notifications.
          { name: 'policies.poll', everyMs: 5_000, run: () => policies.reload() },
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
      for (const stop of unsubscribe.splice(0)) stop();
      await scheduler?.stop();
    },
  };
}
