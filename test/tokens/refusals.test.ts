/**
 * Everything a token service must refuse, each with the right error: hostile tokens (built here
 * with node:crypto and jose) with the verifier's codes, revocation of each kind seen by the
 * verifier, by introspection (RFC 7662) and by a workload-authenticated call, and refused
 * exchanges with RFC 6749 / RFC 8693 error codes.
 */
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestApp, TEST_ISSUER, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  ACCESS_TOKEN,
  api,
  attest,
  claimsOf,
  createIdentity,
  createService,
  exchange,
  introspect,
  issued,
  JOIN_TOKEN,
  joinToken,
  kidOf,
  oauthError,
  openTask,
  postForm,
  renew,
  revoke,
  TOKEN_EXCHANGE,
  verdict,
  workloadCall,
  type Workload,
} from './fixtures.js';

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS with whatever header and claims, signed by `signer` over `<header>.<payload>`. */
function forge(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signer: (input: Buffer) => Buffer | string,
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = signer(Buffer.from(input, 'ascii'));
  return `${input}.${typeof signature === 'string' ? signature : signature.toString('base64url')}`;
}

const ed25519 = (key: KeyObject) => (input: Buffer) => sign(null, input, key);

/** `<header>.<payload>` as given, signed with `key`. */
const signedRaw = (input: string, key: KeyObject): string =>
  `${input}.${sign(null, Buffer.from(input, 'ascii'), key).toString('base64url')}`;

for (const database of await testDatabases()) {
  describe(`refusals on ${database.name}`, () => {
    let t: TestApp;
    let agent: Workload;
    let other: Workload;
    let agentTask: string;

    /** A token the verifier, introspection and the API all accept now. */
    async function assertLive(token: string, task = agentTask): Promise<void> {
      assert.equal(verdict(t, token, 'steward'), 'ok');
      assert.equal((await introspect(t, token))['active'], true);
      assert.equal(await workloadCall(t, token, task), 200);
    }

    /** A token refused with `code` by the verifier, inactive to introspection, 401 on the API. */
    async function assertRefused(token: string, code: string, task = agentTask): Promise<void> {
      assert.equal(verdict(t, token, 'steward'), code);
      assert.deepEqual(await introspect(t, token), { active: false });
      const res = await t.call({ key: token }, { method: 'GET', url: `/v1/tasks/${task}` });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json<{ code: string }>().code, 'unauthenticated');
    }

    /** The claims of a real token, to be re-signed with changes. */
    async function realClaims(): Promise<Record<string, unknown>> {
      return claimsOf(await attest(t, agent.id));
    }

    function signingKey() {
      const key = t.core.keyring.current();
      return { kid: key.kid, privateKey: key.privateKey };
    }

    before(async () => {
      t = await startTestApp(database);
      await createService(t, 'refund-agent');
      await createService(t, 'crm-sync');
      agent = await createIdentity(t, 'refund-agent', 'planner');
      other = await createIdentity(t, 'crm-sync', 'worker');
      agentTask = await openTask(t, agent.id);
    });
    after(async () => t.close());

    describe('hostile tokens', () => {
      it('accepts the genuine article, re-signed with the real key (the forgery helper is sound)', async () => {
        const { kid, privateKey } = signingKey();
        const token = forge(
          { alg: 'EdDSA', typ: 'at+jwt', kid },
          await realClaims(),
          ed25519(privateKey),
        );
        await assertLive(token);
      });

      it('refuses alg none with token_unsupported_algorithm', async () => {
        const claims = await realClaims();
        const { kid } = signingKey();
        await assertRefused(
          forge({ alg: 'none', typ: 'at+jwt', kid }, claims, () => ''),
          'token_unsupported_algorithm',
        );
        await assertRefused(
          forge({ alg: 'none', typ: 'at+jwt' }, claims, () => ''),
          'token_unsupported_algorithm',
        );
        await assertRefused(
          forge({ alg: 'NONE', typ: 'at+jwt', kid }, claims, () => 'x'),
          'token_unsupported_algorithm',
        );
      });

      it('refuses HS256 keyed with the public key (algorithm confusion) with token_unsupported_algorithm', async () => {
        const claims = await realClaims();
        const { kid } = signingKey();
        const published = t.core.keyring.verificationKey(kid);
        assert.ok(published);
        const secrets = [
          published.publicKey.export({ format: 'pem', type: 'spki' }),
          published.publicKey.export({ format: 'der', type: 'spki' }),
          JSON.stringify(published.jwk),
          Buffer.from(String(published.jwk['x']), 'base64url'),
        ];
        for (const secret of secrets) {
          const token = forge({ alg: 'HS256', typ: 'at+jwt', kid }, claims, (input) =>
            createHmac('sha256', secret).update(input).digest(),
          );
          await assertRefused(token, 'token_unsupported_algorithm');
        }
      });

      it('refuses an algorithm its key does not have (ES256 on an Ed25519 kid)', async () => {
        const claims = await realClaims();
        const { kid } = signingKey();
        const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
        const token = forge({ alg: 'ES256', typ: 'at+jwt', kid }, claims, (input) =>
          sign('sha256', input, { key: attacker, dsaEncoding: 'ieee-p1363' }),
        );
        await assertRefused(token, 'token_unsupported_algorithm');
      });

      it('refuses an unknown kid with token_unknown_key, and a stranger key behind a known kid with token_bad_signature', async () => {
        const claims = await realClaims();
        const attacker = generateKeyPairSync('ed25519').privateKey;
        await assertRefused(
          forge(
            { alg: 'EdDSA', typ: 'at+jwt', kid: 'not-a-steward-key' },
            claims,
            ed25519(attacker),
          ),
          'token_unknown_key',
        );
        await assertRefused(
          forge({ alg: 'EdDSA', typ: 'at+jwt' }, claims, ed25519(attacker)),
          'token_unknown_key',
        );
        await assertRefused(
          forge({ alg: 'EdDSA', typ: 'at+jwt', kid: signingKey().kid }, claims, ed25519(attacker)),
          'token_bad_signature',
        );
      });

      it('refuses a tampered payload with token_bad_signature', async () => {
        const token = await attest(t, agent.id);
        await assertLive(token);
        const [header, payload, signature] = token.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
          string,
          unknown
        >;
        for (const change of [
          { sub: other.spiffeId, client_id: other.id },
          { environment: 'production' },
          { exp: Number(claims['exp']) + 86_400 },
          { aud: 'crm' },
        ]) {
          await assertRefused(
            `${header}.${b64({ ...claims, ...change })}.${signature}`,
            'token_bad_signature',
          );
        }
        // A flipped bit in the signature, and a signature moved onto another token's body.
        const flipped = Buffer.from(signature, 'base64url');
        flipped[0] = (flipped[0] ?? 0) ^ 1;
        await assertRefused(
          `${header}.${payload}.${flipped.toString('base64url')}`,
          'token_bad_signature',
        );
        const second = (await attest(t, agent.id)).split('.');
        await assertRefused(`${header}.${second[1] ?? ''}.${signature}`, 'token_bad_signature');
        // The original is untouched by all this.
        await assertLive(token);
      });

      it('refuses an expired token with token_expired (after the leeway)', async () => {
        const token = await attest(t, agent.id);
        await assertLive(token);
        t.clock.advance(300_000 + 20_000);
        assert.equal(verdict(t, token, 'steward'), 'ok', 'within the 30 s leeway');
        t.clock.advance(11_000);
        await assertRefused(token, 'token_expired');
        const { kid, privateKey } = signingKey();
        const now = Math.floor(t.clock.now() / 1000);
        const old = { ...(await realClaims()), iat: now - 7200, nbf: now - 7200, exp: now - 3600 };
        await assertRefused(
          forge({ alg: 'EdDSA', typ: 'at+jwt', kid }, old, ed25519(privateKey)),
          'token_expired',
        );
      });

      it('refuses a token that is not valid yet with token_not_yet_valid', async () => {
        const { kid, privateKey } = signingKey();
        const now = Math.floor(t.clock.now() / 1000);
        const early = { ...(await realClaims()), nbf: now + 120, exp: now + 420 };
        const token = forge({ alg: 'EdDSA', typ: 'at+jwt', kid }, early, ed25519(privateKey));
        await assertRefused(token, 'token_not_yet_valid');
        t.clock.advance(121_000);
        await assertLive(token);
      });

      it('refuses the wrong audience with token_wrong_audience', async () => {
        const token = await attest(t, agent.id);
        assert.equal(verdict(t, token, 'crm'), 'token_wrong_audience');
        assert.equal(verdict(t, token, ['crm', 'billing']), 'token_wrong_audience');
        assert.equal(verdict(t, token, ['crm', 'steward']), 'ok');
        const { kid, privateKey } = signingKey();
        const forCrm = forge(
          { alg: 'EdDSA', typ: 'at+jwt', kid },
          { ...claimsOf(token), aud: 'crm' },
          ed25519(privateKey),
        );
        assert.equal(verdict(t, forCrm, 'steward'), 'token_wrong_audience');
        // A token for an upstream does not open Steward's own API.
        const res = await t.call({ key: forCrm }, { method: 'GET', url: `/v1/tasks/${agentTask}` });
        assert.equal(res.statusCode, 401);
      });

      it('refuses another issuer with token_wrong_issuer', async () => {
        const { kid, privateKey } = signingKey();
        for (const iss of ['http://evil.test', `${TEST_ISSUER}/`, undefined]) {
          const claims = { ...(await realClaims()), iss };
          await assertRefused(
            forge({ alg: 'EdDSA', typ: 'at+jwt', kid }, claims, ed25519(privateKey)),
            'token_wrong_issuer',
          );
        }
      });

      it('refuses typ JWT (or none) instead of at+jwt with token_wrong_type', async () => {
        const { kid, privateKey } = signingKey();
        const claims = await realClaims();
        for (const typ of ['JWT', 'jwt', undefined, 'at+jwt+extra']) {
          await assertRefused(
            forge({ alg: 'EdDSA', typ, kid }, claims, ed25519(privateKey)),
            'token_wrong_type',
          );
        }
        // RFC 9068 §4 also allows the full media type.
        await assertLive(
          forge({ alg: 'EdDSA', typ: 'application/at+jwt', kid }, claims, ed25519(privateKey)),
        );
      });

      it('refuses garbage with token_malformed', async () => {
        const { kid, privateKey } = signingKey();
        const claims = await realClaims();
        const { sub: _sub, ...noSub } = claims;
        for (const token of [
          'a.b.c',
          'not.a.jwt.at.all',
          // Signed, so that only the payload's shape is wrong: an array, not a claims object.
          signedRaw(`${b64({ alg: 'EdDSA', typ: 'at+jwt', kid })}.${b64('[1,2]')}`, privateKey),
          signedRaw(`${b64({ alg: 'EdDSA', typ: 'at+jwt', kid })}.${b64('not json')}`, privateKey),
          forge({ alg: 'EdDSA', typ: 'at+jwt', kid }, noSub, ed25519(privateKey)),
          forge(
            { alg: 'EdDSA', typ: 'at+jwt', kid },
            { ...claims, exp: 'tomorrow' },
            ed25519(privateKey),
          ),
          forge({ alg: 'EdDSA', typ: 'at+jwt', kid, crit: ['exp'] }, claims, ed25519(privateKey)),
          `${'a'.repeat(9000)}.b.c`,
        ]) {
          assert.equal(verdict(t, token, 'steward'), 'token_malformed', token.slice(0, 80));
          assert.deepEqual(await introspect(t, token), { active: false });
        }
      });
    });

    describe('revocation, of each kind', () => {
      it('RFC 7009: the holder revokes its own token; unknown tokens get the same 200', async () => {
        const token = await attest(t, agent.id);
        const sibling = await attest(t, agent.id);
        await assertLive(token);
        const res = await postForm(t, '/oauth2/revoke', { token, token_type_hint: 'access_token' });
        assert.equal(res.statusCode, 200);
        await assertRefused(token, 'token_revoked');
        await assertLive(sibling);
        assert.equal(await oauthError(exchange(t, token, ACCESS_TOKEN)), 'invalid_grant');
        for (const garbage of ['garbage', token]) {
          assert.equal((await postForm(t, '/oauth2/revoke', { token: garbage })).statusCode, 200);
        }
        assert.equal(await oauthError(postForm(t, '/oauth2/revoke', {})), 'invalid_request');
      });

      it('operator revokes one token (kind token)', async () => {
        const token = await attest(t, agent.id);
        const renewed = await renew(t, token);
        await assertLive(token);
        await revoke(t, { kind: 'token', jti: claimsOf(token).jti });
        await assertRefused(token, 'token_revoked');
        await assertLive(renewed);
        const inventory = await api<{ items: { jti: string; status: string }[] }>(
          t,
          'auditor',
          'GET',
          `/v1/tokens?session=${String(claimsOf(token).jti)}`,
        );
        assert.deepEqual(
          inventory.items.map((e) => [e.jti, e.status]).sort(),
          [
            [claimsOf(token).jti, 'revoked'],
            [claimsOf(renewed).jti, 'active'],
          ].sort(),
        );
      });

      it('lineage from the root revokes the whole session, present and future', async () => {
        const root = await attest(t, agent.id);
        const child = await renew(t, root);
        const grandchild = await renew(t, child);
        const otherSession = await attest(t, agent.id);
        assert.equal(claimsOf(grandchild)['sid'], claimsOf(root).jti);
        await revoke(t, { kind: 'lineage', jti: claimsOf(root).jti });
        for (const token of [root, child, grandchild]) await assertRefused(token, 'token_revoked');
        await assertLive(otherSession);
      });

      it('lineage from a middle token: it and its descendants die, its parent and siblings live', async () => {
        const root = await attest(t, agent.id);
        const middle = await renew(t, root);
        const below = await renew(t, middle);
        const belowBelow = await renew(t, below);
        const sibling = await renew(t, root);
        await revoke(t, { kind: 'lineage', jti: claimsOf(middle).jti });
        for (const token of [middle, below, belowBelow])
          await assertRefused(token, 'token_revoked');
        await assertLive(root);
        await assertLive(sibling);
        // The dead branch cannot grow again; the living one can.
        assert.equal(await oauthError(exchange(t, belowBelow, ACCESS_TOKEN)), 'invalid_grant');
        await assertLive(await renew(t, root));
      });

      it('identity: every token issued so far; new ones once the clock has moved on', async () => {
        const victim = await createIdentity(t, 'refund-agent', 'identity-revoked');
        const task = await openTask(t, victim.id);
        const a = await attest(t, victim.id);
        const b = await renew(t, a);
        const bystander = await attest(t, agent.id);
        await revoke(t, { kind: 'identity', identity: victim.id });
        for (const token of [a, b]) await assertRefused(token, 'token_revoked', task);
        await assertLive(bystander);
        t.clock.advance(1_500);
        await assertLive(await attest(t, victim.id), task);
      });

      it('service_environment: the kill switch stops every identity of the service there', async () => {
        await createService(t, 'killed-service');
        const first = await createIdentity(t, 'killed-service', 'one');
        const second = await createIdentity(t, 'killed-service', 'two');
        const [firstTask, secondTask] = [await openTask(t, first.id), await openTask(t, second.id)];
        const tokens = [await attest(t, first.id), await attest(t, second.id)];
        const bystander = await attest(t, other.id);
        await revoke(t, {
          kind: 'service_environment',
          service: 'killed-service',
          environment: 'sandbox',
        });
        await assertRefused(tokens[0] ?? '', 'token_revoked', firstTask);
        await assertRefused(tokens[1] ?? '', 'token_revoked', secondTask);
        assert.equal(verdict(t, bystander, 'steward'), 'ok');
      });

      it('task completed (POST /v1/tasks/{id}/complete): its tokens die, the others live', async () => {
        const worker = await createIdentity(t, 'refund-agent', 'task-worker');
        const general = await attest(t, worker.id);
        // The workload opens its own task with its token.
        const opened = await t.call(
          { key: general },
          {
            method: 'POST',
            url: '/v1/tasks',
            payload: { identity: worker.id, deadlineSeconds: 900 },
          },
        );
        assert.equal(opened.statusCode, 201, opened.body);
        const task = opened.json<{ id: string }>().id;
        const scoped = await attest(t, worker.id, { task });
        assert.equal(claimsOf(scoped)['task'], task);
        const renewed = await renew(t, scoped);
        assert.equal(claimsOf(renewed)['task'], task, 'a renewal keeps the task');
        await assertLive(scoped, task);
        const done = await t.call(
          { key: scoped },
          { method: 'POST', url: `/v1/tasks/${task}/complete` },
        );
        assert.equal(done.statusCode, 200, done.body);
        assert.equal(done.json<{ status: string }>().status, 'completed');
        await assertRefused(scoped, 'token_revoked', task);
        await assertRefused(renewed, 'token_revoked', task);
        await assertLive(general, task);
        assert.equal(
          await oauthError(exchange(t, await joinToken(t, worker.id), JOIN_TOKEN, { task })),
          'invalid_grant',
        );
        assert.equal(
          await oauthError(exchange(t, general, ACCESS_TOKEN, { task })),
          'invalid_grant',
        );
      });

      it('task revoked by an operator (kind task)', async () => {
        const task = await openTask(t, agent.id, 120);
        const scoped = await attest(t, agent.id, { task });
        const plain = await attest(t, agent.id);
        assert.equal(
          claimsOf(scoped).exp,
          Math.floor(t.clock.now() / 1000) + 120,
          'never past the deadline',
        );
        await assertLive(scoped, task);
        await revoke(t, { kind: 'task', task });
        await assertRefused(scoped, 'token_revoked', task);
        await assertLive(plain, task);
      });

      it('sweeping expired entries never brings a revoked token back', async () => {
        const task = await openTask(t, agent.id, 600);
        const tokens = [await attest(t, agent.id), await attest(t, agent.id, { task })];
        const [single, scoped] = tokens as [string, string];
        await postForm(t, '/oauth2/revoke', { token: single });
        await revoke(t, { kind: 'task', task });
        const entries = t.core.revocations.size();
        assert.equal(await t.core.revocations.sweep(), 0, 'nothing is due yet');
        t.clock.advance(700_000);
        assert.ok((await t.core.revocations.sweep()) >= 2);
        assert.ok(t.core.revocations.size() <= entries - 2);
        for (const token of tokens) assert.equal(verdict(t, token, 'steward'), 'token_expired');
        assert.equal(verdict(t, scoped), 'token_expired');
      });

      it('a token cached by the verifier is still refused the moment it is revoked', async () => {
        const token = await attest(t, agent.id);
        for (let i = 0; i < 3; i++) assert.equal(verdict(t, token, 'steward'), 'ok');
        await postForm(t, '/oauth2/revoke', { token });
        assert.equal(verdict(t, token, 'steward'), 'token_revoked');
      });
    });

    describe('join tokens', () => {
      it('replayed: refused with invalid_grant, and the session it started is revoked', async () => {
        const join = await joinToken(t, agent.id);
        const first = await issued(exchange(t, join, JOIN_TOKEN));
        const renewed = await renew(t, first);
        await assertLive(renewed);
        assert.equal(await oauthError(exchange(t, join, JOIN_TOKEN)), 'invalid_grant');
        await assertRefused(first, 'token_revoked');
        await assertRefused(renewed, 'token_revoked');
        assert.equal(await oauthError(exchange(t, renewed, ACCESS_TOKEN)), 'invalid_grant');
        // Steward revoked it on its own, through the one revoker, and said why in the trail.
        const trail = await api<{
          items: { target: { id: string }; actorRole: string; after: { reason: string } }[];
        }>(t, 'auditor', 'GET', '/v1/audit?type=revocation.session');
        const entry = trail.items.find((e) => e.target.id === claimsOf(first).sid);
        assert.equal(entry?.actorRole, 'system');
        assert.equal(entry.after.reason, 'join token replayed');
        // Other sessions of the identity are not the replay's business.
        await assertLive(await attest(t, agent.id));
      });

      it('raced: of five simultaneous uses exactly one wins, and its session is revoked as leaked', async () => {
        const join = await joinToken(t, agent.id);
        const responses = await Promise.all(
          Array.from({ length: 5 }, () => exchange(t, join, JOIN_TOKEN)),
        );
        const won = responses.filter((r) => r.statusCode === 200);
        assert.equal(won.length, 1, responses.map((r) => r.body).join('\n'));
        for (const lost of responses.filter((r) => r.statusCode !== 200)) {
          assert.equal(lost.statusCode, 400);
          assert.equal(lost.json<{ error: string }>().error, 'invalid_grant');
        }
        const winner = won[0]?.json<{ access_token: string }>().access_token ?? '';
        await assertRefused(winner, 'token_revoked');
      });

      it('expired: refused with invalid_grant', async () => {
        const join = await joinToken(t, agent.id, 60);
        t.clock.advance(61_000);
        assert.equal(await oauthError(exchange(t, join, JOIN_TOKEN)), 'invalid_grant');
      });

      it('garbage, or a well-formed token never issued: invalid_grant', async () => {
        const real = await joinToken(t, agent.id);
        for (const token of [
          'garbage',
          'stw_join_',
          `${real.slice(0, -4)}AAAA`,
          real.replace('stw_join_', 'stw_key_'),
        ]) {
          assert.equal(await oauthError(exchange(t, token, JOIN_TOKEN)), 'invalid_grant', token);
        }
        // None of these used up the real one.
        await issued(exchange(t, real, JOIN_TOKEN));
      });

      it('naming a task of another identity: invalid_request, and nothing is issued', async () => {
        const foreignTask = await openTask(t, other.id);
        const join = await joinToken(t, agent.id);
        assert.equal(
          await oauthError(exchange(t, join, JOIN_TOKEN, { task: foreignTask })),
          'invalid_request',
        );
        const token = await attest(t, agent.id);
        assert.equal(
          await oauthError(exchange(t, token, ACCESS_TOKEN, { task: foreignTask })),
          'invalid_request',
        );
        assert.equal(
          await oauthError(
            exchange(t, token, ACCESS_TOKEN, { task: '01J0000000000000000000000Z' }),
          ),
          'invalid_request',
        );
        // The workload cannot read, open or complete the other identity's tasks either.
        assert.equal(await workloadCall(t, token, foreignTask), 404);
        const opened = await t.call(
          { key: token },
          {
            method: 'POST',
            url: '/v1/tasks',
            payload: { identity: other.id, deadlineSeconds: 60 },
          },
        );
        assert.equal(opened.statusCode, 403, opened.body);
        const completed = await t.call(
          { key: token },
          { method: 'POST', url: `/v1/tasks/${foreignTask}/complete` },
        );
        assert.equal(completed.statusCode, 403, completed.body);
        const still = await api<{ status: string }>(
          t,
          'auditor',
          'GET',
          `/v1/tasks/${foreignTask}`,
        );
        assert.equal(still.status, 'open');
      });
    });

    describe('identity lifecycle and admission', () => {
      it('disabled: existing tokens refused at once, no new ones; re-enabled gets new ones', async () => {
        const worker = await createIdentity(t, 'refund-agent', 'disabled-worker');
        const task = await openTask(t, worker.id);
        const token = await attest(t, worker.id);
        const unusedJoin = await joinToken(t, worker.id);
        await assertLive(token, task);
        await api(
          t,
          'security',
          'POST',
          `/v1/identities/${worker.id}/disable`,
          { reason: 'suspicious' },
          200,
        );
        await assertRefused(token, 'token_revoked', task);
        assert.equal(await oauthError(exchange(t, unusedJoin, JOIN_TOKEN)), 'invalid_grant');
        assert.equal(await oauthError(exchange(t, token, ACCESS_TOKEN)), 'invalid_grant');
        const refusedJoin = await t.call('owner', {
          method: 'POST',
          url: `/v1/identities/${worker.id}/join-tokens`,
          payload: {},
        });
        assert.equal(refusedJoin.statusCode, 409, refusedJoin.body);

        await api(
          t,
          'security',
          'POST',
          `/v1/identities/${worker.id}/enable`,
          { reason: 'cleared' },
          200,
        );
        t.clock.advance(1_500);
        const fresh = await attest(t, worker.id);
        await assertLive(fresh, task);
        await assertRefused(token, 'token_revoked', task);
      });

      it('decommissioned: existing tokens refused, no new ones, for good', async () => {
        const worker = await createIdentity(t, 'refund-agent', 'decommissioned-worker');
        const task = await openTask(t, worker.id);
        const token = await attest(t, worker.id);
        const unusedJoin = await joinToken(t, worker.id);
        await api(
          t,
          'admin',
          'POST',
          `/v1/identities/${worker.id}/decommission`,
          { reason: 'retired' },
          200,
        );
        await assertRefused(token, 'token_revoked', task);
        t.clock.advance(2_000);
        assert.equal(await oauthError(exchange(t, unusedJoin, JOIN_TOKEN)), 'invalid_grant');
        assert.equal(await oauthError(exchange(t, token, ACCESS_TOKEN)), 'invalid_grant');
      });

      it('production identity of a service whose production admission was withdrawn: invalid_grant', async () => {
        await createService(t, 'payouts');
        await api(t, 'security', 'PUT', '/v1/services/payouts/admitted-environments', {
          environments: ['production'],
          reason: 'CAB-7',
        });
        const prod = await createIdentity(t, 'payouts', 'executor', { environment: 'production' });
        const token = await attest(t, prod.id);
        assert.equal(claimsOf(token)['environment'], 'production');
        assert.equal(claimsOf(token).sub, 'spiffe://example.test/production/payouts/executor');
        const join = await joinToken(t, prod.id);
        await api(t, 'security', 'PUT', '/v1/services/payouts/admitted-environments', {
          environments: [],
          reason: 'failed review',
        });
        assert.equal(await oauthError(exchange(t, join, JOIN_TOKEN)), 'invalid_grant');
        assert.equal(await oauthError(exchange(t, token, ACCESS_TOKEN)), 'invalid_grant');
      });
    });

    describe('the token endpoint', () => {
      it('unknown audience: invalid_target', async () => {
        const join = await joinToken(t, agent.id);
        assert.equal(
          await oauthError(exchange(t, join, JOIN_TOKEN, { audience: 'no-such-upstream' })),
          'invalid_target',
        );
        assert.equal(
          await oauthError(exchange(t, join, JOIN_TOKEN, { resource: 'https://elsewhere.test/' })),
          'invalid_target',
        );
        // The refusal did not use up the join token; the issuer URL names Steward too.
        const token = await issued(exchange(t, join, JOIN_TOKEN, { audience: TEST_ISSUER }));
        assert.equal(claimsOf(token).aud, 'steward');
      });

      it('renewal past the session maximum: invalid_grant, attest again', async () => {
        const worker = await createIdentity(t, 'refund-agent', 'short-session', {
          maxSessionSeconds: 600,
        });
        let token = await attest(t, worker.id);
        const sessionEnd = Number(claimsOf(token).iat) + 600;
        for (let i = 0; i < 3; i++) {
          t.clock.advance(190_000);
          token = await renew(t, token);
          assert.ok(Number(claimsOf(token).exp) <= sessionEnd, 'no renewal outlives the session');
        }
        assert.equal(claimsOf(token).exp, sessionEnd);
        t.clock.advance(sessionEnd * 1000 - t.clock.now() + 1_000);
        assert.equal(verdict(t, token, 'steward'), 'ok', 'still within the leeway');
        assert.equal(await oauthError(exchange(t, token, ACCESS_TOKEN)), 'invalid_grant');
        await attest(t, worker.id);
      });

      it('a duplicated parameter: invalid_request', async () => {
        const join = await joinToken(t, agent.id);
        const body = new URLSearchParams({
          grant_type: TOKEN_EXCHANGE,
          subject_token: join,
          subject_token_type: JOIN_TOKEN,
        });
        for (const duplicate of [
          'audience=steward&audience=crm',
          'audience=&audience=crm',
          'audience=crm&audience=',
          `subject_token=${join}`,
          `grant_type=${TOKEN_EXCHANGE}`,
        ]) {
          assert.equal(
            await oauthError(postForm(t, '/oauth2/token', `${body.toString()}&${duplicate}`)),
            'invalid_request',
            duplicate,
          );
        }
        await issued(postForm(t, '/oauth2/token', body.toString()));
      });

      it('unknown parameters are ignored (RFC 6749 §3.2), whatever their name', async () => {
        for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'scope']) {
          const join = await joinToken(t, agent.id);
          await issued(exchange(t, join, JOIN_TOKEN, { [name]: '1' }));
        }
      });

      it('a missing parameter or another grant, token type or requested type: the matching error', async () => {
        const join = await joinToken(t, agent.id);
        const full = {
          grant_type: TOKEN_EXCHANGE,
          subject_token: join,
          subject_token_type: JOIN_TOKEN,
        };
        const { subject_token: _s, ...noSubject } = full;
        const { subject_token_type: _y, ...noType } = full;
        assert.equal(await oauthError(postForm(t, '/oauth2/token', noSubject)), 'invalid_request');
        assert.equal(await oauthError(postForm(t, '/oauth2/token', noType)), 'invalid_request');
        assert.equal(
          await oauthError(
            postForm(t, '/oauth2/token', { ...full, grant_type: 'client_credentials' }),
          ),
          'unsupported_grant_type',
        );
        // Types are looked up in a table: a name inherited by every object is not one of them.
        for (const type of ['urn:ietf:params:oauth:token-type:saml2', 'constructor', '__proto__']) {
          assert.equal(
            await oauthError(postForm(t, '/oauth2/token', { ...full, subject_token_type: type })),
            'unsupported_token_type',
            type,
          );
        }
        assert.equal(
          await oauthError(
            postForm(t, '/oauth2/token', {
              ...full,
              requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
            }),
          ),
          'invalid_request',
        );
        assert.equal(
          await oauthError(postForm(t, '/oauth2/token', { ...full, expires_in: '5' })),
          'invalid_request',
        );
        await issued(postForm(t, '/oauth2/token', full));
      });

      it('after an immediate rotation, tokens of the old key still verify and renew', async () => {
        const token = await attest(t, agent.id);
        assert.ok(kidOf(token));
        await api(t, 'security', 'POST', '/v1/keys/rotate', { immediate: true });
        assert.notEqual(kidOf(await attest(t, agent.id)), kidOf(token));
        // Rotation does not withdraw the old key: its tokens still work until they expire.
        assert.equal(verdict(t, token, 'steward'), 'ok');
        assert.equal(kidOf(await renew(t, token)), kidOf(await attest(t, agent.id)));
      });
    });
  });
}
