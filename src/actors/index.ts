/**
 * Who acts: the roles of API keys, the actor of a change and the context every change carries
 * into the trail. A folder of its own, importing nothing, so that the folders that record
 * changes (audit) and the one that authenticates keys (access) share it without depending on
 * each other, and the CLI can load it without the store.
 */
export { ROLES, SYSTEM_ACTOR } from './actor.js';
export type { Role, Actor, ChangeContext } from './actor.js';
