import type { Actor } from '../access/index.js';

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

/** Who may read a secret's metadata: everyone with a reading role; owners their own team's. */
export function canReadCredential(actor: Actor, teamId: string | null): boolean {
  return (
    canManageCredential(actor, teamId) ||
    actor.role === 'auditor' ||
    (actor.role === 'owner' && teamId !== null && actor.teamId === teamId)
  );
}
