import type { Actor } from '../actors/index.js';

/**
 * Who may write a secret or an upstream of `teamId` (null: no team): admins and security always,
 * as they answer for every credential; an owner only for their own team's.
 */
export function canManageCredential(actor: Actor, teamId: string | null): boolean {
  return (
    actor.role === 'admin' ||
    actor.role === 'security' ||
    actor.role === 'system' ||
    (actor.role === 'owner' && teamId !== null && actor.teamId === teamId)
  );
}

/**
 * Who may have an upstream of team `upstreamTeamId` send the secret of team `secretTeamId` (null:
 * no team): whoever may manage the secret, and only onto its own team's upstreams (a team-less
 * secret onto any team's). Attaching a secret and changing where or how an upstream that carries
 * it sends it (URL, kind, team, placement) or who may use it, take this same right: either one
 * puts the value somewhere its holder did not choose.
 */
export function canAttachCredential(
  actor: Actor,
  secretTeamId: string | null,
  upstreamTeamId: string,
): boolean {
  return (
    canManageCredential(actor, secretTeamId) &&
    (secretTeamId === null || secretTeamId === upstreamTeamId)
  );
}

/** Who may read a secret's metadata: everyone with a reading role; owners their own team's. */
export function canReadCredential(actor: Actor, teamId: string | null): boolean {
  return (
    canManageCredential(actor, teamId) ||
    actor.role === 'auditor' ||
    (actor.role === 'owner' && teamId !== null && actor.teamId === teamId)
  );
}
