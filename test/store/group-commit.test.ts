/** Group commit: callers share transactions, and none is acknowledged before its write. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createGroupCommit } from '../../src/store/index.js';

describe('group commit', () => {
  it('writes concurrent submissions in shared batches and resolves each after its batch', async () => {
    const batches: number[][] = [];
    const committed = new Set<number>();
    const commits = createGroupCommit<number>({
      maxBatch: 10,
      write: async (items) => {
        batches.push([...items]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        for (const item of items) committed.add(item);
      },
    });
    await Promise.all(
      Array.from({ length: 25 }, async (_, i) => {
        await commits.submit(i);
        // Acknowledged only once durable.
        assert.ok(committed.has(i), `item ${i} acknowledged before its batch committed`);
      }),
    );
    assert.deepEqual(
      batches.flat().sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i),
    );
    assert.ok(batches.length <= 3, `25 items took ${batches.length} batches`);
    assert.ok(batches.every((batch) => batch.length <= 10));
  });

  it('rejects every caller of a failed batch, and only them', async () => {
    let calls = 0;
    const commits = createGroupCommit<string>({
      maxBatch: 2,
      write: async (items) => {
        calls += 1;
        if (items.includes('bad')) throw new Error('disk full');
      },
    });
    const results = await Promise.allSettled([
      commits.submit('bad'),
      commits.submit('unlucky'),
      commits.submit('fine'),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'fulfilled'],
    );
    assert.equal(calls, 2);
    await commits.drain();
  });
  it('lets an item nobody waits on ride with the next submission, or writes it after lingering', async () => {
    const batches: string[][] = [];
    const commits = createGroupCommit<string>({
      maxBatch: 10,
      lingerMs: 30,
      write: async (items) => {
        batches.push([...items]);
      },
    });
    // Alone, it waits for company...
    const alone = commits.submitLater('outcome-1');
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(batches, []);
    // ...and rides with the next submission, in one transaction.
    await commits.submit('decision-2');
    await alone;
    assert.deepEqual(batches, [['outcome-1', 'decision-2']]);
    // With none coming, it is written once the linger is over.
    const started = performance.now();
    await commits.submitLater('outcome-2');
    assert.ok(performance.now() - started >= 25, 'written before the linger was over');
    assert.deepEqual(batches.at(-1), ['outcome-2']);
  });

  it('drains what lingers at once, without waiting for the linger (shutdown)', async () => {
    const written: string[] = [];
    const commits = createGroupCommit<string>({
      maxBatch: 10,
      lingerMs: 60_000,
      write: async (items) => {
        written.push(...items);
      },
    });
    const late = commits.submitLater('outcome');
    await commits.drain();
    await late;
    assert.deepEqual(written, ['outcome']);
  });
});

describe('group commit under a stalled store', () => {
  it('withdraws an item whose caller gave up while it waited, and never writes it', async () => {
    const written: string[] = [];
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const commits = createGroupCommit<string>({
      maxBatch: 10,
      write: async (items) => {
        await stalled;
        written.push(...items);
      },
    });
    // The first item's batch is being written (and hangs); the others wait for the next one.
    const inFlight = commits.submit('in-flight');
    await new Promise((resolve) => setImmediate(resolve));
    const gaveUp = new AbortController();
    const abandoned = commits.submit('abandoned', gaveUp.signal);
    const kept = commits.submit('kept', new AbortController().signal);
    assert.equal(commits.queued(), 2);
    gaveUp.abort(new Error('caller gave up'));
    await assert.rejects(abandoned, /caller gave up/);
    assert.equal(commits.queued(), 1);
    release();
    await Promise.all([inFlight, kept]);
    await commits.drain();
    assert.deepEqual(written, ['in-flight', 'kept']);
  });

  it('does not withdraw an item already in a batch: it commits, and its caller hears so', async () => {
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const written: string[] = [];
    const commits = createGroupCommit<string>({
      maxBatch: 10,
      write: async (items) => {
        await stalled;
        written.push(...items);
      },
    });
    const gaveUp = new AbortController();
    const submitted = commits.submit('late', gaveUp.signal);
    await new Promise((resolve) => setImmediate(resolve));
    gaveUp.abort(new Error('too late to withdraw'));
    release();
    await submitted;
    assert.deepEqual(written, ['late']);
  });

  it('refuses an item at once when the queue is full, and one whose signal is aborted already', async () => {
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const commits = createGroupCommit<number>({
      maxBatch: 1,
      maxQueued: 3,
      write: () => stalled,
    });
    const accepted = [commits.submit(0)];
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 1; i <= 3; i++) accepted.push(commits.submit(i));
    await assert.rejects(commits.submit(4), { name: 'GroupCommitFullError' });
    await assert.rejects(commits.submitLater(5), { name: 'GroupCommitFullError' });
    const aborted = new AbortController();
    aborted.abort(new Error('gone before it came'));
    await assert.rejects(commits.submit(6, aborted.signal), /gone before it came/);
    release();
    await Promise.all(accepted);
    await commits.drain();
  });
});
