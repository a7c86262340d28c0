/**
 * The agent SDK against a real Steward (issue 3, part 8): bootstrap from a join token or a token
 * file, renewal before expiry with jitter, one exchange for concurrent callers, task-scoped
 * tokens that die with their task, re-attestation when a session ends, and clear errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { StewardAgent, StewardAuthError } from '@steward/sdk';
import { claimsOf, recordingFetch, startSteward, type TestSteward } from './steward.js';

const JOIN = 'urn:steward:token-type:join-token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const RENEWAL = 'urn:ietf:params:oauth:token-type:access_token';
const SECOND = 1000;

describe('the agent SDK against a real Steward', () => {
  let steward: TestSteward;
  const agents: StewardAgent[] = [];
  const dirs: string[] = [];

  /** An agent on the shared clock, recording its exchanges; closed after the suite. */
  function agentWith(
    attest: { joinToken: string } | { tokenFile: string },
    extra: { audience?: string } = {},
  ) {
    const recorder = recordingFetch();
    const agent = new StewardAgent({
      url: steward.url,
      ...attest,
      ...extra,
      clock: steward.clock,
      fetch: recorder.fetch,
    });
    agents.push(agent);
    return { agent, exchanges: recorder.exchanges };
  }

  before(async () => {
    steward = await startSteward();
  });
  after(async () => {
    for (const agent of agents) agent.close();
    await steward.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('bootstraps from a join token and calls the API with its own token', async () => {
    const identity = await steward.identity();
    const { agent, exchanges } = agentWith({ joinToken: await steward.joinToken(identity.id) });

    const me = await agent.start();
    assert.equal(me.id, identity.id);
    assert.equal(me.spiffeId, identity.spiffeId);
    assert.equal(me.environment, 'sandbox');
    assert.equal(exchanges.length, 1);
    assert.equal(exchanges[0]?.get('subject_token_type'), JOIN);
    assert.equal(exchanges[0]?.get('audience'), 'steward');

    const task = await steward.admin<{ id: string }>('POST', '/v1/tasks', {
      identity: identity.id,
      deadlineSeconds: 600,
    });
    const response = await agent.fetch(`/v1/tasks/${task.id}`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { id: string }).id, task.id);
    const absolute = await agent.fetch(`${steward.url}/v1/tasks/${task.id}`, { method: 'GET' });
    assert.equal(absolute.status, 200);
    assert.equal(exchanges.length, 1, 'the held token served every call');

    // An explicit credential is neither replaced nor dropped: the call is refused before sending.
    await assert.rejects(
      agent.fetch(`/v1/tasks/${task.id}`, { headers: { Authorization: 'Bearer mine' } }),
      (error: unknown) => error instanceof TypeError && /Authorization header/.test(error.message),
    );
  });

  it('renews between 75 % and 85 % of the lifetime, from its current token, in the same session', async () => {
    const identity = await steward.identity();
    const { agent, exchanges } = agentWith({ joinToken: await steward.joinToken(identity.id) });

    const first = await agent.token();
    const lifetime = (claimsOf(first)['exp'] as number) - (claimsOf(first)['iat'] as number);
    assert.equal(lifetime, 300);

    steward.clock.advance(0.74 * lifetime * SECOND);
    assert.equal(await agent.token(), first, 'before 75 %: the held token');
    assert.equal(exchanges.length, 1);

    steward.clock.advance(0.12 * lifetime * SECOND); // 86 %: past any jitter
    const renewed = await agent.token();
    assert.notEqual(renewed, first);
    assert.equal(exchanges.length, 2);
    assert.equal(exchanges[1]?.get('subject_token_type'), RENEWAL);
    assert.equal(exchanges[1]?.get('subject_token'), first, 'renewed from the current token');

    const before = await steward.introspect(first);
    const now = await steward.introspect(renewed);
    assert.equal(now['active'], true);
    assert.equal(now['sid'], before['sid'], 'the same session');
    assert.equal(now['client_id'], identity.id);
  });

  it('makes one exchange for concurrent requests, per audience', async () => {
    const identity = await steward.identity();
    const { agent, exchanges } = agentWith({ joinToken: await steward.joinToken(identity.id) });

    const tokens = await Promise.all(Array.from({ length: 10 }, () => agent.token()));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(exchanges.length, 1);

    steward.clock.advance(290 * SECOND);
    const renewed = await Promise.all(Array.from({ length: 10 }, () => agent.token()));
    assert.equal(new Set(renewed).size, 1);
    assert.notEqual(renewed[0], tokens[0]);
    assert.equal(exchanges.length, 2);

    // The issuer URL is another name Steward accepts for its own audience: a separate slot.
    const metadata = await fetch(`${steward.url}/.well-known/oauth-authorization-server`);
    const { issuer } = (await metadata.json()) as { issuer: string };
    const other = await Promise.all(Array.from({ length: 5 }, () => agent.token(issuer)));
    assert.equal(new Set(other).size, 1);
    assert.notEqual(other[0], renewed[0]);
    assert.equal(exchanges.length, 3);
    assert.equal(exchanges[2]?.get('audience'), issuer);
    assert.equal(await agent.token(), renewed[0], 'the steward token is still held');

    await assert.rejects(agent.token('no-such-upstream'), (error: unknown) => {
      assert.ok(error instanceof StewardAuthError);
      assert.equal(error.code, 'invalid_target');
      assert.equal(error.grant, 'renewal');
      assert.equal(error.status, 400);
      return true;
    });
  });

  it('opens and completes a task; its tokens are refused afterwards', async () => {
    const identity = await steward.identity();
    const { agent } = agentWith({ joinToken: await steward.joinToken(identity.id) });

    const task = await agent.openTask({ deadlineSeconds: 600, description: 'sdk test task' });
    assert.equal(task.description, 'sdk test task');
    const taskToken = await task.token();
    assert.equal(claimsOf(taskToken)['task'], task.id);
    assert.equal(await task.token(), taskToken, 'held like any other token');
    assert.equal(
      claimsOf(await agent.token())['task'],
      undefined,
      "the agent's own stays task-free",
    );
    const seen = await steward.introspect(taskToken);
    assert.equal(seen['active'], true);
    assert.equal(seen['task'], task.id);

    const read = await task.fetch(`/v1/tasks/${task.id}`);
    assert.equal(read.status, 200);

    const done = await task.complete();
    assert.equal(done.status, 'completed');
    assert.deepEqual(await steward.introspect(taskToken), { active: false });
    await assert.rejects(task.token(), /has been completed/);
    assert.equal((await agent.fetch(`/v1/tasks/${task.id}`)).status, 200, 'the agent carries on');

    // A task opened by someone else for this agent is reachable by id.
    const opened = await steward.admin<{ id: string }>('POST', '/v1/tasks', {
      identity: identity.id,
      deadlineSeconds: 60,
    });
    const handle = await agent.task(opened.id);
    assert.equal(claimsOf(await handle.token())['task'], opened.id);
  });

  describe('from a token file through a federation trust', () => {
    const issuer = 'https://ci.example.com';
    const audience = 'steward-sdk-test';
    let privateKey: CryptoKey;
    let file: string;
    let identityId: string;

    /** A platform token, as a CI system or the kubelet would write it. */
    async function platformToken(lifetimeSeconds: number, ref: string): Promise<string> {
      const now = Math.floor(steward.clock.now() / SECOND);
      return new SignJWT({ ref })
        .setProtectedHeader({ alg: 'ES256', kid: 'ci-1' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('repo:acme/agent:ref:refs/heads/main')
        .setIssuedAt(now)
        .setExpirationTime(now + lifetimeSeconds)
        .sign(privateKey);
    }

    before(async () => {
      const keys = await generateKeyPair('ES256', { extractable: true });
      privateKey = keys.privateKey;
      const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'ci-1', alg: 'ES256', use: 'sig' };
      const identity = await steward.identity({ maxSessionSeconds: 300 });
      identityId = identity.id;
      await steward.admin('POST', '/v1/federation/trusts', {
        name: 'sdk-ci',
        issuer,
        jwks: { keys: [jwk] },
        audience,
        conditions: { sub: 'repo:acme/agent:*' },
        identity: identity.id,
      });
      const dir = mkdtempSync(path.join(tmpdir(), 'steward-sdk-file-'));
      dirs.push(dir);
      file = path.join(dir, 'token');
    });

    it('re-reads the file to start a new session when the old one ends or is revoked', async () => {
      const first = await platformToken(120, 'first');
      writeFileSync(file, `${first}\n`);
      const { agent, exchanges } = agentWith({ tokenFile: file });
      assert.equal((await agent.start()).id, identityId);
      assert.equal(exchanges[0]?.get('subject_token_type'), JWT);
      assert.equal(exchanges[0]?.get('subject_token'), first, 'the file, trimmed');
      const sessionOne = claimsOf(await agent.token())['sid'];

      // Past the identity's 300 s session: every token and the first platform token expired.
      steward.clock.advance(400 * SECOND);
      const second = await platformToken(600, 'second');
      writeFileSync(file, second);
      const afterExpiry = await agent.token();
      assert.equal(exchanges.at(-1)?.get('subject_token'), second, 'the file was read again');
      const sessionTwo = claimsOf(afterExpiry)['sid'];
      assert.notEqual(sessionTwo, sessionOne);

      // The whole session is revoked: the renewal is refused and the agent attests again.
      await steward.admin('POST', '/v1/revocations', {
        kind: 'lineage',
        jti: sessionTwo,
        reason: 'sdk test: end the session',
      });
      const third = await platformToken(600, 'third');
      writeFileSync(file, third);
      const count = exchanges.length;
      steward.clock.advance(260 * SECOND);
      const afterRevocation = await agent.token();
      assert.deepEqual(
        exchanges.slice(count).map((form) => form.get('subject_token_type')),
        [RENEWAL, JWT],
      );
      assert.equal(exchanges.at(-1)?.get('subject_token'), third);
      assert.notEqual(claimsOf(afterRevocation)['sid'], sessionTwo);
      assert.equal((await steward.introspect(afterRevocation))['active'], true);
    });

    it('answers a 401 by sending the request once more with a fresh token', async () => {
      writeFileSync(file, await platformToken(600, 'retry'));
      const { agent, exchanges } = agentWith({ tokenFile: file });
      const held = await agent.token();
      const task = await steward.admin<{ id: string }>('POST', '/v1/tasks', {
        identity: identityId,
        deadlineSeconds: 600,
      });
      await steward.admin('POST', '/v1/revocations', {
        kind: 'token',
        jti: claimsOf(held)['jti'],
        reason: 'sdk test: revoke the held token',
      });
      const count = exchanges.length;
      const response = await agent.fetch(`/v1/tasks/${task.id}`);
      assert.equal(response.status, 200);
      assert.deepEqual(
        exchanges.slice(count).map((form) => form.get('subject_token_type')),
        [RENEWAL, JWT],
        'the revoked token could not be renewed, so the agent attested again',
      );
      assert.notEqual(await agent.token(), held);
    });

    it('reports a token file it cannot read', async () => {
      const { agent } = agentWith({ tokenFile: `${file}.missing` });
      await assert.rejects(agent.token(), (error: unknown) => {
        assert.ok(error instanceof StewardAuthError);
        assert.equal(error.code, 'token_file_unreadable');
        assert.equal(error.grant, 'token_file');
        return true;
      });
    });
  });

  it('explains a join token used twice, and a join-token session that cannot go on', async () => {
    const identity = await steward.identity();
    const joinToken = await steward.joinToken(identity.id);
    const { agent: first } = agentWith({ joinToken });
    await first.start();

    const { agent: second, exchanges } = agentWith({ joinToken });
    const refused = await second.token().then(
      () => assert.fail('a used join token was accepted'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof StewardAuthError);
    assert.equal(refused.code, 'invalid_grant');
    assert.equal(refused.grant, 'join_token');
    assert.equal(refused.status, 400);
    assert.match(refused.message, /already used/);
    assert.match(refused.message, /join token works once/);
    assert.ok(!refused.message.includes(joinToken), 'the message never holds the token');
    // The agent does not send the spent join token again, and still says why.
    await assert.rejects(second.token(), /already used/);
    assert.equal(exchanges.length, 1);

    // The replay told Steward the join token leaked, so it revoked the session it started: the
    // first agent cannot renew, and a join token cannot start another session.
    steward.clock.advance(290 * SECOND);
    await assert.rejects(first.token(), (error: unknown) => {
      assert.ok(error instanceof StewardAuthError);
      assert.equal(error.code, 'invalid_grant');
      assert.equal(error.grant, 'renewal');
      assert.match(error.message, /new join token/);
      return true;
    });
  });

  it('stops when closed', async () => {
    const identity = await steward.identity();
    const { agent } = agentWith({ joinToken: await steward.joinToken(identity.id) });
    await agent.token();
    agent.close();
    await assert.rejects(agent.token(), /closed/);
  });

  it('refuses a configuration that is not one way to attest', () => {
    const url = steward.url;
    assert.throws(
      () => new StewardAgent({ url, joinToken: 'a', tokenFile: 'b' } as never),
      /exactly one of joinToken and tokenFile/,
    );
    assert.throws(() => new StewardAgent({ url } as never), /exactly one/);
    assert.throws(() => new StewardAgent({ url, joinToken: 'a', renewAfter: 1 }), /renewAfter/);
    assert.throws(
      () => new StewardAgent({ url, joinToken: 'a', expiresInSeconds: 10 }),
      /at least 30/,
    );
  });
});
