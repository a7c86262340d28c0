import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Pinned MCP tool definitions (owned by `src/toolpins/`): per upstream, whether its tools have
 * been pinned and what a change does (`hide` or `warn`); per tool, the accepted definition and
 * the one last seen, each as RFC 8785 canonical JSON with its SHA-256. Rows go with their
 * upstream: a new registration under the same name is pinned anew.
 */
export function toolPins(dialect: Dialect) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('tool_pin_upstreams')
        .addColumn('upstream_id', 'text', (c) =>
          c.primaryKey().references('upstreams.id').onDelete('cascade'),
        )
        .addColumn('on_change', 'text', (c) => c.notNull())
        // Null until the first complete listing pinned every tool.
        .addColumn('pinned_at', time)
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('tool_pins')
        .addColumn('upstream_id', 'text', (c) =>
          c.notNull().references('upstreams.id').onDelete('cascade'),
        )
        .addColumn('tool', 'text', (c) => c.notNull())
        // Null for a tool that appeared after the first pin and was never accepted.
        .addColumn('pinned_hash', 'text')
        .addColumn('pinned_definition', 'text')
        .addColumn('pinned_by', 'text')
        .addColumn('pinned_at', time)
        // Null once a complete listing no longer had the tool.
        .addColumn('current_hash', 'text')
        .addColumn('current_definition', 'text')
        .addColumn('observed_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('tool_pins_pk', ['upstream_id', 'tool'])
        .execute();
    },
  };
}
