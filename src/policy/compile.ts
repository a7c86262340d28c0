import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { StewardError, type FieldError } from '../errors/index.js';
import type { PolicySource } from './engine/index.js';
import { SCHEMA_TEXT } from './schema.js';
import { loneSurrogateAt } from './text.js';
import type { PolicyEffect, PolicyWarningCode } from './vocabulary.js';

/**
 * Bounds on a policy set. The official engine runs in Wasm with a fixed stack: a deeply nested
 * or very long expression overflows it ("memory access out of bounds") and can leave the
 * instance unusable, so such text is refused by a lexical scan before Cedar ever sees it.
 */
export const POLICY_LIMITS = Object.freeze({
  /** Characters of Cedar text in one policy set. */
  maxTextLength: 256 * 1024,
  maxPolicies: 2_000,
  /** Nesting of `(`, `[` and `{` inside one policy. */
  maxNesting: 32,
  /** Operators (`&&`, `+`, `.`, `in`, …) in one policy: bounds how deep its expression tree is. */
  maxOperators: 256,
});

/** One policy of a set: its id, its text as written, and its JSON form (Cedar's EST). */
export interface CompiledPolicy {
  readonly id: string;
  readonly effect: PolicyEffect;
  readonly text: string;
  /** 1-based line where the policy starts in the set's text. */
  readonly line: number;
  readonly annotations: Readonly<Record<string, string>>;
  readonly json: cedar.PolicyJson;
}

/**
 * A problem that does not refuse the set: `cedar_validation`, a warning of Cedar's validator (an
 * impossible policy, confusable text); `unknown_entity`, an entity the policy names that Steward
 * does not know (a misspelt or deleted team, say), so the policy cannot match it as intended.
 */
export interface PolicyWarning {
  readonly code: PolicyWarningCode;
  /** For `unknown_entity`: the entity, as the policy names it. */
  readonly entity?: { readonly type: string; readonly id: string };
  readonly policyId?: string;
  readonly line?: number;
  readonly column?: number;
  readonly detail: string;
}

/** A parsed and validated policy set. */
export interface PolicySetDraft {
  readonly text: string;
  readonly policies: readonly CompiledPolicy[];
  readonly warnings: readonly PolicyWarning[];
}

/** Where a problem in the text is reported: `/body/policies` for the API. */
export interface CompileOptions {
  readonly pointer?: string;
}

/** The policies of `draft` as the engine contract takes them. */
export function policySource(draft: {
  readonly policies: readonly CompiledPolicy[];
}): PolicySource {
  const source: Record<string, string> = {};
  for (const policy of draft.policies) source[policy.id] = policy.text;
  return source;
}

/** 1-based line and column of `offset` in `text`, counted in code points as editors do. */
export function position(text: string, offset: number): { line: number; column: number } {
  return locator(text).at(offset);
}

/** Positions in one text, for reporting where a problem is. */
interface Locator {
  /** Line and column (in code points) of a UTF-16 index, as JavaScript counts. */
  at(index: number): { line: number; column: number };
  /** The UTF-16 index of a UTF-8 byte offset, as Cedar reports its source locations. */
  fromByte(offset: number): number;
  /** The UTF-8 byte offset of a UTF-16 index. */
  toByte(index: number): number;
}

/**
 * Lines, surrogate pairs and UTF-8 lengths counted once, in one pass, so that locating every
 * policy of a large set costs linear time. Counting from the start for each policy took seconds
 * for a 256 Ki-character set, and longer when it was all on one line.
 */
function locator(text: string): Locator {
  const lineStarts = [0];
  // pairs[i]: surrogate pairs that end before index i, so that code points = units - pairs.
  const pairs = new Uint32Array(text.length + 1);
  // bytes[i]: UTF-8 bytes before index i (a pair's four on its first half).
  const bytes = new Uint32Array(text.length + 1);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const lowOfPair =
      c >= 0xdc00 && c <= 0xdfff && i > 0 && isHighSurrogate(text.charCodeAt(i - 1));
    const highOfPair = isHighSurrogate(c) && isLowSurrogate(text.charCodeAt(i + 1));
    pairs[i + 1] = (pairs[i] ?? 0) + (lowOfPair ? 1 : 0);
    const size = lowOfPair ? 0 : highOfPair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    bytes[i + 1] = (bytes[i] ?? 0) + size;
    if (c === 10) lineStarts.push(i + 1);
  }
  return {
    at(index) {
      const end = Math.min(Math.max(index, 0), text.length);
      const line = lastAtOrBefore(lineStarts, end);
      const start = lineStarts[line] ?? 0;
      // A line starts after a newline, so no pair straddles `start`; one split by `end` counts
      // as one code point (its high half).
      const codePoints = end - start - ((pairs[end] ?? 0) - (pairs[start] ?? 0));
      return { line: line + 1, column: codePoints + 1 };
    },
    fromByte(offset) {
      return lastAtOrBefore(bytes, Math.max(offset, 0));
    },
    toByte(index) {
      return bytes[Math.min(Math.max(index, 0), text.length)] ?? 0;
    },
  };
}

/** The last position of `sorted` (ascending) whose value is at most `value`; 0 if none. */
function lastAtOrBefore(sorted: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((sorted[mid] ?? 0) <= value) low = mid;
    else high = mid - 1;
  }
  return low;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * Parses `text` into policies, assigns their ids (`@id("…")`, else `policy0`, `policy1`… by
 * position), and validates them against Steward's schema with the official validator (strict
 * mode).
 *
 * @throws StewardError `policy_set_too_large` over a size limit, `policy_invalid` (with line and
 *   column per problem) when the text holds a lone UTF-16 surrogate, does not parse, is too deeply
 *   nested, has a duplicate id, a template, or fails validation.
 *
 * @example
 * const draft = compilePolicies('@id("read") permit(principal, action == Steward::Action::"read_dataset", resource);');
 * draft.policies[0]?.id; // "read"
 */
export function compilePolicies(text: string, options: CompileOptions = {}): PolicySetDraft {
  const pointer = options.pointer ?? '/body/policies';
  let located: Locator | undefined;
  const where = (): Locator => (located ??= locator(text));
  /** A problem at a UTF-16 index of the text. */
  const problem = (offset: number | undefined, detail: string, policyId?: string): FieldError => ({
    pointer,
    ...(offset === undefined ? { detail } : locate(where().at(offset), detail)),
    ...(policyId === undefined ? {} : { policyId }),
  });
  /**
   * A problem Cedar found: its locations are UTF-8 byte offsets into the text it was given,
   * which starts at `base` (a UTF-16 index) of ours.
   */
  const cedarProblem = (error: cedar.DetailedError, policyId?: string, base = 0): FieldError => {
    const start = sourceStart(error);
    const offset = start === undefined ? undefined : where().fromByte(where().toByte(base) + start);
    return problem(offset, describe(error), policyId);
  };
  const refuse = (errors: FieldError[]): never => {
    throw new StewardError(
      'policy_invalid',
      errors.length === 1
        ? `The policy set is not valid: ${errors[0]?.detail ?? ''}`
        : `The policy set is not valid: ${errors.length} problems.`,
      { errors },
    );
  };

  if (text.length > POLICY_LIMITS.maxTextLength) {
    throw new StewardError(
      'policy_set_too_large',
      `A policy set may hold at most ${POLICY_LIMITS.maxTextLength} characters; this one has ${text.length}.`,
      { errors: [{ pointer, detail: `longer than ${POLICY_LIMITS.maxTextLength} characters` }] },
    );
  }
  const lone = loneSurrogateAt(text);
  if (lone >= 0) {
    const unit = text.charCodeAt(lone).toString(16);
    refuse([
      problem(
        lone,
        `a lone UTF-16 surrogate (\\u${unit}) is not a character: Cedar text must be valid Unicode (write the character itself, or both halves of its surrogate pair)`,
      ),
    ]);
  }
  const lexical = scan(text);
  if (lexical.policies > POLICY_LIMITS.maxPolicies) {
    throw new StewardError(
      'policy_set_too_large',
      `A policy set may hold at most ${POLICY_LIMITS.maxPolicies} policies; this one has ${lexical.policies}.`,
      { errors: [{ pointer, detail: `more than ${POLICY_LIMITS.maxPolicies} policies` }] },
    );
  }
  if (lexical.problems.length > 0) {
    refuse(lexical.problems.map(({ offset, detail }) => problem(offset, detail)));
  }

  const parsed = cedar.checkParsePolicySet({ staticPolicies: text });
  if (parsed.type === 'failure') refuse(parsed.errors.map((e) => cedarProblem(e)));
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') return refuse(parts.errors.map((e) => cedarProblem(e)));
  if (parts.policy_templates.length > 0) {
    refuse([
      problem(
        text.indexOf('?'),
        'templates (policies with ?principal or ?resource slots) are not supported',
      ),
    ]);
  }

  // Cedar names the policies policy0, policy1… in the order of the text, but hands the parts
  // back ordered by that name (policy10 before policy2), so their order and offsets come from
  // the scan; both must find the same policies.
  const ordered = lexical.spans.map(([start, end]) => text.slice(start, end));
  if (!sameParts(ordered, parts.policies)) {
    throw new Error('the policy boundaries found by the scan differ from the parser');
  }
  const policies: CompiledPolicy[] = [];
  const byCedarId = new Map<string, string>();
  const seen = new Map<string, number>();
  const errors: FieldError[] = [];
  ordered.forEach((part, index) => {
    const offset = lexical.spans[index]?.[0] ?? 0;
    const json = cedar.policyToJson(part);
    if (json.type === 'failure') {
      errors.push(...json.errors.map((e) => cedarProblem(e, undefined, offset)));
      return;
    }
    const annotations = json.json.annotations ?? {};
    const id = annotations['id'] ?? `policy${index}`;
    if (seen.has(id)) {
      errors.push(
        problem(
          offset,
          `duplicate policy id ${JSON.stringify(id)} (first used on line ${seen.get(id) ?? 0})`,
          id,
        ),
      );
      return;
    }
    const { line } = where().at(offset);
    seen.set(id, line);
    byCedarId.set(`policy${index}`, id);
    policies.push({ id, effect: json.json.effect, text: part, line, annotations, json: json.json });
  });
  if (errors.length > 0) refuse(errors);

  const validation = cedar.validate({
    schema: SCHEMA_TEXT,
    policies: { staticPolicies: text },
    validationSettings: { mode: 'strict' },
  });
  if (validation.type === 'failure') {
    return refuse(validation.errors.map((e) => cedarProblem(e)));
  }
  if (validation.validationErrors.length > 0) {
    refuse(
      validation.validationErrors.map((e) => {
        const id = byCedarId.get(e.policyId) ?? e.policyId;
        return cedarProblem(renamed(e.error, e.policyId, id), id);
      }),
    );
  }
  const warnings = validation.validationWarnings.map((w): PolicyWarning => {
    const id = byCedarId.get(w.policyId) ?? w.policyId;
    const { pointer: _pointer, ...found } = cedarProblem(renamed(w.error, w.policyId, id), id);
    return { code: 'cedar_validation', ...found };
  });
  return { text, policies, warnings };
}

/** True when both lists hold the same texts, as many times each. */
function sameParts(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((part, i) => part === y[i]);
}

function locate(at: { line: number; column: number }, detail: string) {
  return { ...at, detail: `line ${at.line}, column ${at.column}: ${detail}` };
}

function describe(error: cedar.DetailedError): string {
  const related = (error.related ?? []).map((r) => r.message).filter((m) => m !== error.message);
  const parts = [error.message, ...related];
  return error.help ? `${parts.join('; ')} (${error.help})` : parts.join('; ');
}

/** Cedar names policies by position; the message should use the id the author gave. */
function renamed(error: cedar.DetailedError, from: string, to: string): cedar.DetailedError {
  return from === to
    ? error
    : { ...error, message: error.message.replaceAll(`\`${from}\``, `\`${to}\``) };
}

/** Where Cedar locates an error: its own first location, else that of a related error. */
function sourceStart(error: cedar.DetailedError): number | undefined {
  return (
    error.sourceLocations?.[0]?.start ??
    error.related?.find((r) => r.sourceLocations?.[0] !== undefined)?.sourceLocations?.[0]?.start
  );
}

const OPERATORS = /^(&&|\|\||==|!=|<=|>=|<|>|\+|-|\*|!|\.|in\b|has\b|like\b|is\b|if\b)/;

/**
 * A lexical pass over the text: counts policies (`;` at depth 0) and, per policy, the nesting of
 * brackets and the number of operators, skipping comments and string literals.
 */
function scan(text: string): {
  policies: number;
  /** Where each policy starts (its first annotation or its effect) and ends (after its `;`). */
  spans: [number, number][];
  problems: { offset: number; detail: string }[];
} {
  const problems: { offset: number; detail: string }[] = [];
  const spans: [number, number][] = [];
  let depth = 0;
  let operators = 0;
  let policies = 0;
  let reported = false;
  let start: number | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      continue;
    }
    if (start === undefined && !/\s/.test(c ?? ' ')) start = i;
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      depth++;
      if (depth > POLICY_LIMITS.maxNesting && !reported) {
        problems.push({
          offset: i,
          detail: `expressions may nest at most ${POLICY_LIMITS.maxNesting} deep`,
        });
        reported = true;
      }
      continue;
    }
    if (c === ')' || c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
      continue;
    }
    if (c === ';' && depth === 0) {
      spans.push([start ?? i, i + 1]);
      start = undefined;
      policies++;
      operators = 0;
      reported = false;
      continue;
    }
    const before = i === 0 ? ' ' : (text[i - 1] ?? ' ');
    if (/[A-Za-z0-9_]/.test(before) && /[a-z]/.test(c ?? '')) continue;
    const match = OPERATORS.exec(text.slice(i, i + 5));
    if (match) {
      operators++;
      i += match[0].length - 1;
      if (operators > POLICY_LIMITS.maxOperators && !reported) {
        problems.push({
          offset: i,
          detail: `a policy may use at most ${POLICY_LIMITS.maxOperators} operators; split it into several policies`,
        });
        reported = true;
      }
    }
  }
  return { policies, spans, problems };
}
