import type { Clock } from '../../src/shared/clock.js';

/** A clock that moves only when told: expiry is tested by advancing it, never by sleeping. */
export class ManualClock implements Clock {
  constructor(private ms: number = Date.parse('2026-01-01T00:00:00.000Z')) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
