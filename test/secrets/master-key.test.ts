/**
 * Master-key rotation through a real restart of `steward up`: with STEWARD_MASTER_KEY set to a
 * new key and STEWARD_MASTER_KEY_PREVIOUS to the old one, every secret data key and signing key
 * is re-sealed under the new key on start, with one audit event; secrets still open, tokens
 * issued before still verify, and the old key is no longer needed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { masterKeyId } from '../../src/crypto/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { testDatabases } from '../support/databases.js';

const ADMIN = `automation-admin-key-${randomBytes(16).toString('hex')}`;

async function call(
  running: RunningSteward,
  url: string,
  init: { method?: string; body?: unknown; form?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` };
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  } else if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.body);
  }
  const response = await fetch(`${running.url}${url}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

for (const database of await testDatabases()) {
  describe(`master-key rotation on ${database.name}`, () => {
    const cleanup: (() => Promise<void> | void)[] = [];
    after(async () => {
      for (const step of cleanup.reverse()) await step();
    });

    it('re-wraps data keys and signing keys on restart; secrets open and old tokens verify', async () => {
      const env: Record<string, string> = {
        STEWARD_PORT: '0',
        STEWARD_LOG_LEVEL: 'silent',
        STEWARD_ADMIN_KEY: ADMIN,
        // Fixed, so that tokens from one life name the issuer of the next (the port changes).
        STEWARD_ISSUER: 'http://steward.test',
      };
      if (database.name === 'sqlite') {
        const dir = mkdtempSync(path.join(tmpdir(), 'steward-rekey-'));
        cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
        env['STEWARD_DATA_DIR'] = dir;
      } else {
        const store = await database.open();
        cleanup.push(() => store.dispose());
        if (store.location.kind !== 'postgres') throw new Error('unreachable');
        env['DATABASE_URL'] = store.location.url;
      }
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      const quiet = { announce: () => {} };

      // First life, under the old key: a secret, a workload and a token.
      let running = await up(
        loadConfig({ ...env, STEWARD_MASTER_KEY: oldKey.toString('hex') }),
        quiet,
      );
      let token: string;
      try {
        assert.equal(
          (
            await call(running, '/v1/teams', {
              body: { name: 'payments', contact: 'p@example.com', escalation: 'e' },
            })
          ).status,
          201,
        );
        assert.equal(
          (
            await call(running, '/v1/services', {
              body: { name: 'agent', team: 'payments', dataClassification: 'internal' },
            })
          ).status,
          201,
        );
        const identity = await call(running, '/v1/identities', {
          body: { service: 'agent', environment: 'sandbox', agentPath: 'main' },
        });
        const join = await call(
          running,
          `/v1/identities/${String(identity.body['id'])}/join-tokens`,
          { body: { ttlSeconds: 600 } },
        );
        const exchanged = await call(running, '/oauth2/token', {
          form: {
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: String(join.body['token']),
            subject_token_type: 'urn:steward:token-type:join-token',
            audience: 'steward',
          },
        });
        assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
        token = String(exchanged.body['access_token']);
        assert.equal(
          (
            await call(running, '/v1/secrets', {
              body: { name: 'crm-key', value: 'the-crm-value' },
            })
          ).status,
          201,
        );
        assert.equal(
          (
            await call(running, '/v1/secrets/crm-key/rotate', {
              body: { value: 'the-crm-value-2' },
            })
          ).status,
          200,
        );
      } finally {
        await running.close();
      }

      // Only the new key: the values under the old one cannot be opened, so start-up refuses.
      await assert.rejects(
        up(loadConfig({ ...env, STEWARD_MASTER_KEY: newKey.toString('hex') }), quiet),
        /neither STEWARD_MASTER_KEY/,
      );

      // Second life: new key, old key as previous. Everything is re-wrapped.
      running = await up(
        loadConfig({
          ...env,
          STEWARD_MASTER_KEY: newKey.toString('hex'),
          STEWARD_MASTER_KEY_PREVIOUS: oldKey.toString('base64'),
        }),
        quiet,
      );
      try {
        const db = running.core.store.db;
        const versions = await db.selectFrom('secret_versions').select('wrapped_by').execute();
        assert.equal(versions.length, 2);
        assert.ok(versions.every((v) => v.wrapped_by === masterKeyId(newKey)));
        const keys = await db.selectFrom('signing_keys').select('wrapped_by').execute();
        assert.ok(keys.length > 0 && keys.every((k) => k.wrapped_by === masterKeyId(newKey)));
        const events = await db
          .selectFrom('audit_events')
          .select(['after', 'actor'])
          .where('type', '=', 'master_key.rewrapped')
          .execute();
        assert.equal(events.length, 1);
        assert.deepEqual(JSON.parse(events[0]?.after ?? '{}'), {
          from: masterKeyId(oldKey),
          to: masterKeyId(newKey),
          dataKeys: 2,
          signingKeys: keys.length,
        });
        assert.equal(await running.core.secrets.reveal('crm-key'), 'the-crm-value-2');
        const introspected = await call(running, '/oauth2/introspect', { form: { token } });
        assert.equal(introspected.body['active'], true, 'a token signed before still verifies');
      } finally {
        await running.close();
      }

      // Third life: the new key alone is enough now.
      running = await up(loadConfig({ ...env, STEWARD_MASTER_KEY: newKey.toString('hex') }), quiet);
      try {
        assert.equal(await running.core.secrets.reveal('crm-key'), 'the-crm-value-2');
        const introspected = await call(running, '/oauth2/introspect', { form: { token } });
        assert.equal(introspected.body['active'], true);
      } finally {
        await running.close();
      }
    });
  });
}
