/** The time source, injected so that expiry and ordering can be tested without sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A timestamp as stored and returned: ISO 8601 in UTC with millisecond precision. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
