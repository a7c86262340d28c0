import { clearTimeout, setTimeout } from 'node:timers';
import type { AttestationSource } from './attestation.js';
import type { Clock } from './clock.js';
import { StewardApiError, StewardAuthError, StewardUnreachableError } from './errors.js';
import { STEWARD_AUDIENCE } from './protocol.js';
import { MIN_RENEWAL_DELAY_MS, renewalTime, type RenewalPolicy } from './renewal.js';
import {
  exchangeToken,
  TOKEN_TYPES,
  type IssuedToken,
  type TokenEndpoint,
} from './token-endpoint.js';

/** A token the agent holds, with the local times that govern it. */
interface HeldToken {
  readonly token: string;
  readonly expiresAtMs: number;
  readonly renewAtMs: number;
}

/** One (audience, task) pair: at most one held token and at most one exchange in flight. */
interface Slot {
  readonly key: string;
  readonly audience: string;
  readonly task: string | undefined;
  held: HeldToken | undefined;
  inflight: Promise<HeldToken> | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface TokenKeeperOptions {
  readonly endpoint: TokenEndpoint;
  readonly attestation: AttestationSource;
  readonly clock: Clock;
  readonly policy: RenewalPolicy;
  /** The audience whose token a task token is exchanged from when none is held for the task. */
  readonly anchorAudience: string;
  readonly expiresInSeconds: number | undefined;
  /** Renew on timers, so that an idle agent's session stays alive (join tokens cannot restart it). */
  readonly background: boolean;
}

/** Node's timers take at most a signed 32-bit number of milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A failed background renewal is retried at most this long after, while the old token lasts. */
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Keeps one valid access token per (audience, task): hands out the held token until its renewal
 * time, renews it by exchanging a held token (the same session), coalesces concurrent requests
 * into one exchange, and attests again when no held token is accepted any more.
 */
export class TokenKeeper {
  readonly #options: TokenKeeperOptions;
  readonly #slots = new Map<string, Slot>();
  /** Why the last attestation was refused: repeated when there is nothing left to attest with. */
  #attestRefusal: StewardAuthError | undefined;
  #closed = false;

  constructor(options: TokenKeeperOptions) {
    this.#options = options;
  }

  /**
   * A token for `audience` (and `task`). `rejected` is a token a server has just refused: if it
   * is still the held one, a new one is obtained even before the renewal time.
   */
  async get(audience: string, task?: string, rejected?: string): Promise<string> {
    if (this.#closed) throw new Error('The Steward agent is closed.');
    const slot = this.#slot(audience, task);
    const held = slot.held;
    if (held !== undefined && held.token !== rejected && this.#now() < held.renewAtMs) {
      return held.token;
    }
    const force = rejected !== undefined && held?.token === rejected;
    return (await this.#refresh(slot, force)).token;
  }

  /** Drops every token of a task (it was completed: they are revoked) and stops their renewal. */
  forgetTask(task: string): void {
    for (const slot of [...this.#slots.values()]) {
      if (slot.task !== task) continue;
      this.#clearTimer(slot);
      this.#slots.delete(slot.key);
    }
  }

  /** Stops every timer and forgets every token. */
  close(): void {
    this.#closed = true;
    for (const slot of this.#slots.values()) this.#clearTimer(slot);
    this.#slots.clear();
  }

  #now(): number {
    return this.#options.clock.now();
  }

  #slot(audience: string, task: string | undefined): Slot {
    // A NUL cannot appear in an audience or task id sent in a form, so keys never collide.
    const key = `${audience}\u0000${task ?? ''}`;
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = { key, audience, task, held: undefined, inflight: undefined, timer: undefined };
      this.#slots.set(key, slot);
    }
    return slot;
  }

  #usable(held: HeldToken): boolean {
    return this.#now() < held.expiresAtMs - this.#options.policy.expiryMarginMs;
  }

  /** Joins the exchange in flight for this slot, or starts one. */
  #refresh(slot: Slot, force: boolean): Promise<HeldToken> {
    if (slot.inflight !== undefined) return slot.inflight;
    const run = this.#renew(slot, force).finally(() => {
      if (slot.inflight === run) slot.inflight = undefined;
    });
    slot.inflight = run;
    return run;
  }

  async #renew(slot: Slot, force: boolean): Promise<HeldToken> {
    const previous = slot.held;
    // The lifetime counts from before the request, so the local expiry is never later than the
    // server's, whatever the request's latency.
    const startedAt = this.#now();
    try {
      const issued = await this.#obtain(slot);
      const lifetimeMs = issued.expiresInSeconds * 1000;
      const held: HeldToken = {
        token: issued.accessToken,
        expiresAtMs: startedAt + lifetimeMs,
        renewAtMs: renewalTime(startedAt, lifetimeMs, this.#options.policy),
      };
      if (!this.#closed && this.#slots.get(slot.key) === slot) {
        slot.held = held;
        this.#schedule(slot, held.renewAtMs);
      }
      return held;
    } catch (error) {
      // Steward briefly unavailable while the current token still has life: keep using it and
      // try again soon, rather than failing a call that would have worked.
      if (
        !force &&
        previous !== undefined &&
        slot.held === previous &&
        this.#usable(previous) &&
        isTransient(error)
      ) {
        const left = previous.expiresAtMs - this.#options.policy.expiryMarginMs - this.#now();
        this.#schedule(slot, this.#now() + Math.min(MAX_RETRY_DELAY_MS, left / 4));
        return previous;
      }
      throw error;
    }
  }

  async #obtain(slot: Slot): Promise<IssuedToken> {
    if (slot.task !== undefined) return this.#obtainForTask(slot, slot.task);
    let refused: StewardAuthError | undefined;
    for (;;) {
      const subject = this.#subjectFor(slot);
      if (subject === undefined) break;
      try {
        return await this.#renewFrom(subject, slot.audience, undefined);
      } catch (error) {
        if (!(error instanceof StewardAuthError && error.code === 'invalid_grant')) throw error;
        // Revoked, or its session reached the identity's maximum lifetime: try the next held
        // token, then attest again.
        refused = error;
        this.#forget(subject);
      }
    }
    if (slot.audience !== STEWARD_AUDIENCE && slot.audience !== this.#options.anchorAudience) {
      // Steward exchanges only its own API's token for another audience (a token given to an
      // upstream stays that upstream's), so a new upstream audience starts from that token.
      const anchor = await this.get(STEWARD_AUDIENCE);
      return this.#renewFrom(anchor, slot.audience, undefined);
    }
    return this.#attest(slot, refused);
  }

  /**
   * A task token comes from the task's own token while it lasts, else from the anchor
   * audience's token (which attests when needed). A refusal with the anchor's token is the
   * task's (completed, past its deadline), so it is reported, not retried.
   */
  async #obtainForTask(slot: Slot, task: string): Promise<IssuedToken> {
    const own = slot.held !== undefined && this.#usable(slot.held) ? slot.held.token : undefined;
    if (own !== undefined) {
      try {
        return await this.#renewFrom(own, slot.audience, task);
      } catch (error) {
        if (!(error instanceof StewardAuthError && error.code === 'invalid_grant')) throw error;
        this.#forget(own);
      }
    }
    const anchor = await this.get(this.#options.anchorAudience);
    return this.#renewFrom(anchor, slot.audience, task);
  }

  /**
   * The held token to renew from: the slot's own (keeping one lineage per audience), else the
   * longest-lived one of another audience. Task tokens never stand in for a slot without a
   * task: Steward would carry their task over into the new token.
   */
  #subjectFor(slot: Slot): string | undefined {
    if (slot.held !== undefined && this.#usable(slot.held)) return slot.held.token;
    let best: HeldToken | undefined;
    for (const other of this.#slots.values()) {
      const held = other.held;
      if (other.task !== undefined || held === undefined || !this.#usable(held)) continue;
      // Only Steward's own token may be exchanged across audiences (the server refuses others).
      if (other.audience !== STEWARD_AUDIENCE && other.audience !== slot.audience) continue;
      if (best === undefined || held.expiresAtMs > best.expiresAtMs) best = held;
    }
    return best?.token;
  }

  #renewFrom(subject: string, audience: string, task: string | undefined): Promise<IssuedToken> {
    return exchangeToken(this.#options.endpoint, {
      subjectToken: subject,
      subjectTokenType: TOKEN_TYPES.accessToken,
      grant: 'renewal',
      audience,
      task,
      expiresInSeconds: this.#options.expiresInSeconds,
    });
  }

  async #attest(slot: Slot, refused: StewardAuthError | undefined): Promise<IssuedToken> {
    const source = this.#options.attestation;
    const proof = await source.next();
    if (proof === undefined) {
      const reason = refused ?? this.#attestRefusal;
      throw new StewardAuthError(
        {
          code: 'invalid_grant',
          description: reason?.description ?? 'Every token of this session has expired.',
          grant: reason?.grant ?? 'renewal',
          status: reason?.status,
          hint: 'This agent started from a join token, which works once, so it cannot start a new session: give it a new join token, or run it with a token file its platform keeps current.',
        },
        { cause: reason },
      );
    }
    try {
      const issued = await exchangeToken(this.#options.endpoint, {
        ...proof,
        audience: slot.audience,
        expiresInSeconds: this.#options.expiresInSeconds,
      });
      source.answered();
      return issued;
    } catch (error) {
      // An OAuth answer means Steward looked at the proof (a join token is now spent); no answer
      // or a server failure (its transaction rolled back) leaves a join token usable.
      if (error instanceof StewardAuthError) {
        source.answered();
        this.#attestRefusal = error;
      }
      throw error;
    }
  }

  /** Forgets a token Steward refused, wherever it is held. */
  #forget(token: string): void {
    for (const slot of this.#slots.values()) {
      if (slot.held?.token !== token) continue;
      slot.held = undefined;
      this.#clearTimer(slot);
    }
  }

  #schedule(slot: Slot, atMs: number): void {
    if (!this.#options.background || this.#closed) return;
    this.#clearTimer(slot);
    const delay = Math.min(MAX_TIMER_MS, Math.max(MIN_RENEWAL_DELAY_MS, atMs - this.#now()));
    slot.timer = setTimeout(() => this.#wake(slot), delay);
    // A renewal timer alone must not keep the agent's process running.
    slot.timer.unref();
  }

  #wake(slot: Slot): void {
    slot.timer = undefined;
    if (this.#closed || this.#slots.get(slot.key) !== slot) return;
    this.#refresh(slot, false).catch(() => {
      // Nothing to report to here: the next get() for this slot tries again and throws.
    });
  }

  #clearTimer(slot: Slot): void {
    if (slot.timer === undefined) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
  }
}

/** Failures that say nothing about the credential: Steward did not answer, or not usefully. */
function isTransient(error: unknown): boolean {
  if (error instanceof StewardUnreachableError) return true;
  if (error instanceof StewardApiError) return error.status >= 500 || error.status === 429;
  if (error instanceof StewardAuthError) {
    return error.code === 'server_error' || error.code === 'temporarily_unavailable';
  }
  return false;
}
