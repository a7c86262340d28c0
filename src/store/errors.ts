/** True when a database error is a unique-constraint violation, on either engine. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/**
 * The store could not be reached or would not take the work: a connection that could not be
 * made, whatever the driver said. Raised by the store itself where it knows the failure is the
 * storage's (acquiring a connection); everything else is classified by {@link isStoreUnavailable}.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * PostgreSQL SQLSTATEs that mean "the storage, not the request": the class (two characters) or
 * the exact code. 08 connection, 53 insufficient resources (disk full, out of memory, too many
 * connections), 57 operator intervention (shutdown, terminated backend, statement timeout), 58
 * system I/O, XX001/XX002 corruption; 25006 a read-only transaction (a read-only database or
 * standby), 42501 a revoked privilege, 40001/40P01/40003 a transaction the server gave up on,
 * 55P03 a lock not granted in time.
 */
const PG_CLASSES = new Set(['08', '53', '57', '58']);
const PG_CODES = new Set(['25006', '42501', '40001', '40P01', '40003', '55P03', 'XX001', 'XX002']);

/**
 * SQLite primary result codes (better-sqlite3 names extended codes `SQLITE_IOERR_WRITE` and so
 * on; the primary code is their prefix): busy or locked, full, I/O, read-only, cannot open,
 * permission, out of memory, corrupt, not a database, lock protocol.
 */
const SQLITE_PRIMARY = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
  'SQLITE_PERM',
  'SQLITE_NOMEM',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_PROTOCOL',
]);

/** Socket-level failures on the way to a database server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Failures the drivers raise without a code: node-postgres on a lost or unusable connection, the
 * pool on a connect timeout, better-sqlite3 and Kysely on a store being closed under a request.
 */
const CODELESS = [
  /^Connection terminated/,
  /^Client has encountered a connection error/,
  /^Client was closed and is not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /^The database connection is not open/,
  /^driver has already been destroyed/,
];

/** How deep a chain of `cause`s is followed: drivers and Kysely wrap at most once or twice. */
const MAX_CAUSES = 5;

/**
 * True when `error` (or an error it wraps) says the database is down, unreachable, out of space,
 * read-only or refusing work, on either engine: the request is not at fault and may be retried.
 * The one place that knows the drivers' codes; constraint violations and bad SQL are not this.
 */
export function isStoreUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSES && current instanceof Error; depth++) {
    if (current instanceof StoreUnavailableError || classify(current)) return true;
    current = current.cause;
  }
  return false;
}

function classify(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('SQLITE_')) {
      const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
      return SQLITE_PRIMARY.has(primary);
    }
    if (NETWORK_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return PG_CLASSES.has(code.slice(0, 2)) || PG_CODES.has(code);
  }
  return CODELESS.some((pattern) => pattern.test(error.message));
}
