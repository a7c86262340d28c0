import { StewardError } from '../errors/index.js';

/**
 * Opaque keyset-pagination cursors: the sort key of the last row of a page, base64url-encoded.
 *
 * Clients treat a cursor as opaque; the server validates one strictly, because it is input.
 */
export function encodeCursor(key: string | number): string {
  return Buffer.from(JSON.stringify([key]), 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor}; anything else is `invalid_cursor`. */
export function decodeCursor<T extends string | number>(
  cursor: string,
  kind: T extends string ? 'string' : 'number',
): T {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 1 || typeof parsed[0] !== kind) throw invalid();
  if (kind === 'number' && !Number.isSafeInteger(parsed[0])) throw invalid();
  // String keys are names or ids; anything else (a NUL, which PostgreSQL refuses in text, quotes,
  // controls) was not issued here.
  if (kind === 'string' && !STRING_KEY.test(parsed[0] as string)) throw invalid();
  return parsed[0] as T;
}

/** The shape of every string sort key: a registry name or a UUID. */
const STRING_KEY = /^[a-z0-9][a-z0-9._-]{0,199}$/;

function invalid(): StewardError {
  return new StewardError('invalid_cursor', 'The cursor is not one this server issued.');
}

/** One page of a list and the cursor for the next, absent on the last page. */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/**
 * Turns `limit + 1` rows fetched in key order into a page: the extra row, when present, only
 * proves that another page exists, and the cursor is the key of the last row returned.
 */
export function toPage<Row, Item>(
  rows: readonly Row[],
  limit: number,
  keyOf: (row: Row) => string | number,
  toItem: (row: Row) => Item,
): Page<Item> {
  const pageRows = rows.slice(0, limit);
  const items = pageRows.map(toItem);
  const last = pageRows.at(-1);
  return rows.length > limit && last !== undefined
    ? { items, nextCursor: encodeCursor(keyOf(last)) }
    : { items };
}
