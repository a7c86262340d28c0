/**
 * Roles of admin API keys. A key has exactly one role; an `owner` key is scoped to one team.
 *
 * - `admin`: everything, including API keys.
 * - `security`: identity lifecycle (disable, decommission), environment admission, the trail.
 * - `approver`: decides held sensitive calls (later issues); reads the registry.
 * - `auditor`: reads the registry and the trail; changes nothing.
 * - `owner`: manages its own team's people, services and identities.
 */
export const ROLES = ['admin', 'security', 'approver', 'auditor', 'owner'] as const;
export type Role = (typeof ROLES)[number];

/** Who is making a change: a key holder, a workload with its access token, or Steward itself. */
export interface Actor {
  /** Stable reference written into the trail: `apikey:<id>`, `workload:<identity id>` or `system`. */
  readonly ref: string;
  readonly role: Role | 'workload' | 'system';
  /** For workloads: the identity the access token was issued to. */
  readonly identityId?: string;
  /** For `owner` keys: the team the key may act for. */
  readonly teamId?: string;
  /** For `owner` keys: that team's name, for messages. */
  readonly teamName?: string;
}

/** The actor for changes Steward makes on its own (bootstrap, scheduled jobs). */
export const SYSTEM_ACTOR: Actor = Object.freeze({ ref: 'system', role: 'system' });

/** What every change carries into the trail besides its content. */
export interface ChangeContext {
  readonly actor: Actor;
  /** Steward's id of the request that made the change; never chosen by the caller. */
  readonly requestId?: string;
  /** The caller's own request id, validated, kept beside `requestId` for its correlation. */
  readonly clientRequestId?: string;
}
