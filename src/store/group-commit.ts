/**
 * Group commit: many callers' writes, one transaction. Each caller's promise settles only when
 * the transaction holding its item has committed (or failed), so nothing is acknowledged before
 * it is durable; what is saved is the per-transaction cost (BEGIN, COMMIT and its flush to disk),
 * which under load is paid once for a whole batch instead of once per caller.
 *
 * Batches form naturally: items that arrive while a batch is being written wait for the next
 * one, so a lone caller pays no added delay beyond one turn of the event loop.
 */
export interface GroupCommit<T> {
  /** Resolves once `item` is committed; rejects with the batch's error if its write failed. */
  submit(item: T): Promise<void>;
  /**
   * Like `submit`, for an item nobody is waiting on: it does not start a transaction of its own
   * but rides with the next `submit`, or is written when `lingerMs` have passed without one. Under
   * load this halves the transactions of a caller that writes one item it waits for and one it
   * does not (the gateway's decision and outcome records).
   */
  submitLater(item: T): Promise<void>;
  /** Resolves when everything submitted so far has been written (or has failed). */
  drain(): Promise<void>;
}

export function createGroupCommit<T>(options: {
  /** Writes one batch, in one transaction. */
  write(items: readonly T[]): Promise<void>;
  /** Largest batch per transaction; bounded so one statement stays within parameter limits. */
  maxBatch: number;
  /** How long a `submitLater` item may wait for company before it is written alone (default 20). */
  lingerMs?: number;
}): GroupCommit<T> {
  interface Pending {
    readonly item: T;
    resolve(): void;
    reject(error: unknown): void;
  }
  let queue: Pending[] = [];
  let running: Promise<void> | undefined;

  async function flushAll(): Promise<void> {
    // Let the callers of this turn of the event loop join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = queue.slice(0, options.maxBatch);
      queue = queue.slice(batch.length);
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
      if (urgent) start();
      else if (queue.length > 0) linger();
    });
  }

  function linger(): void {
    if (lingering !== undefined || running !== undefined) return;
    // Not unref'd: a process with records waiting stays up the few milliseconds it takes.
    lingering = setTimeout(start, options.lingerMs ?? 20);
  }

  return {
    submit(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        urgent = true;
        start();
      });
    },
    submitLater(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        linger();
      });
    },
    async drain() {
      // What lingers is written now, not at the end of its linger.
      while (running !== undefined || queue.length > 0) {
        if (running === undefined) start();
        await running;
      }
    },
  };
}
