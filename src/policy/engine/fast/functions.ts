/**
 * Cedar's extension functions (Lean `Cedar/Spec/ExtFun.lean`) over runtime values, and the type
 * checks the evaluator shares. Kept apart from `values.ts` so that reading `__extn` data (which
 * may nest calls such as `offset(datetime(…), duration(…))`) and compiled policies use one table.
 */
import {
  Datetime,
  Decimal,
  Duration,
  IpAddr,
  fitsI64,
  ipInRange,
  ipIsLoopback,
  ipIsMulticast,
  parseDatetime,
  parseDecimal,
  parseDuration,
  parseIp,
  toDate,
  toTime,
} from './extensions.js';
import { CSet, EntityRef, typeName } from './values.js';
import type { Value } from './values.js';

/** An evaluation error: the policy is skipped and reported as errored. */
export class EvalError extends Error {}

export function typeError(expected: string, got: Value): EvalError {
  return new EvalError(`type error: expected ${expected}, got ${typeName(got)}`);
}

export function asBool(v: Value): boolean {
  if (typeof v !== 'boolean') throw typeError('bool', v);
  return v;
}

export function asLong(v: Value): bigint {
  if (typeof v !== 'bigint') throw typeError('long', v);
  return v;
}

export function asString(v: Value): string {
  if (typeof v !== 'string') throw typeError('string', v);
  return v;
}

export function asEntity(v: Value): EntityRef {
  if (!(v instanceof EntityRef)) throw typeError('entity', v);
  return v;
}

export function asSet(v: Value): CSet {
  if (!(v instanceof CSet)) throw typeError('set', v);
  return v;
}

export function checked(n: bigint): bigint {
  if (!fitsI64(n)) throw new EvalError('integer overflow');
  return n;
}

type ExtImpl = (args: readonly Value[]) => Value;

function ext<T>(v: Value | undefined, cls: abstract new (...a: never[]) => T, name: string): T {
  if (!(v instanceof cls)) throw typeError(name, v ?? false);
  return v;
}

function orExtError<T extends Value>(v: T | undefined, what: string): T {
  if (v === undefined) throw new EvalError(`error while evaluating \`${what}\` extension function`);
  return v;
}

/** Extension functions by name: arity and implementation. */
export const EXTENSIONS: Readonly<Record<string, readonly [number, ExtImpl]>> = {
  decimal: [1, (a) => orExtError(parseDecimal(asString(a[0] ?? false)), 'decimal')],
  lessThan: [2, (a) => ext(a[0], Decimal, 'decimal').value < ext(a[1], Decimal, 'decimal').value],
  lessThanOrEqual: [
    2,
    (a) => ext(a[0], Decimal, 'decimal').value <= ext(a[1], Decimal, 'decimal').value,
  ],
  greaterThan: [
    2,
    (a) => ext(a[0], Decimal, 'decimal').value > ext(a[1], Decimal, 'decimal').value,
  ],
  greaterThanOrEqual: [
    2,
    (a) => ext(a[0], Decimal, 'decimal').value >= ext(a[1], Decimal, 'decimal').value,
  ],
  ip: [1, (a) => orExtError(parseIp(asString(a[0] ?? false)), 'ip')],
  isIpv4: [1, (a) => !ext(a[0], IpAddr, 'ipaddr').v6],
  isIpv6: [1, (a) => ext(a[0], IpAddr, 'ipaddr').v6],
  isLoopback: [1, (a) => ipIsLoopback(ext(a[0], IpAddr, 'ipaddr'))],
  isMulticast: [1, (a) => ipIsMulticast(ext(a[0], IpAddr, 'ipaddr'))],
  isInRange: [2, (a) => ipInRange(ext(a[0], IpAddr, 'ipaddr'), ext(a[1], IpAddr, 'ipaddr'))],
  datetime: [1, (a) => orExtError(parseDatetime(asString(a[0] ?? false)), 'datetime')],
  duration: [1, (a) => orExtError(parseDuration(asString(a[0] ?? false)), 'duration')],
  offset: [
    2,
    (a) => {
      const ms = ext(a[0], Datetime, 'datetime').ms + ext(a[1], Duration, 'duration').ms;
      return new Datetime(checked(ms));
    },
  ],
  durationSince: [
    2,
    (a) => {
      const ms = ext(a[0], Datetime, 'datetime').ms - ext(a[1], Datetime, 'datetime').ms;
      return new Duration(checked(ms));
    },
  ],
  toDate: [1, (a) => orExtError(toDate(ext(a[0], Datetime, 'datetime')), 'toDate')],
  toTime: [1, (a) => toTime(ext(a[0], Datetime, 'datetime'))],
  toMilliseconds: [1, (a) => ext(a[0], Duration, 'duration').ms],
  toSeconds: [1, (a) => ext(a[0], Duration, 'duration').ms / 1000n],
  toMinutes: [1, (a) => ext(a[0], Duration, 'duration').ms / 60_000n],
  toHours: [1, (a) => ext(a[0], Duration, 'duration').ms / 3_600_000n],
  toDays: [1, (a) => ext(a[0], Duration, 'duration').ms / 86_400_000n],
};
