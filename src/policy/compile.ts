import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { StewardError, type FieldError } from '../errors/index.js';
import type { PolicySource } from './engine/index.js';
import { SCHEMA_TEXT } from './schema.js';

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
  readonly effect: 'permit' | 'forbid';
  readonly text: string;
  /** 1-based line where the policy starts in the set's text. */
  readonly line: number;
  readonly annotations: Readonly<Record<string, string>>;
  readonly json: cedar.PolicyJson;
}

/** A problem the validator reports but that does not refuse the set (an impossible policy). */
export interface PolicyWarning {
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
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: Array.from(text.slice(lineStart, end)).length + 1 };
}

/**
 * Parses `text` into policies, assigns their ids (`@id("…")`, else `policy0`, `policy1`… by
 * position), and validates them against Steward's schema with the official validator (strict
 * mode).
 *
 * @throws StewardError `policy_set_too_large` over a size limit, `policy_invalid` (with line and
 *   column per problem) when the text does not parse, is too deeply nested, has a duplicate id, a
 *   template, or fails validation.
 *
 * @example
 * const draft = compilePolicies('@id("read") permit(principal, action == Steward::Action::"read_dataset", resource);');
 * draft.policies[0]?.id; // "read"
 */
export function compilePolicies(text: string, options: CompileOptions = {}): PolicySetDraft {
  const pointer = options.pointer ?? '/body/policies';
  const problem = (offset: number | undefined, detail: string, policyId?: string): FieldError => ({
    pointer,
    ...(offset === undefined ? { detail } : locate(text, offset, detail)),
    ...(policyId === undefined ? {} : { policyId }),
  });
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
  if (parsed.type === 'failure') refuse(parsed.errors.map((e) => detailed(e, problem)));
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') return refuse(parts.errors.map((e) => detailed(e, problem)));
  if (parts.policy_templates.length > 0) {
    refuse([
      problem(
        text.indexOf('?'),
        'templates (policies with ?principal or ?resource slots) are not supported',
      ),
    ]);
  }

  const policies: CompiledPolicy[] = [];
  const byCedarId = new Map<string, string>();
  const seen = new Map<string, number>();
  const errors: FieldError[] = [];
  let cursor = 0;
  parts.policies.forEach((part, index) => {
    // The parts are slices of the text in order; finding each after the previous gives its offset.
    const found = text.indexOf(part, cursor);
    const offset = found < 0 ? cursor : found;
    cursor = offset + part.length;
    const json = cedar.policyToJson(part);
    if (json.type === 'failure') {
      errors.push(...json.errors.map((e) => detailed(e, problem)));
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
    const { line } = position(text, offset);
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
    return refuse(validation.errors.map((e) => detailed(e, problem)));
  }
  if (validation.validationErrors.length > 0) {
    refuse(
      validation.validationErrors.map((e) => {
        const id = byCedarId.get(e.policyId) ?? e.policyId;
        return detailed(renamed(e.error, e.policyId, id), problem, id);
      }),
    );
  }
  const warnings = validation.validationWarnings.map((w): PolicyWarning => {
    const id = byCedarId.get(w.policyId) ?? w.policyId;
    const error = renamed(w.error, w.policyId, id);
    const at = error.sourceLocations?.[0]?.start;
    return {
      policyId: id,
      ...(at === undefined ? { detail: describe(error) } : locate(text, at, describe(error))),
    };
  });
  return { text, policies, warnings };
}

function locate(text: string, offset: number, detail: string) {
  const { line, column } = position(text, offset);
  return { line, column, detail: `line ${line}, column ${column}: ${detail}` };
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

function detailed(
  error: cedar.DetailedError,
  problem: (offset: number | undefined, detail: string, policyId?: string) => FieldError,
  policyId?: string,
): FieldError {
  const at =
    error.sourceLocations?.[0]?.start ??
    error.related?.find((r) => r.sourceLocations?.[0] !== undefined)?.sourceLocations?.[0]?.start;
  return problem(at, describe(error), policyId);
}

const OPERATORS = /^(&&|\|\||==|!=|<=|>=|<|>|\+|-|\*|!|\.|in\b|has\b|like\b|is\b|if\b)/;

/**
 * A lexical pass over the text: counts policies (`;` at depth 0) and, per policy, the nesting of
 * brackets and the number of operators, skipping comments and string literals.
 */
function scan(text: string): { policies: number; problems: { offset: number; detail: string }[] } {
  const problems: { offset: number; detail: string }[] = [];
  let depth = 0;
  let operators = 0;
  let policies = 0;
  let reported = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      continue;
    }
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
  return { policies, problems };
}
