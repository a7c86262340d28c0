/**
 * Cedar strings are Unicode (UTF-8 in the official engine), and a JavaScript string may hold a
 * lone UTF-16 surrogate, which is no character at all. The official engine throws on one
 * wherever it appears (text, annotations, ids, request data), so Steward finds it first and
 * refuses with a position instead of failing somewhere inside the engine.
 */

/** A surrogate not part of a pair: with the `u` flag a pair is one code point, never matched. */
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

/** The index of the first lone surrogate in `s`, or -1 when `s` is well-formed Unicode. */
export function loneSurrogateAt(s: string): number {
  return LONE_SURROGATE.exec(s)?.index ?? -1;
}

/** `s` with each lone surrogate shown as `\udXXX`, for a message that names it. */
export function showLoneSurrogates(s: string): string {
  return s.replace(LONE_SURROGATES, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
