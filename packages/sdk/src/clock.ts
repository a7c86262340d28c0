/**
 * The agent's time source, in milliseconds since the Unix epoch. Injected so that renewal can be
 * tested by moving time forward instead of sleeping.
 *
 * @example
 * let now = Date.now();
 * const clock: Clock = { now: () => now };
 * const agent = new StewardAgent({ url, joinToken, clock });
 * now += 4 * 60_000; // the next agent.token() renews
 */
export interface Clock {
  now(): number;
}

/** The real time. */
export const systemClock: Clock = { now: () => Date.now() };
