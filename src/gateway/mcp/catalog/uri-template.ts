/**
 * Whether a resource URI is one an upstream's RFC 6570 resource template can produce, decided in
 * time linear in the URI: the template is compiled to a small automaton (literal characters,
 * and one optional prefix plus a loop over a character class per expression) and the URI runs
 * through it once, all states at a time, never backtracking. The SDK's own matcher builds a
 * regular expression per call (`(.+)` for `{+var}`), which backtracks polynomially on several
 * expressions in a row, and takes almost any character in a variable; this one takes what
 * RFC 6570 expansion can produce, as a superset (variable names and prefix lengths are not
 * checked: a URI the upstream does not serve is its to refuse), and only ASCII.
 */

/** Templates longer than this are not used: reads that need them are refused. */
export const MAX_TEMPLATE_LENGTH = 512;

/** The most automaton steps one URI may cost against all of an upstream's templates. */
export const MATCH_BUDGET = 1_000_000;

/** A compiled template: its automaton and the literal text before its first expression. */
export interface CompiledTemplate {
  readonly template: string;
  readonly prefix: string;
  /** Per state: the character that leads to the next state, or -1. */
  readonly char: Int16Array;
  /** Per state: the class its self-loop accepts, or undefined. */
  readonly loop: readonly (Uint8Array | undefined)[];
  /** Per state: the state an empty expansion skips to, or -1. */
  readonly skip: Int32Array;
}

function charClass(...sets: string[]): Uint8Array {
  const cls = new Uint8Array(128);
  for (const set of sets) for (const ch of set) cls[ch.charCodeAt(0)] = 1;
  return cls;
}

const ALPHA_DIGIT = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** RFC 3986 unreserved, and `%` for percent-encoded triplets (checked apart, see resource-uri). */
const UNRESERVED = `${ALPHA_DIGIT}-._~%`;
const RESERVED = ":/?#[]@!$&'()*+,;=";

/**
 * What each RFC 6570 operator's expansion may contain, and the character it starts with when the
 * expansion is not empty. Lists are joined by `,`; exploded ones by the operator's separator,
 * with `=` between names and values.
 */
const OPERATORS: Readonly<Record<string, { prefix?: string; cls: Uint8Array }>> = {
  '': { cls: charClass(UNRESERVED, ',=') },
  '+': { cls: charClass(UNRESERVED, RESERVED) },
  '#': { prefix: '#', cls: charClass(UNRESERVED, RESERVED) },
  '.': { prefix: '.', cls: charClass(UNRESERVED, ',=') },
  '/': { prefix: '/', cls: charClass(UNRESERVED, ',=/') },
  ';': { prefix: ';', cls: charClass(UNRESERVED, ',=;') },
  '?': { prefix: '?', cls: charClass(UNRESERVED, ',=&') },
  '&': { prefix: '&', cls: charClass(UNRESERVED, ',=&') },
};

/** `var`, `var:3`, `var*`, comma-separated (RFC 6570 §2.3). */
const VARIABLE_LIST =
  /^(?:[A-Za-z0-9_.]|%[0-9A-Fa-f]{2})+(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[A-Za-z0-9_.]|%[0-9A-Fa-f]{2})+(?::[1-9][0-9]{0,3}|\*)?)*$/;

/**
 * Compiles `template`, or returns undefined for one that is too long, malformed, or uses an
 * operator RFC 6570 reserves (`=`, `,`, `!`, `@`, `|`): a template that cannot be read matches
 * nothing.
 */
export function compileTemplate(template: string): CompiledTemplate | undefined {
  if (template.length === 0 || template.length > MAX_TEMPLATE_LENGTH) return undefined;
  const char: number[] = [];
  const loop: (Uint8Array | undefined)[] = [];
  const skip: number[] = [];
  let prefix: string | undefined;
  let index = 0;
  while (index < template.length) {
    const ch = template[index] ?? '';
    if (ch === '}') return undefined;
    if (ch !== '{') {
      const code = template.charCodeAt(index);
      // A URI in normal form is printable ASCII: a template that is not can produce none.
      if (code <= 0x20 || code >= 0x7f) return undefined;
      char.push(code);
      loop.push(undefined);
      skip.push(-1);
      index += 1;
      continue;
    }
    const end = template.indexOf('}', index + 1);
    if (end < 0) return undefined;
    const body = template.slice(index + 1, end);
    const first = body[0] ?? '';
    const operator = first in OPERATORS && first !== '' ? first : '';
    const spec = OPERATORS[operator];
    if (spec === undefined || !VARIABLE_LIST.test(body.slice(operator.length))) return undefined;
    prefix ??= template.slice(0, index);
    const state = char.length;
    if (spec.prefix !== undefined) {
      // state --prefix--> state+1 (loops over the class) --ε--> after; or state --ε--> after.
      char.push(spec.prefix.charCodeAt(0), -1);
      loop.push(undefined, spec.cls);
      skip.push(state + 2, state + 2);
    } else {
      char.push(-1);
      loop.push(spec.cls);
      skip.push(state + 1);
    }
    index = end + 1;
  }
  return {
    template,
    prefix: prefix ?? template,
    char: Int16Array.from(char),
    loop,
    skip: Int32Array.from(skip),
  };
}

/**
 * Whether `uri` is an expansion of one of `templates`, within {@link MATCH_BUDGET} steps in all
 * (a URI that would cost more matches nothing). `uri` should be in normal form already
 * (see `inNormalForm`): this only checks the shape.
 */
export function matchesAnyTemplate(
  templates: readonly CompiledTemplate[],
  uri: string,
  budget = MATCH_BUDGET,
): boolean {
  const left = { steps: budget };
  for (const template of templates) {
    if (!uri.startsWith(template.prefix)) continue;
    if (run(template, uri, left)) return true;
    if (left.steps <= 0) return false;
  }
  return false;
}

function run(template: CompiledTemplate, uri: string, left: { steps: number }): boolean {
  const { char, loop, skip } = template;
  const final = char.length;
  // Two state lists, swapped per character; `seen` marks a state as listed in this generation.
  let current = new Int32Array(final + 1);
  let next = new Int32Array(final + 1);
  const seen = new Int32Array(final + 1).fill(-1);
  let generation = 0;
  // Lists `state` and what its ε (skip) edges reach; they only lead forward, so this ends.
  const add = (into: Int32Array, count: number, state: number): number => {
    let s = state;
    while (s >= 0 && seen[s] !== generation) {
      seen[s] = generation;
      into[count] = s;
      count += 1;
      s = s < final ? (skip[s] ?? -1) : -1;
    }
    return count;
  };
  let size = add(current, 0, 0);
  for (let position = 0; position < uri.length; position += 1) {
    const code = uri.charCodeAt(position);
    if (code >= 128) return false;
    generation += 1;
    let count = 0;
    for (let index = 0; index < size; index += 1) {
      const state = current[index] ?? final;
      if (state === final) continue;
      if (char[state] === code) count = add(next, count, state + 1);
      if (loop[state]?.[code] === 1) count = add(next, count, state);
    }
    left.steps -= count + 1;
    if (count === 0 || left.steps <= 0) return false;
    [current, next] = [next, current];
    size = count;
  }
  for (let index = 0; index < size; index += 1) if (current[index] === final) return true;
  return false;
}
