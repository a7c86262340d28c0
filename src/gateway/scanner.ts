import { isWellFormedSecret } from '../access/key-format.js';

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

interface Pattern {
  readonly kind: CredentialKind;
  readonly regex: RegExp;
  /** A check beyond the shape (a checksum), so that a look-alike is not a finding. */
  readonly accept?: (value: string) => boolean;
}

/**
 * The formats looked for, most specific first (`sk-ant-` before `sk-`). Shapes follow the
 * providers' published formats and what gitleaks' and GitHub secret scanning's rules match.
 */
const PATTERNS: readonly Pattern[] = [
  {
    kind: 'private_key',
    regex:
      /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g,
  },
  {
    kind: 'steward_api_key',
    regex: /\bstw_key_[0-9A-Za-z]{38}\b/g,
    accept: (v) => isWellFormedSecret(v, 'key'),
  },
  {
    kind: 'steward_join_token',
    regex: /\bstw_join_[0-9A-Za-z]{38}\b/g,
    accept: (v) => isWellFormedSecret(v, 'join'),
  },
  { kind: 'jwt', regex: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g },
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

/** Strings longer than this are scanned in their first part only: a bound on the work per call. */
const MAX_SCANNED_CHARS = 1_000_000;
/** Nesting deeper than this is not walked (and is replaced), so a hostile value cannot recurse us out. */
const MAX_DEPTH = 32;

/** Scans one string; returns it redacted and what was found. */
export function scanText(text: string, where = ''): ScanResult<string> {
  const matches: CredentialMatch[] = [];
  let out = text.length > MAX_SCANNED_CHARS ? text.slice(0, MAX_SCANNED_CHARS) : text;
  // A cheap pre-check: most strings contain none of the markers and skip the regexes.
  if (!/stw_|eyJ|A[KSBC][IC]A|gh[pousr]_|github_pat_|xox|sk-|AIza|_live_|PRIVATE KEY/.test(out)) {
    return { redacted: text, matches };
  }
  for (const pattern of PATTERNS) {
    out = out.replace(pattern.regex, (found) => {
      if (pattern.accept && !pattern.accept(found)) return found;
      matches.push({ kind: pattern.kind, value: found, where });
      return `[REDACTED:${pattern.kind}]`;
    });
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
