/**
 * Value parsers for flags and arguments. Each checks a value before any request is sent, so a
 * typo costs no round trip and the message names the flag and says what it wants (exit code 2).
 * The server stays the authority: these only catch what can be known without it.
 */
// The vocabulary module itself rather than the registry's index: it depends on nothing, while the
// index would load the store and both database drivers into every CLI run.
import { AGENT_PATH_PATTERN, NAME_PATTERN } from '../registry/vocabulary.js';

/** Raised for a bad flag value; printed as `error: <message>` with exit code 2. */
export class UsageError extends Error {}

type Parser<T> = (value: string) => T;

/** A parser that accepts `value` when it matches `pattern`, and otherwise says what was wanted. */
function matching(label: string, pattern: RegExp, wanted: string): Parser<string> {
  return (value) => {
    if (!pattern.test(value)) {
      throw new UsageError(`${label} must be ${wanted}, not ${JSON.stringify(value)}`);
    }
    return value;
  };
}

/** A team or service name, as the API requires it (a SPIFFE path segment, lowercase). */
export function name(label: string): Parser<string> {
  return matching(
    label,
    new RegExp(NAME_PATTERN),
    'a name of lowercase letters, digits, ".", "-" or "_", starting and ending with a letter or digit (at most 63 characters)',
  );
}

/** An agent path: name segments joined by `/`, e.g. `planner/search`. */
export function agentPath(label: string): Parser<string> {
  return matching(
    label,
    new RegExp(AGENT_PATH_PATTERN),
    'one to eight name segments joined by "/", e.g. "planner" or "planner/search"',
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An id as the API gives it (a lowercase UUID); `source` says where to find one. */
export function id(label: string, source: string): Parser<string> {
  return matching(label, UUID, `an id (a UUID, as \`${source}\` shows it)`);
}

/** `system` or `apikey:<id>`, the actor references written into the trail. */
export function actor(label: string): Parser<string> {
  return matching(
    label,
    /^(system|apikey:[0-9a-f-]{36})$/,
    '"system" or "apikey:<id>" (the ACTOR column of `steward audit list`)',
  );
}

/** An audit event type ("identity.created") or a prefix ending in "." ("identity."). */
export function eventType(label: string): Parser<string> {
  return matching(
    label,
    /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$/,
    'an event type such as "identity.created", or a prefix ending in "." such as "identity."',
  );
}

/** An `http://` or `https://` URL. */
export function httpUrl(label: string): Parser<string> {
  return (value) => {
    if (URL.canParse(value) && /^https?:\/\//i.test(value)) return value;
    throw new UsageError(
      `${label} must be an http:// or https:// URL, not ${JSON.stringify(value)}`,
    );
  };
}

/** A whole number from `min` to `max`. */
export function integer(label: string, min: number, max: number): Parser<number> {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < min || number > max) {
      throw new UsageError(
        `${label} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`,
      );
    }
    return number;
  };
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A point in time: an ISO 8601 date or date-time (`2025-06-01`, `2025-06-01T12:00:00Z`), or an age
 * such as `30m`, `2h`, `7d` meaning that long ago. Sent as UTC ISO 8601, the form the API takes.
 */
export function time(label: string): Parser<string> {
  return (value) => {
    const age = /^(\d+)([smhd])$/.exec(value);
    const unit = age?.[2] as keyof typeof UNIT_MS | undefined;
    // Date.parse alone accepts "1" or "June"; insist on an ISO date first.
    const at =
      unit !== undefined
        ? Date.now() - Number(age?.[1]) * UNIT_MS[unit]
        : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)
          ? Date.parse(value)
          : Number.NaN;
    const date = new Date(at);
    // An absurd age ("99999999d") lands outside the dates JavaScript can represent.
    if (Number.isNaN(date.getTime())) {
      throw new UsageError(
        `${label} must be an ISO 8601 time (2025-06-01 or 2025-06-01T12:00:00Z) or an age such as 30m, 2h or 7d, not ${JSON.stringify(value)}`,
      );
    }
    return date.toISOString();
  };
}
