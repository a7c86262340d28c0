/**
 * The injected secret must never come back. An upstream that echoes its request (a debugging
 * endpoint, an error page quoting headers, an MCP tool that returns what it was sent) would hand
 * the credential Steward injected to the agent that must never hold it, and into the trail.
 * Steward knows the exact value, so it scrubs it, in the forms it is likely to come back in, from
 * everything an upstream answers on its way to the agent and to the record: HTTP response
 * headers and bodies (streaming, a value split across chunks included) and MCP results.
 *
 * One Aho-Corasick automaton over the UTF-8 bytes of every form finds them all in one pass,
 * linear in the input whatever it holds, holding back at most the longest form's length between
 * chunks. A match is overwritten by a marker of the same length, so a body's `Content-Length`
 * stays true and JSON stays JSON.
 */
import { Buffer } from 'node:buffer';

/** What a scrubber replaces a form of the secret with, cut or padded to the form's length. */
const MARK = '[REDACTED:injected_secret]';
/** Shorter values are not scrubbed: they would match everywhere (and are no credential). */
const MIN_VALUE_LENGTH = 6;
/** Shorter derived forms (a base64 core of a short secret) are not looked for. */
const MIN_FORM_LENGTH = 8;
/** MCP results nested deeper than this are cut (`[TRUNCATED]`) rather than passed unscrubbed. */
const MAX_DEPTH = 256;

/** A body's scrubber: feed it the chunks in order, pass on what it returns. */
export interface BodyScrubber {
  /** The part of `chunk` (and of what was held back) that can be passed on now, scrubbed. */
  push(chunk: Buffer): Buffer;
  /** What was held back, at the end of the body. */
  end(): Buffer;
  /** Whether a form of the secret was found so far. */
  found(): boolean;
}

/** Scrubs the injected secret of one call from what the upstream answers. */
export interface Scrubber {
  /** False when nothing was injected: everything passes as it is. */
  readonly active: boolean;
  text(input: string): { readonly text: string; readonly found: boolean };
  /** Every string of a JSON-like value, keys too; the input is not changed. */
  value<T>(input: T): { readonly value: T; readonly found: boolean };
  /** Header values scrubbed; a header whose name holds the secret is dropped. */
  headers<H extends Readonly<Record<string, string | string[] | undefined>>>(
    input: H,
  ): { readonly headers: H; readonly found: boolean };
  /** A scrubber for one streamed body. */
  body(): BodyScrubber;
}

/**
 * A scrubber for `values`: the secret and the forms it was injected in (`Bearer {secret}`, a
 * query parameter's value). Each is looked for as written, percent-encoded (`%20` and `+`),
 * JSON-escaped (also with `\/`, and with non-ASCII as `\uXXXX`), HTML-escaped, in base64 and base64url (whole, and the parts that any base64
 * text containing it must contain, at each of the three alignments: `user:secret` encoded for
 * Basic authentication), and, when the secret is itself base64 of text (a Basic credential),
 * that text decoded and the password in it.
 *
 * @example
 * const scrubber = createScrubber([secret, `Bearer ${secret}`]);
 * const { text, found } = scrubber.text(answer);
 */
export function createScrubber(values: readonly string[]): Scrubber {
  const kept = values.filter((value) => value.length >= MIN_VALUE_LENGTH);
  if (kept.length === 0) return INACTIVE;
  const automaton = automatonFor(kept);

  function scrubBytes(input: Buffer): Buffer | undefined {
    return run(automaton, input, 0, 0).output;
  }

  function text(input: string): { text: string; found: boolean } {
    // A UTF-16 unit is at most three UTF-8 bytes: a string this short cannot hold a form.
    if (input.length * 3 < automaton.minLength) return { text: input, found: false };
    const scrubbed = scrubBytes(Buffer.from(input, 'utf8'));
    return scrubbed === undefined
      ? { text: input, found: false }
      : { text: scrubbed.toString('utf8'), found: true };
  }

  return {
    active: true,
    text,
    value<T>(input: T) {
      let found = false;
      const walk = (node: unknown, depth: number): unknown => {
        if (typeof node === 'string') {
          const result = text(node);
          found ||= result.found;
          return result.text;
        }
        if (node === null || typeof node !== 'object') return node;
        if (depth >= MAX_DEPTH) return '[TRUNCATED]';
        if (Array.isArray(node)) {
          const items = node as unknown[];
          let copy: unknown[] | undefined;
          items.forEach((item, index) => {
            const scrubbed = walk(item, depth + 1);
            if (scrubbed !== item) (copy ??= [...items])[index] = scrubbed;
          });
          return copy ?? node;
        }
        let copy: Record<string, unknown> | undefined;
        for (const [key, item] of Object.entries(node as Record<string, unknown>)) {
          const scrubbedKey = text(key);
          const scrubbed = walk(item, depth + 1);
          if (scrubbedKey.found || scrubbed !== item) {
            copy ??= { ...(node as Record<string, unknown>) };
            if (scrubbedKey.found) {
              found = true;
              Reflect.deleteProperty(copy, key);
            }
            Object.defineProperty(copy, scrubbedKey.text, {
              value: scrubbed,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
        }
        return copy ?? node;
      };
      const value = walk(input, 0) as T;
      return { value, found };
    },
    headers(input) {
      let found = false;
      const out: Record<string, string | string[] | undefined> = {};
      for (const [name, value] of Object.entries(input)) {
        if (text(name).found) {
          found = true;
          continue;
        }
        if (value === undefined) continue;
        const scrubbed = Array.isArray(value) ? value.map((item) => text(item)) : [text(value)];
        if (scrubbed.some((result) => result.found)) found = true;
        out[name] = Array.isArray(value)
          ? scrubbed.map((result) => result.text)
          : (scrubbed[0]?.text ?? '');
      }
      return { headers: (found ? out : input) as typeof input, found };
    },
    body() {
      let state = 0;
      let held = Buffer.alloc(0);
      let found = false;
      return {
        push(chunk) {
          const joined = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
          // The held bytes were run through already: the automaton's state remembers them. A
          // match may start among them (they are at the start of `joined`, not passed on yet).
          const result = run(automaton, joined, held.length, state);
          state = result.state;
          if (result.output !== undefined) found = true;
          const work = result.output ?? joined;
          // What may still be the start of a form stays back until the next chunk says.
          const keep = automaton.depth[state] ?? 0;
          held = Buffer.from(work.subarray(work.length - keep));
          return work.subarray(0, work.length - keep);
        },
        end() {
          const rest = held;
          held = Buffer.alloc(0);
          state = 0;
          return rest;
        },
        found: () => found,
      };
    },
  };
}

const INACTIVE: Scrubber = {
  active: false,
  text: (input) => ({ text: input, found: false }),
  value: (input) => ({ value: input, found: false }),
  headers: (input) => ({ headers: input, found: false }),
  body: () => ({ push: (chunk) => chunk, end: () => Buffer.alloc(0), found: () => false }),
};

/** `MARK` at `length` bytes: cut, or padded with `*` before its closing bracket. */
function mark(length: number): string {
  if (length >= MARK.length) return `${MARK.slice(0, -1)}${'*'.repeat(length - MARK.length)}]`;
  if (length >= 10) return `[REDACTED${'*'.repeat(length - 10)}]`;
  return '*'.repeat(length);
}

/** Every form of `values` to look for, as UTF-8 bytes, none containing another. */
export function scrubForms(values: readonly string[]): Buffer[] {
  const forms = new Set<string>();
  for (const value of values) {
    const json = JSON.stringify(value).slice(1, -1);
    const encoded = encodeURIComponent(value);
    for (const form of [
      value,
      encoded,
      encoded.replaceAll('%20', '+'),
      json,
      json.replaceAll('/', '\\/'),
      // As serialisers that escape every non-ASCII character write it (Python's json.dumps).
      json.replace(/[^\x00-\x7f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`),
      escapeHtml(value),
    ]) {
      forms.add(form);
    }
    const bytes = Buffer.from(value, 'utf8');
    for (const alphabet of ['base64', 'base64url'] as const) {
      forms.add(bytes.toString(alphabet));
      for (const shift of [0, 1, 2]) forms.add(base64Core(bytes, shift, alphabet));
    }
    // A Basic credential's `user:password`, and the password alone (what an upstream that
    // reports "who are you" may echo).
    const decoded = base64Text(value);
    if (decoded !== undefined) {
      forms.add(decoded);
      const password = decoded.slice(decoded.indexOf(':') + 1);
      if (password !== decoded && password.length >= MIN_FORM_LENGTH) forms.add(password);
    }
  }
  const candidates = [...forms]
    .filter((form) => form.length >= MIN_FORM_LENGTH || values.includes(form))
    .map((form) => Buffer.from(form, 'utf8'))
    .sort((a, b) => a.length - b.length);
  // A form that contains another is found through the shorter one: looking for both would only
  // make two matches overlap.
  const kept: Buffer[] = [];
  for (const form of candidates) {
    if (!kept.some((shorter) => form.includes(shorter))) kept.push(form);
  }
  return kept;
}

/** `value` as an HTML page quotes it. */
function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * The characters of base64 text that depend only on `bytes` when they sit `shift` bytes past a
 * multiple of three in a longer encoded text: whatever precedes or follows them, that text holds
 * these characters.
 */
function base64Core(bytes: Buffer, shift: number, alphabet: 'base64' | 'base64url'): string {
  const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString(alphabet);
  const first = Math.ceil((shift * 8) / 6);
  const last = Math.floor(((shift + bytes.length) * 8) / 6);
  return encoded.slice(first, last);
}

/** The text a base64 value stands for, when it is canonical base64 of printable UTF-8. */
function base64Text(value: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.toString('base64') !== value) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  return /^[\P{Cc}]+$/u.test(text) && text.length >= MIN_VALUE_LENGTH ? text : undefined;
}

/**
 * An Aho-Corasick automaton over bytes. Most states have one child (the forms are long and
 * share little), so a child is kept in two typed arrays and only branching states get a map;
 * the root has a full table, since most bytes of an answer leave it or stay at it.
 */
interface Automaton {
  readonly root: Int32Array;
  readonly childByte: Int16Array;
  readonly childState: Int32Array;
  readonly branches: (Map<number, number> | undefined)[];
  readonly fail: Int32Array;
  /** The length of the form that ends at this state (itself or by its failure links), or 0. */
  readonly out: Int32Array;
  readonly depth: Int32Array;
  readonly minLength: number;
}

const automata = new Map<string, Automaton>();
/** Automata kept for reuse, by their values (each upstream's secret, in memory anyway). */
const MAX_AUTOMATA = 64;

function automatonFor(values: readonly string[]): Automaton {
  const key = values.join('\u0000');
  const cached = automata.get(key);
  if (cached !== undefined) {
    // Most recently used last, so the first key is the one to drop.
    automata.delete(key);
    automata.set(key, cached);
    return cached;
  }
  const built = build(scrubForms(values));
  if (automata.size >= MAX_AUTOMATA) {
    const oldest = automata.keys().next();
    if (!oldest.done) automata.delete(oldest.value);
  }
  automata.set(key, built);
  return built;
}

function build(forms: readonly Buffer[]): Automaton {
  const size = forms.reduce((sum, form) => sum + form.length, 0) + 1;
  const childByte = new Int16Array(size).fill(-1);
  const childState = new Int32Array(size);
  const branches: (Map<number, number> | undefined)[] = new Array<undefined>(size);
  const out = new Int32Array(size);
  const depth = new Int32Array(size);
  let states = 1;

  const child = (state: number, byte: number): number => {
    if (childByte[state] === byte) return childState[state] ?? -1;
    return branches[state]?.get(byte) ?? -1;
  };
  for (const form of forms) {
    let state = 0;
    for (let j = 0; j < form.length; j++) {
      const byte = form[j] as number;
      let next = child(state, byte);
      if (next === -1) {
        next = states++;
        depth[next] = (depth[state] ?? 0) + 1;
        if (childByte[state] === -1) {
          childByte[state] = byte;
          childState[state] = next;
        } else {
          (branches[state] ??= new Map()).set(byte, next);
        }
      }
      state = next;
    }
    out[state] = form.length;
  }

  const fail = new Int32Array(size);
  const root = new Int32Array(256);
  const automaton: Automaton = {
    root,
    childByte,
    childState,
    branches,
    fail,
    out,
    depth,
    minLength: forms.reduce((min, form) => Math.min(min, form.length), Infinity),
  };
  // Breadth first, so that a state's failure target is complete before the state is.
  const queue = new Int32Array(size);
  let tail = 0;
  const visit = (parent: number, byte: number, next: number): void => {
    if (parent === 0) root[byte] = next;
    else fail[next] = step(automaton, fail[parent] as number, byte);
    if (out[next] === 0) out[next] = out[fail[next] as number] as number;
    queue[tail++] = next;
  };
  for (let head = -1; head < tail; head++) {
    const state = head === -1 ? 0 : (queue[head] as number);
    const only = childByte[state] as number;
    if (only !== -1) visit(state, only, childState[state] as number);
    branches[state]?.forEach((next, byte) => visit(state, byte, next));
  }
  return automaton;
}

/**
 * Runs `automaton` over `input` from index `from`, starting in `start`. Each form found is
 * overwritten, in a copy (`output`, undefined when nothing was found), by a marker of its length,
 * and the search starts afresh after it. Returns the state after the last byte.
 */
function run(
  automaton: Automaton,
  input: Buffer,
  from: number,
  start: number,
): { state: number; output: Buffer | undefined } {
  const { root, out } = automaton;
  let state = start;
  let output: Buffer | undefined;
  for (let i = from; i < input.length; i++) {
    const byte = input[i] as number;
    state = state === 0 ? (root[byte] as number) : step(automaton, state, byte);
    const length = out[state] as number;
    if (length === 0) continue;
    output ??= Buffer.from(input);
    output.write(mark(length), i - length + 1, 'latin1');
    state = 0;
  }
  return { state, output };
}

/** The automaton's move on `byte` from `state`: amortised constant time. */
function step(automaton: Automaton, state: number, byte: number): number {
  let current = state;
  for (;;) {
    if (current === 0) return automaton.root[byte] as number;
    if (automaton.childByte[current] === byte) return automaton.childState[current] as number;
    const next = automaton.branches[current]?.get(byte);
    if (next !== undefined) return next;
    current = automaton.fail[current] as number;
  }
}

/**
 * An MCP result (or a JSON-RPC error's message and data) with the injected secret `values`
 * scrubbed, and where it was found (`where`, for the core's finding), if it was.
 */
export function scrubResult<T>(
  values: readonly string[],
  result: T,
  where = 'result',
): { readonly value: T; readonly secretEchoed?: readonly string[] } {
  const { value, found } = createScrubber(values).value(result);
  return found ? { value, secretEchoed: [where] } : { value };
}
