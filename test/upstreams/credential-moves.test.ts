/**
 * Re-pointing an upstream moves its secret. Changing where or how an upstream that carries a
 * credential sends it (URL, kind, team, placement), or who may use it (classification,
 * operations, sensitive names), takes the same right as attaching that credential. Through the
 * real app with a real API key of each role, on SQLite and PostgreSQL, ending with real gateway
 * calls to loopback HTTP servers that record the headers they receive.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { OTHER_TEAM, ensureTeam } from '../http/fixtures.js';
import { OWNER_TEAM, startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import { adminCall, workloadToken } from '../support/inject.js';

/** An admin's team-less secret: no owner may read, attach or move it. */
const VENDOR_KEY = 'vendor-live-key-5f4e3d2c1b0a';
/** The owner team's own secret. */
const TEAM_KEY = 'team-live-key-0a1b2c3d4e5f';
const SERVICE = 'moves-agent';

const POLICIES = `
@id("agent-calls-any-upstream")
permit(principal in Steward::Service::"${SERVICE}", action == Steward::Action::"http_request", resource);
`;

/** A loopback HTTP API that records the headers of every request that reached it. */
interface Recorder {
  readonly url: string;
  readonly received: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every value of every header a server received, for "did the secret arrive here at all". */
function headerValues(received: readonly IncomingHttpHeaders[]): string[] {
  return received.flatMap((headers) =>
    Object.values(headers).flatMap((value) => (Array.isArray(value) ? value : [value ?? ''])),
  );
}

for (const database of await testDatabases()) {
  describe(`moving an upstream's credential (${database.name})`, () => {
    let t: TestApp;
    let gateway: string;
    let legit: Recorder;
    let attacker: Recorder;
    let identity: string;
    let otherOwnerKey: string;

    const as = (key: string) => ({
      patch: (name: string, payload: Record<string, unknown>) =>
        t.call({ key }, { method: 'PATCH', url: `/v1/upstreams/${name}`, payload }),
    });
    const owner = () => as(t.keys.owner);
    const get = (name: string) => adminCall(t.app, t.keys.admin, 'GET', `/v1/upstreams/${name}`);

    async function register(name: string, secret: string, extra: Record<string, unknown> = {}) {
      await adminCall(t.app, t.keys.admin, 'POST', '/v1/upstreams', {
        name,
        kind: 'http',
        url: legit.url,
        team: OWNER_TEAM,
        classification: 'confidential',
        credential: { secret, in: 'header', name: 'x-api-key', format: '{secret}' },
        operations: [{ name: 'refund', method: 'POST', path: '/refunds/:id', sensitive: true }],
        ...extra,
      });
    }

    /** A real agent call through the HTTP gateway, on the listening port. */
    async function callThrough(upstream: string): Promise<number> {
      const token = await workloadToken(t.app, t.keys.owner, identity, { audience: upstream });
      const response = await request(`${gateway}/gw/http/${upstream}/hello`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await response.body.text();
      return response.statusCode;
    }

    function assertForbidden(response: LightMyRequestResponse, what: string) {
      assert.equal(response.statusCode, 403, `${what}: ${response.body}`);
      assert.equal(response.json<{ code: string }>().code, 'forbidden', what);
    }

    before(async () => {
      t = await startTestApp(database);
      await ensureTeam(t, OTHER_TEAM);
      gateway = await t.app.listen({ port: 0, host: '127.0.0.1' });
      legit = await startRecorder();
      attacker = await startRecorder();
      const admin = t.keys.admin;
      await adminCall(t.app, admin, 'POST', '/v1/egress/allow', {
        address: '127.0.0.1',
        reason: 'loopback test upstreams',
      });
      await adminCall(t.app, admin, 'POST', '/v1/secrets', {
        name: 'vendor-key',
        value: VENDOR_KEY,
      });
      await adminCall(t.app, t.keys.owner, 'POST', '/v1/secrets', {
        name: 'team-key',
        value: TEAM_KEY,
      });
      await adminCall(t.app, t.keys.owner, 'POST', '/v1/services', {
        name: SERVICE,
        team: OWNER_TEAM,
        dataClassification: 'internal',
      });
      ({ id: identity } = await adminCall<{ id: string }>(
        t.app,
        t.keys.owner,
        'POST',
        '/v1/identities',
        { service: SERVICE, environment: 'sandbox', agentPath: 'worker' },
      ));
      await adminCall(t.app, admin, 'PUT', '/v1/policies', {
        policies: POLICIES,
        message: 'credential moves',
      });
      ({ key: otherOwnerKey } = await adminCall<{ key: string }>(
        t.app,
        admin,
        'POST',
        '/v1/api-keys',
        { name: 'other team owner', role: 'owner', team: OTHER_TEAM },
      ));
    });
    after(async () => {
      await t.close();
      await legit.close();
      await attacker.close();
    });

    it("an owner may not re-point its team's upstream that carries an admin's secret: the secret stays at its host", async () => {
      await register('vendor', 'vendor-key');
      const before = await get('vendor');
      assertForbidden(await owner().patch('vendor', { url: attacker.url }), 'url');
      // Nor with a limit beside it, which alone it may change: the whole change is refused.
      assertForbidden(
        await owner().patch('vendor', { url: `${attacker.url}/v2`, timeoutMs: 1_000 }),
        'url with a limit',
      );
      assert.deepEqual(await get('vendor'), before, 'nothing changed');

      const legitSeen = legit.received.length;
      assert.equal(await callThrough('vendor'), 200);
      assert.equal(legit.received.length, legitSeen + 1);
      assert.equal(legit.received.at(-1)?.['x-api-key'], VENDOR_KEY);
      assert.equal(attacker.received.length, 0, 'nothing reached the new host');
    });

    it('nor change how the secret is sent, or who may use it, in any other field', async () => {
      await register('vendor-fields', 'vendor-key');
      const before = await get('vendor-fields');
      const changes: Record<string, Record<string, unknown>> = {
        kind: { kind: 'mcp' },
        'credential placement': {
          credential: { secret: 'vendor-key', in: 'query', name: 'api_key' },
        },
        'credential header': {
          credential: { secret: 'vendor-key', in: 'header', name: 'x-debug-echo' },
        },
        'credential format': {
          credential: {
            secret: 'vendor-key',
            in: 'header',
            name: 'x-api-key',
            format: 'leak {secret}',
          },
        },
        classification: { classification: 'public' },
        'sensitive names': { sensitive: [] },
        operations: {
          operations: [{ name: 'refund', method: 'POST', path: '/elsewhere', sensitive: true }],
        },
        team: { team: OTHER_TEAM },
      };
      for (const [what, payload] of Object.entries(changes)) {
        assertForbidden(await owner().patch('vendor-fields', payload), what);
      }
      assert.deepEqual(await get('vendor-fields'), before, 'nothing changed');
      // Another team's owner, and the roles that change nothing, do not get that far.
      assertForbidden(
        await as(otherOwnerKey).patch('vendor-fields', { url: attacker.url }),
        "another team's owner",
      );
      for (const role of ['approver', 'auditor'] as const) {
        assertForbidden(await as(t.keys[role]).patch('vendor-fields', { url: attacker.url }), role);
      }
      assert.equal(attacker.received.length, 0);
    });

    it('an owner still tunes the limits, repeats current values, and may drop the credential (which then goes nowhere)', async () => {
      await register('vendor-limits', 'vendor-key');
      const tuned = await owner().patch('vendor-limits', {
        timeoutMs: 2_000,
        maxRequestBytes: 2048,
        maxResponseBytes: 4096,
        recordContent: true,
        rateLimit: { perSecond: 5, burst: 10 },
      });
      assert.equal(tuned.statusCode, 200, tuned.body);
      const same = await owner().patch('vendor-limits', {
        url: legit.url,
        kind: 'http',
        classification: 'confidential',
      });
      assert.equal(same.statusCode, 200, `the current values are no change: ${same.body}`);
      const dropped = await owner().patch('vendor-limits', {
        removeCredential: true,
        url: attacker.url,
      });
      assert.equal(dropped.statusCode, 200, dropped.body);
      assert.equal(dropped.json<{ credential: unknown }>().credential, null);
      assert.equal(await callThrough('vendor-limits'), 200);
      assert.equal(attacker.received.length, 1, 'the call reached the new host…');
      assert.ok(!headerValues(attacker.received).includes(VENDOR_KEY), '…without the secret');
      assert.equal(attacker.received[0]?.['x-api-key'], undefined);
      // Putting the admin's secret back is attaching it: refused as at registration.
      assertForbidden(
        await owner().patch('vendor-limits', {
          credential: { secret: 'vendor-key', in: 'header', name: 'x-api-key' },
        }),
        're-attach',
      );
    });

    it('admin and security, who may attach the secret, re-point it; an owner re-points one with its own secret', async () => {
      await register('vendor-moved', 'vendor-key');
      await register('team-owned', 'team-key');
      const target = await startRecorder();
      try {
        const moved = await as(t.keys.security).patch('vendor-moved', { url: target.url });
        assert.equal(moved.statusCode, 200, moved.body);
        const back = await as(t.keys.admin).patch('vendor-moved', { kind: 'http', url: legit.url });
        assert.equal(back.statusCode, 200, back.body);
        const own = await owner().patch('team-owned', {
          url: target.url,
          classification: 'public',
        });
        assert.equal(own.statusCode, 200, own.body);
        assert.equal(await callThrough('team-owned'), 200);
        assert.equal(target.received.at(-1)?.['x-api-key'], TEAM_KEY);
        assert.ok(!headerValues(target.received).includes(VENDOR_KEY));
      } finally {
        await target.close();
      }
    });

    it("moving an upstream to another team takes the right to attach its secret there: a team's secret stays with its team", async () => {
      const seen = attacker.received.length;
      await register('team-bound', 'team-key');
      const refused = await as(t.keys.admin).patch('team-bound', { team: OTHER_TEAM });
      assertForbidden(refused, "a team's secret to another team");
      assert.match(refused.json<{ detail: string }>().detail, /give it another credential first/);

      await register('vendor-handed', 'vendor-key');
      const handed = await as(t.keys.admin).patch('vendor-handed', { team: OTHER_TEAM });
      assert.equal(handed.statusCode, 200, handed.body);
      // The new team's owner manages the upstream now, but the admin's secret is still not theirs.
      assertForbidden(
        await as(otherOwnerKey).patch('vendor-handed', { url: attacker.url }),
        "the new team's owner",
      );
      assert.equal(
        (await as(otherOwnerKey).patch('vendor-handed', { timeoutMs: 1_500 })).statusCode,
        200,
      );
      assert.equal(attacker.received.length, seen);
    });
  });
}
