/**
 * A call's deadline for its waits on the store: the gateway refuses a call rather than forward it
 * after its caller may have given up (and retried). Measured on the monotonic clock
 * (`performance.now()`), not the injected wall clock: it bounds real waits, not token lifetimes.
 */
export interface Deadline {
  /** Aborted when the deadline passes, with a {@link DeadlineExceeded} reason. */
  readonly signal: AbortSignal;
  /** When it passes, on the `performance.now()` time line. */
  readonly endsAt: number;
  /**
   * True once it has passed, by the clock as well as by the timer: after the event loop was
   * blocked (a synchronous write stalled on the disk) the timer has not fired yet.
   */
  passed(): boolean;
  /** `pending`'s result, or a rejection with {@link DeadlineExceeded} if the deadline passes first. */
  wait<T>(pending: Promise<T>): Promise<T>;
  /** Stops the timer; call once the work it bounds is over. */
  release(): void;
}

/** A wait on the store outlasted the call's deadline. */
export class DeadlineExceeded extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the store did not answer within ${timeoutMs} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/** A deadline `timeoutMs` after `from` (default: now), on the `performance.now()` time line. */
export function startDeadline(timeoutMs: number, from = performance.now()): Deadline {
  const controller = new AbortController();
  const endsAt = from + timeoutMs;
  const expire = (): void => controller.abort(new DeadlineExceeded(timeoutMs));
  let timer: NodeJS.Timeout | undefined = setTimeout(
    expire,
    Math.max(0, endsAt - performance.now()),
  );
  const passed = (): boolean => {
    if (!controller.signal.aborted && performance.now() >= endsAt) expire();
    return controller.signal.aborted;
  };
  return {
    signal: controller.signal,
    endsAt,
    passed,
    wait<T>(pending: Promise<T>): Promise<T> {
      if (passed()) {
        // Nobody waits for it any more; its failure must not become an unhandled rejection.
        pending.catch(() => {});
        return Promise.reject(controller.signal.reason as Error);
      }
      return new Promise<T>((resolve, reject) => {
        const onAbort = (): void => reject(controller.signal.reason as Error);
        controller.signal.addEventListener('abort', onAbort, { once: true });
        pending
          .finally(() => controller.signal.removeEventListener('abort', onAbort))
          .then(resolve, reject);
      });
    },
    release() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * `pending`, or a rejection with {@link DeadlineExceeded} if it outlasts `timeoutMs` counted from
 * `from` (default: now): one bounded wait, its timer released either way.
 */
export async function waitWithin<T>(
  timeoutMs: number,
  pending: Promise<T>,
  from?: number,
): Promise<T> {
  const deadline = startDeadline(timeoutMs, from);
  try {
    return await deadline.wait(pending);
  } finally {
    deadline.release();
  }
}
