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
  /** Resolves when everything submitted so far has been written (or has failed). */
  drain(): Promise<void>;
}

export function createGroupCommit<T>(options: {
  /** Writes one batch, in one transaction. */
  write(items: readonly T[]): Promise<void>;
  /** Largest batch per transaction; bounded so one statement stays within parameter limits. */
  maxBatch: number;
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

  function start(): void {
    running ??= flushAll().finally(() => {
      running = undefined;
      if (queue.length > 0) start();
    });
  }

  return {
    submit(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        start();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
