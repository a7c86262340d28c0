import { createApiKeyService, type ApiKeyService } from '../access/index.js';
import {
  createIdentityService,
  createPersonService,
  createServiceService,
  createTeamService,
  type IdentityService,
  type PersonService,
  type ServiceService,
  type TeamService,
} from '../registry/index.js';
import type { Clock } from '../shared/clock.js';
import type { Store } from '../store/index.js';

/**
 * The domain services of one Steward process, wired to one store and one clock. HTTP routes, the
 * bootstrap and the tests all go through this object; nothing here knows about HTTP.
 */
export interface Core {
  readonly store: Store;
  readonly clock: Clock;
  readonly trustDomain: string;
  readonly apiKeys: ApiKeyService;
  readonly teams: TeamService;
  readonly people: PersonService;
  readonly services: ServiceService;
  readonly identities: IdentityService;
}

export function createCore(deps: { store: Store; clock: Clock; trustDomain: string }): Core {
  const { store, clock, trustDomain } = deps;
  const db = store.db;
  return {
    store,
    clock,
    trustDomain,
    apiKeys: createApiKeyService({ db, clock }),
    teams: createTeamService({ db, clock }),
    people: createPersonService({ db, clock }),
    services: createServiceService({ db, clock }),
    identities: createIdentityService({ db, clock, trustDomain }),
  };
}
