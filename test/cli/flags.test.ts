/**
 * Flag values are checked before any request: what passes is sent in the form the API takes, and
 * what fails says which flag and why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  actor,
  agentPath,
  eventType,
  httpUrl,
  id,
  integer,
  name,
  time,
  UsageError,
} from '../../src/cli/flags.js';

function refuses(parse: (value: string) => unknown, value: string, message: RegExp): void {
  assert.throws(
    () => parse(value),
    (error: unknown) => error instanceof UsageError && message.test(error.message),
  );
}

describe('CLI flag values', () => {
  it('takes whole numbers in range and names the flag and its bounds otherwise', () => {
    const ttl = integer('--ttl-seconds', 60, 3600);
    assert.equal(ttl('600'), 600);
    for (const bad of ['-1', '59', '3601', '1.5', 'abc', '', '1e3']) {
      refuses(ttl, bad, /^--ttl-seconds must be a whole number from 60 to 3600, not "/);
    }
  });

  it('sends times as UTC ISO 8601, from a date, a date-time with offset, or an age', () => {
    const since = time('--since');
    assert.equal(since('2025-06-01'), '2025-06-01T00:00:00.000Z');
    assert.equal(since('2025-06-01T12:00:00+02:00'), '2025-06-01T10:00:00.000Z');
    const twoHoursAgo = Date.parse(since('2h'));
    assert.ok(Math.abs(Date.now() - 2 * 3_600_000 - twoHoursAgo) < 60_000);
    for (const bad of ['yesterday', '1', '2025-13-01', '99999999999d', '2h ago']) {
      refuses(since, bad, /^--since must be an ISO 8601 time/);
    }
  });

  it('holds names, agent paths, ids, actors, event types and URLs to the API rules', () => {
    assert.equal(name('--team')('payments'), 'payments');
    refuses(name('--team'), 'Payments', /^--team must be a name of lowercase letters/);
    refuses(name('--team'), '-payments', /^--team must be a name/);
    assert.equal(agentPath('--agent-path')('planner/search'), 'planner/search');
    refuses(agentPath('--agent-path'), 'planner//search', /^--agent-path must be one to eight/);
    const uuid = '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a';
    assert.equal(id('<id>', 'steward identity list')(uuid), uuid);
    refuses(id('<id>', 'steward identity list'), '../teams', /`steward identity list`/);
    assert.equal(actor('--actor')('system'), 'system');
    assert.equal(actor('--actor')(`apikey:${uuid}`), `apikey:${uuid}`);
    refuses(actor('--actor'), 'alice', /^--actor must be "system" or "apikey:<id>"/);
    assert.equal(eventType('--type')('identity.'), 'identity.');
    refuses(eventType('--type'), 'Identity Created', /^--type must be an event type/);
    assert.equal(
      httpUrl('--runbook-url')('https://wiki.example.com/x'),
      'https://wiki.example.com/x',
    );
    refuses(httpUrl('--runbook-url'), 'javascript:alert(1)', /^--runbook-url must be an http/);
  });
});
