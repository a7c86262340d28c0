/** When tokens are renewed; see {@link StewardAgentOptions} for what each field means. */
export interface RenewalPolicy {
  readonly renewAfter: number;
  readonly jitter: number;
  readonly expiryMarginMs: number;
  readonly random: () => number;
}

/** Renew at 75 % of a token's life, plus up to 10 % jitter: early enough to survive a slow or failed attempt. */
export const DEFAULT_RENEW_AFTER = 0.75;
export const DEFAULT_JITTER = 0.1;
/** Five seconds covers a request's flight and ordinary clock skew between agent and Steward. */
export const DEFAULT_EXPIRY_MARGIN_MS = 5_000;

/** A background renewal never runs sooner than this after the last one, whatever the lifetime. */
export const MIN_RENEWAL_DELAY_MS = 1_000;

/**
 * When a token received at `receivedAtMs`, valid for `lifetimeMs`, should be renewed: at a random
 * point between `renewAfter` and `renewAfter + jitter` of its life, so that many agents started
 * together (a rollout) do not all renew in the same second; and never later than the expiry
 * margin.
 */
export function renewalTime(
  receivedAtMs: number,
  lifetimeMs: number,
  policy: RenewalPolicy,
): number {
  const fraction = policy.renewAfter + policy.jitter * policy.random();
  const renewAt = receivedAtMs + lifetimeMs * fraction;
  return Math.max(
    receivedAtMs,
    Math.min(renewAt, receivedAtMs + lifetimeMs - policy.expiryMarginMs),
  );
}

/** Checks the policy's numbers when the agent is built, so a typo fails at once, not at renewal. */
export function checkRenewalPolicy(policy: Omit<RenewalPolicy, 'random'>): void {
  if (!(policy.renewAfter > 0 && policy.renewAfter < 1)) {
    throw new RangeError('renewAfter must be a fraction of the token lifetime between 0 and 1');
  }
  if (!(policy.jitter >= 0 && policy.renewAfter + policy.jitter < 1)) {
    throw new RangeError('jitter must be at least 0, and renewAfter + jitter less than 1');
  }
  if (!(Number.isFinite(policy.expiryMarginMs) && policy.expiryMarginMs >= 0)) {
    throw new RangeError('expiryMarginMs must be a number of milliseconds, at least 0');
  }
}
