import { isWellFormedSecret } from '../shared/key-format.js';

/** What kind of credential a match is; the Steward kinds can be revoked by Steward itself. */
export type CredentialKind =
  | 'steward_api_key'
  | 'steward_join_token'
  | 'jwt'
  | 'aws_access_key'
  | 'github_token'
  | 'slack_token'
  | 'anthropic_key'
  | 'openai_key'
  | 'google_api_key'
  | 'stripe_key'
  | 'private_key';

/** One credential found. `value` stays in memory for revocation; it is never recorded. */
export interface CredentialMatch {
  readonly kind: CredentialKind;
  readonly value: string;
  /** JSON-pointer-like location in the scanned value (`/arguments/query`), for the finding. */
  readonly where: string;
}

export interface ScanResult<T> {
  /** The input with every match replaced by `[REDACTED:<kind>]`. */
  readonly redacted: T;
  readonly matches: readonly CredentialMatch[];
}

/**
 * One credential format. `regex` is matched with `String.replace`, so it must stay linear on any
 * input: no unbounded quantifier whose failure can be retried from many start positions. Formats
 * that cannot be written so (a JWT, a PEM block) give `find`, a hand-written linear search.
 */
type Pattern = {
  readonly kind: CredentialKind;
  /** A check beyond the shape (a checksum), so that a look-alike is not a finding. */
  readonly accept?: (value: string) => boolean;
} & (
  | { readonly regex: RegExp }
  | { readonly find: (text: string) => Iterable<readonly [start: number, end: number]> }
);

/**
 * The formats looked for, most specific first (`sk-ant-` before `sk-`). Shapes follow the
 * providers' published formats and what gitleaks' and GitHub secret scanning's rules match.
 *
 * Steward's own formats need no word boundary: their prefix, fixed length and checksum are
 * enough, and a key glued to what precedes it (`xstw_key_…`, `Bearerstw_key_…`) or follows it
 * is still the key.
 */
const PATTERNS: readonly Pattern[] = [
  { kind: 'private_key', find: findPrivateKeys },
  {
    kind: 'steward_api_key',
    regex: /stw_key_[0-9A-Za-z]{38}/g,
    accept: (v) => isWellFormedSecret(v, 'key'),
  },
  {
    kind: 'steward_join_token',
    regex: /stw_join_[0-9A-Za-z]{38}/g,
    accept: (v) => isWellFormedSecret(v, 'join'),
  },
  { kind: 'jwt', find: findJwts },
  { kind: 'aws_access_key', regex: /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/g },
  {
    kind: 'github_token',
    regex: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g,
  },
  { kind: 'slack_token', regex: /\bxox[abposr]-[A-Za-z0-9-]{10,250}/g },
  { kind: 'anthropic_key', regex: /\bsk-ant-[A-Za-z0-9_-]{20,250}/g },
  { kind: 'openai_key', regex: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}/g },
  { kind: 'google_api_key', regex: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: 'stripe_key', regex: /\b(?:sk|rk)_live_[0-9A-Za-z]{16,250}\b/g },
];

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;

/**
 * PEM private-key blocks, each from a BEGIN line to the first END line after it. One pass: a
 * regex with a lazy `[\s\S]*?` between the two lines rescans the rest of the text from every
 * unclosed BEGIN, quadratic in the number of BEGIN lines; here, once no END follows a BEGIN, none
 * follows any later one either, and the search stops.
 */
function* findPrivateKeys(text: string): Generator<readonly [number, number]> {
  const begin = new RegExp(PEM_BEGIN.source, 'g');
  const end = new RegExp(PEM_END.source, 'g');
  for (;;) {
    const opened = begin.exec(text);
    if (opened === null) return;
    end.lastIndex = begin.lastIndex;
    const closed = end.exec(text);
    if (closed === null) return;
    yield [opened.index, end.lastIndex];
    begin.lastIndex = end.lastIndex;
  }
}

/** Runs of the characters a JWT (three base64url parts joined by dots) is made of. */
const JWT_RUN = /[A-Za-z0-9_.-]+/g;

/**
 * JWTs: `eyJ…` (at least 11 characters) `.eyJ…` (at least 11) `.…` (at least 16), also when
 * glued to what precedes it (`BearereyJ…`). A regex for this shape retries its long first part
 * from every `eyJ` of a run like `-eyJa-eyJa-eyJa…`, quadratic in the run's length; here each
 * run of token characters is split at its dots once, and each part is looked at a bounded
 * number of times.
 */
function* findJwts(text: string): Generator<readonly [number, number]> {
  const runs = new RegExp(JWT_RUN.source, 'g');
  for (let run = runs.exec(text); run !== null; run = runs.exec(text)) {
    const parts = run[0].split('.');
    if (parts.length < 3) continue;
    let offset = run.index;
    for (let i = 0; i + 2 < parts.length;) {
      const first = parts[i] ?? '';
      const second = parts[i + 1] ?? '';
      const third = parts[i + 2] ?? '';
      const at = first.indexOf('eyJ');
      if (
        at !== -1 &&
        first.length - at >= 11 &&
        second.startsWith('eyJ') &&
        second.length >= 11 &&
        third.length >= 16
      ) {
        const start = offset + at;
        const end = offset + first.length + second.length + third.length + 2;
        yield [start, end];
        offset = end + 1;
        i += 3;
      } else {
        offset += first.length + 1;
        i += 1;
      }
    }
  }
}

/** Strings longer than this are scanned in their first part only: a bound on the work per call. */
const MAX_SCANNED_CHARS = 1_000_000;
/** Nesting deeper than this is not walked (and is replaced), so a hostile value cannot recurse us out. */
const MAX_DEPTH = 32;

/**
 * Scans one string; returns it redacted and what was found. Linear in the length of `text`
 * (each format's search is), so a hostile argument or body cannot stall the event loop.
 */
export function scanText(text: string, where = ''): ScanResult<string> {
  const matches: CredentialMatch[] = [];
  let out = text.length > MAX_SCANNED_CHARS ? text.slice(0, MAX_SCANNED_CHARS) : text;
  // A cheap pre-check: most strings contain none of the markers and skip the searches.
  if (!/stw_|eyJ|A[KSBC][IC]A|gh[pousr]_|github_pat_|xox|sk-|AIza|_live_|PRIVATE KEY/.test(out)) {
    return { redacted: text, matches };
  }
  for (const pattern of PATTERNS) {
    const redact = (found: string): string => {
      if (pattern.accept && !pattern.accept(found)) return found;
      matches.push({ kind: pattern.kind, value: found, where });
      return `[REDACTED:${pattern.kind}]`;
    };
    if ('regex' in pattern) {
      out = out.replace(pattern.regex, redact);
      continue;
    }
    let rebuilt = '';
    let from = 0;
    for (const [start, end] of pattern.find(out)) {
      rebuilt += out.slice(from, start) + redact(out.slice(start, end));
      from = end;
    }
    if (from > 0) out = rebuilt + out.slice(from);
  }
  return { redacted: matches.length === 0 ? text : out, matches };
}

/**
 * Scans every string in a JSON-like value (object keys too: a secret can be a key), and returns
 * a redacted copy. The input is not changed.
 *
 * @example
 * const { redacted, matches } = scanValue({ q: 'token eyJ…' });
 */
export function scanValue<T>(value: T, where = ''): ScanResult<T> {
  const matches: CredentialMatch[] = [];
  const walk = (node: unknown, path: string, depth: number): unknown => {
    if (typeof node === 'string') {
      const result = scanText(node, path);
      matches.push(...result.matches);
      return result.redacted;
    }
    if (node === null || typeof node !== 'object') return node;
    if (depth >= MAX_DEPTH) return '[TRUNCATED]';
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${path}/${i}`, depth + 1));
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node as Record<string, unknown>)) {
      const scannedKey = scanText(key);
      // The location names the redacted key: a finding must not carry the secret it reports.
      matches.push(
        ...scannedKey.matches.map((m) => ({ ...m, where: `${path}/${scannedKey.redacted}` })),
      );
      copy[scannedKey.redacted] = walk(item, `${path}/${scannedKey.redacted}`, depth + 1);
    }
    return copy;
  };
  const redacted = walk(value, where, 0) as T;
  return { redacted: matches.length === 0 ? value : redacted, matches };
}
