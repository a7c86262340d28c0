/**
 * A Steward HTTP app over a real database, for `inject()` tests, with one API key per role.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ROLES, SYSTEM_ACTOR, type Role } from '../../src/actors/index.js';
import { buildHttpApp, type RouteRoles } from '../../src/http/index.js';
import type { CoreOptions } from '../../src/server/core.js';
import { createCore, createLogger, type Core } from '../../src/server/index.js';
import { ManualClock } from './clock.js';
import type { TestDatabase, TestStore } from './databases.js';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly core: Core;
  readonly store: TestStore;
  readonly clock: ManualClock;
  readonly routeRoles: RouteRoles[];
  /** A key for each role; the owner key is scoped to team `owners-team`, which exists. */
  readonly keys: Readonly<Record<Role, string>>;
  /** `inject` with the key of `as` (a role, or a raw key, or null for none). */
  call(as: Role | { key: string } | null, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const OWNER_TEAM = 'owners-team';
/** The issuer of test apps' tokens: what `iss` must say. */
export const TEST_ISSUER = 'http://steward.test';

/** `signing` picks the token signing algorithm and key schedule (default: EdDSA, daily, 1 h lead). */
export async function startTestApp(
  database: TestDatabase,
  options: { signing?: CoreOptions['signing'] } = {},
): Promise<TestApp> {
  const store = await database.open();
  const clock = new ManualClock();
  const core = createCore({
    store,
    clock,
    trustDomain: 'example.test',
    issuer: TEST_ISSUER,
    masterKey: randomBytes(32),
    ...(options.signing ? { signing: options.signing } : {}),
  });
  await core.start({ jobs: false });
  const logger = createLogger(process.env['STEWARD_TEST_LOG'] ?? 'silent');
  const { app, routeRoles } = await buildHttpApp({ core, logger });
  const system = { actor: SYSTEM_ACTOR };
  await core.teams.create(system, {
    name: OWNER_TEAM,
    contact: 'owners@example.com',
    escalation: '+1-555-0100',
  });
  const keys = {} as Record<Role, string>;
  for (const role of ROLES) {
    const created = await core.apiKeys.create(system, {
      name: `test ${role}`,
      role,
      ...(role === 'owner' ? { team: OWNER_TEAM } : {}),
    });
    keys[role] = created.key;
  }
  return {
    app,
    core,
    store,
    clock,
    routeRoles,
    keys,
    call(as, options) {
      const key = as === null ? undefined : typeof as === 'string' ? keys[as] : as.key;
      return app.inject({
        ...options,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(options.headers ?? {}) },
      });
    },
    async close() {
      await app.close();
      await core.stop();
      await store.dispose();
    },
  };
}
