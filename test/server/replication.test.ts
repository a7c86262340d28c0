/**
 * A real `steward up` whose replicated cache cannot refresh: the failure is logged with the
 * cache's name and counted in `/metrics`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config/index.js';
import { createLogger, up } from '../../src/server/index.js';
import { UPSTREAMS_CHANNEL } from '../../src/upstreams/index.js';

const ADMIN_KEY = 'replication-test-admin-key-0123456789abcdef';
const REFRESH_FAILED = /^replicated cache refresh failed/;

describe('replicated caches in steward up', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-replication-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a failed refresh is logged and counted in /metrics', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const running = await up(
      loadConfig({ STEWARD_PORT: '0', STEWARD_DATA_DIR: dir, STEWARD_ADMIN_KEY: ADMIN_KEY }),
      { logger: createLogger('info', sink), announce: () => {} },
    );
    const failures = () =>
      lines.filter((line) => REFRESH_FAILED.test(String(line['msg'])) && line['level'] === 50);
    try {
      const db = running.core.store.db;
      // The upstreams' copy reads the egress allowlist too: without its table, every refresh fails.
      await sql`alter table egress_allowlist rename to egress_allowlist_away`.execute(db);
      try {
        await running.core.store.notifications.publish(UPSTREAMS_CHANNEL, 'upstreams');
        const start = performance.now();
        while (failures().length === 0) {
          assert.ok(performance.now() - start < 5_000, 'no failed refresh logged within 5 s');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      } finally {
        await sql`alter table egress_allowlist_away rename to egress_allowlist`.execute(db);
      }
      const [logged] = failures();
      assert.equal(logged?.['cache'], 'upstreams');
      assert.match(String((logged?.['err'] as { message?: unknown }).message), /egress_allowlist/);

      const metrics = await (await fetch(`${running.url}/metrics`)).text();
      // The poll may have failed too before the table was back: each failure logged is counted.
      const counted = new RegExp(
        `^steward_cache_refresh_failures_total\\{cache="upstreams"\\} ${failures().length}$`,
        'm',
      );
      assert.match(metrics, counted);
      for (const cache of ['keys', 'revocations', 'secrets', 'policies', 'registry', 'tool-pins'])
        assert.match(
          metrics,
          new RegExp(`^steward_cache_refresh_failures_total\\{cache="${cache}"\\} 0$`, 'm'),
        );
      assert.match(metrics, /^steward_notification_subscriptions_lost_total 0$/m);
    } finally {
      await running.close();
    }
  });
});
