import type { Expression, Kysely } from 'kysely';
import type { Database } from '../store/index.js';

/**
 * The registry's read port on teams for the folders whose rows carry a team id and show its name
 * (API keys, secrets, upstreams). Declared here because access cannot import the registry (the
 * registry imports access); the registry implements it and the composition root hands it in.
 *
 * A team's name never changes (there is no rename) and a team id is never reused, so a name read
 * once for an id stays right for as long as anything refers to that id: the implementation keeps
 * the names it has read and answers later lookups from memory, with no invalidation to miss
 * (a team is deleted only when nothing refers to it). The reverse, name to id, is not cached: a
 * team can be deleted and another made under its name; it is read in the caller's query.
 */
export interface TeamNames {
  /**
   * The names of the teams with `ids` (nulls are skipped; an id of no team is absent from the
   * map): no query when every name is known already, else one query in `source` (the database,
   * or the caller's transaction) for those that are not.
   */
  namesOf(
    source: Kysely<Database>,
    ids: Iterable<string | null>,
  ): Promise<ReadonlyMap<string, string>>;
  /** The id of the team named `name`, read in `source`, or undefined when there is none. */
  idOf(source: Kysely<Database>, name: string): Promise<string | undefined>;
  /**
   * The id of the team named `name` as a subquery of the caller's query (null when there is
   * none), to filter rows by a team's name in the same query, without a query of its own.
   */
  idExpression(source: Kysely<Database>, name: string): Expression<string | null>;
}
