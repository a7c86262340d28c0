import { encodeCursor, type Page } from '../shared/cursor.js';

/**
 * Turns `limit + 1` rows fetched in key order into a page: the extra row, when present, only
 * proves that another page exists, and the cursor is the key of the last row returned.
 */
export function toPage<Row, Item>(
  rows: readonly Row[],
  limit: number,
  keyOf: (row: Row) => string,
  toItem: (row: Row) => Item,
): Page<Item> {
  const pageRows = rows.slice(0, limit);
  const items = pageRows.map(toItem);
  const last = pageRows.at(-1);
  return rows.length > limit && last !== undefined
    ? { items, nextCursor: encodeCursor(keyOf(last)) }
    : { items };
}
