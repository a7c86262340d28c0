/**
 * A change that is stored but cannot be announced to the other replicas (a policy version, a
 * registry change, a tool pin setting): the write still succeeds, since the others catch up at
 * their next poll, and the failed announcement is reported with its channel and counted in
 * `/metrics`, never dropped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/index.js';
import { POLICIES_CHANNEL } from '../../src/policy/index.js';
import { createCore, createLogger, type Core } from '../../src/server/index.js';
import type { Store } from '../../src/store/index.js';
import { ManualClock } from '../support/clock.js';
import { testDatabases, type TestStore } from '../support/databases.js';

/** The channels whose announcements fail here; every other channel works as usual. */
const REFUSED = new Set([POLICIES_CHANNEL, 'steward_registry', 'tool_pins']);
const system = { actor: SYSTEM_ACTOR };

for (const database of await testDatabases()) {
  describe(`announcements that fail on ${database.name}`, () => {
    let store: TestStore;
    let core: Core;
    let app: FastifyInstance;
    let metricsUrl: string;
    const reported: { channel: string; error: unknown }[] = [];

    before(async () => {
      store = await database.open();
      const refusing: Store = {
        ...store,
        notifications: {
          ...store.notifications,
          async publish(channel, payload) {
            if (REFUSED.has(channel)) throw new Error(`cannot notify ${channel}`);
            await store.notifications.publish(channel, payload);
          },
        },
      };
      core = createCore({
        store: refusing,
        clock: new ManualClock(),
        trustDomain: 'example.test',
        issuer: 'http://steward.test',
        masterKey: randomBytes(32),
        resolveHost: async () => ['203.0.113.10'],
        onAnnounceError: (channel, error) => reported.push({ channel, error }),
      });
      await core.start({ jobs: false });
      ({ app } = await buildHttpApp({ core, logger: createLogger('silent') }));
      metricsUrl = `${await app.listen({ port: 0, host: '127.0.0.1' })}/metrics`;
    });
    after(async () => {
      await app.close();
      await core.stop();
      await store.dispose();
    });

    /** What a scrape of `/metrics` counts as failed announcements on `channel`. */
    async function counted(channel: string): Promise<number> {
      const text = await (await fetch(metricsUrl)).text();
      const line = new RegExp(
        `^steward_notification_announce_failures_total\\{channel="${channel}"\\} (\\d+)$`,
        'm',
      ).exec(text);
      assert.ok(line, `no announce failure count for ${channel} in:\n${text}`);
      return Number(line[1]);
    }

    /**
     * The announcements reported on `channel` while `work` ran and settled; each is counted in
     * `/metrics` too, and announcements on other channels are not.
     */
    async function reportedDuring(channel: string, work: () => Promise<unknown>) {
      const from = reported.length;
      const countedBefore = await counted(channel);
      const revocationsBefore = await counted('steward_revocations');
      await work();
      // The registry's announcement is not awaited by the write that made it.
      await new Promise((resolve) => setImmediate(resolve));
      const failed = reported.slice(from).filter((report) => report.channel === channel);
      assert.equal(await counted(channel), countedBefore + failed.length);
      assert.equal(await counted('steward_revocations'), revocationsBefore);
      return failed;
    }

    it('a registry change is made and its failed announcement reported', async () => {
      const failed = await reportedDuring('steward_registry', () =>
        core.teams.create(system, {
          name: 'announcers',
          contact: 'announcers@example.com',
          escalation: '+1-555-0100',
        }),
      );
      assert.equal(failed.length, 1);
      assert.match((failed[0]?.error as Error).message, /cannot notify steward_registry/);
      assert.equal((await core.teams.get('announcers')).name, 'announcers');
    });

    it('a policy version is stored, used here, and its failed announcement reported', async () => {
      let version = 0;
      const failed = await reportedDuring(POLICIES_CHANNEL, async () => {
        ({ version } = await core.policies.put(system, {
          policies: 'permit(principal, action, resource);',
          message: 'announced or not',
        }));
      });
      assert.equal(failed.length, 1);
      assert.ok(version > 0);
      assert.equal((await core.policies.findings()).version, version);
    });

    it('a tool pin setting is stored and its failed announcement reported', async () => {
      await core.upstreams.create(system, {
        name: 'announced-mcp',
        kind: 'mcp',
        url: 'https://mcp.example.test/mcp',
        team: 'announcers',
        classification: 'internal',
      });
      const failed = await reportedDuring('tool_pins', () =>
        core.toolPins.configure(system, 'announced-mcp', 'warn'),
      );
      assert.equal(failed.length, 1);
      assert.equal((await core.toolPins.view('announced-mcp')).onChange, 'warn');
    });
  });
}
