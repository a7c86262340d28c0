/**
 * A change that is stored but cannot be announced to the other replicas (a policy version, a
 * registry change, a tool pin setting): the write still succeeds, since the others catch up at
 * their next poll, and the failed announcement is reported with its channel, never dropped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../src/access/index.js';
import { POLICIES_CHANNEL } from '../../src/policy/index.js';
import { createCore, type Core } from '../../src/server/index.js';
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
    });
    after(async () => {
      await core.stop();
      await store.dispose();
    });

    /** The announcements reported on `channel` since the call began, after `work` settled. */
    async function reportedDuring(channel: string, work: () => Promise<unknown>) {
      const from = reported.length;
      await work();
      // The registry's announcement is not awaited by the write that made it.
      await new Promise((resolve) => setImmediate(resolve));
      return reported.slice(from).filter((report) => report.channel === channel);
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
