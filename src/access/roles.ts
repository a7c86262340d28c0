import type { Actor } from '../actors/index.js';

/** True when `actor` may manage resources owned by `teamId`: admins always, owners for their team. */
export function canManageTeam(actor: Actor, teamId: string): boolean {
  return (
    actor.role === 'admin' ||
    actor.role === 'system' ||
    (actor.role === 'owner' && actor.teamId === teamId)
  );
}
