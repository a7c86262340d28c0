/**
 * Group commit: many callers' writes, one transaction. Each caller's promise settles only when
 * the transaction holding its item has committed (or failed), so nothing is acknowledged before
 * it is durable; what is saved is the per-transaction cost (BEGIN, COMMIT and its flush to disk),
 * which under load is paid once for a whole batch instead of once per caller.
 *
 * Batches form naturally: items that arrive while a batch is being written wait for the next
 * one, so a lone caller pays no added delay beyond one turn of the event loop.
 *
 * When the database stalls, waiting items are bounded twice: a caller may withdraw its item while
 * it still waits for a batch (its `signal`), and the queue refuses items beyond `maxQueued`, so a
 * stall neither grows memory without end nor releases a flood of stale writes when it ends.
 */
export interface GroupCommit<T> {
  /**
   * Resolves once `item` is committed; rejects with the batch's error if its write failed. With
   * `signal`, aborting it while the item still waits for a batch withdraws the item (never
   * written) and rejects with the signal's reason; an item already in a batch is not withdrawn.
   * Rejects at once with {@link GroupCommitFullError} when `maxQueued` items are waiting.
   */
  submit(item: T, signal?: AbortSignal): Promise<void>;
  /**
   * Like `submit`, for an item nobody is waiting on: it does not start a transaction of its own
   * but rides with the next `submit`, or is written when `lingerMs` have passed without one. Under
   * load this halves the transactions of a caller that writes one item it waits for and one it
   * does not (the gateway's decision and outcome records).
   */
  submitLater(item: T): Promise<void>;
  /** Items waiting for a batch (not those being written). */
  queued(): number;
  /** Resolves when everything submitted so far has been written (or has failed). */
  drain(): Promise<void>;
}

/** The queue of a group commit is full: the database has not kept up, so the item is refused. */
export class GroupCommitFullError extends Error {
  constructor(readonly limit: number) {
    super(`group commit: ${limit} items are already waiting to be written`);
    this.name = 'GroupCommitFullError';
  }
}

/** The default bound on waiting items. */
const MAX_QUEUED = 10_000;

export function createGroupCommit<T>(options: {
  /** Writes one batch, in one transaction. */
  write(items: readonly T[]): Promise<void>;
  /** Largest batch per transaction; bounded so one statement stays within parameter limits. */
  maxBatch: number;
  /** How long a `submitLater` item may wait for company before it is written alone (default 20). */
  lingerMs?: number;
  /** How many items may wait for a batch before `submit` refuses more (default 10,000). */
  maxQueued?: number;
}): GroupCommit<T> {
  interface Pending {
    readonly item: T;
    resolve(): void;
    reject(error: unknown): void;
  }
  const maxQueued = options.maxQueued ?? MAX_QUEUED;
  // A Set keeps arrival order and lets a withdrawn item leave in constant time.
  const queue = new Set<Pending>();
  let running: Promise<void> | undefined;

  function takeBatch(): Pending[] {
    const batch: Pending[] = [];
    for (const pending of queue) {
      queue.delete(pending);
      batch.push(pending);
      if (batch.length >= options.maxBatch) break;
    }
    return batch;
  }

  async function flushAll(): Promise<void> {
    // Let the callers of this turn of the event loop join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.size > 0) {
      const batch = takeBatch();
      try {
        await options.write(batch.map((pending) => pending.item));
        for (const pending of batch) pending.resolve();
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
  }

  let lingering: NodeJS.Timeout | undefined;
  /**
   * A `submit` since the running flush began: its item may have arrived after the flush's last
   * batch, and must not be left to linger.
   */
  let urgent = false;

  function start(): void {
    if (lingering !== undefined) {
      clearTimeout(lingering);
      lingering = undefined;
    }
    if (running !== undefined) return;
    urgent = false;
    running = flushAll().finally(() => {
      running = undefined;
      if (urgent && queue.size > 0) start();
      else if (queue.size > 0) linger();
    });
  }

  function linger(): void {
    if (lingering !== undefined || running !== undefined) return;
    // Not unref'd: a process with records waiting stays up the few milliseconds it takes.
    lingering = setTimeout(start, options.lingerMs ?? 20);
  }

  /** Queues `item`; false when it was refused (and its promise rejected). */
  function enqueue(
    item: T,
    resolve: () => void,
    reject: (error: unknown) => void,
    signal?: AbortSignal,
  ): boolean {
    if (signal?.aborted) {
      reject(signal.reason);
      return false;
    }
    if (queue.size >= maxQueued) {
      reject(new GroupCommitFullError(maxQueued));
      return false;
    }
    if (signal === undefined) {
      queue.add({ item, resolve, reject });
      return true;
    }
    const pending: Pending = {
      item,
      resolve() {
        signal.removeEventListener('abort', withdraw);
        resolve();
      },
      reject(error) {
        signal.removeEventListener('abort', withdraw);
        reject(error);
      },
    };
    function withdraw(): void {
      // Still waiting: it leaves the queue and is never written. In a batch: too late.
      if (queue.delete(pending)) reject(signal?.reason);
    }
    signal.addEventListener('abort', withdraw, { once: true });
    queue.add(pending);
    return true;
  }

  return {
    submit(item, signal) {
      return new Promise<void>((resolve, reject) => {
        if (!enqueue(item, resolve, reject, signal)) return;
        urgent = true;
        start();
      });
    },
    submitLater(item) {
      return new Promise<void>((resolve, reject) => {
        if (enqueue(item, resolve, reject)) linger();
      });
    },
    queued: () => queue.size,
    async drain() {
      // What lingers is written now, not at the end of its linger.
      while (running !== undefined || queue.size > 0) {
        if (running === undefined) start();
        await running;
      }
    },
  };
}
