/**
 * Exact comparison of JSON number literals, digit by digit: a payload filter compares numbers as
 * the publisher wrote them (docs/architecture.md "Exact payloads"), so 9007199254740993 stays
 * above 9007199254740992 and 1e400 is a number, not Infinity. No doubles, no rounding.
 */

/** A number as `sign × 0.digits × 10^exponent`; zero has no digits (and no sign). */
export interface Decimal {
  /** -1, 0 or 1. */
  readonly sign: -1 | 0 | 1;
  /** Significant digits, no leading or trailing zeros (empty for zero). */
  readonly digits: string;
  /** BigInt: a JSON exponent may have more digits than a double can count. */
  readonly exponent: bigint;
}

const JSON_NUMBER = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Reads a JSON number literal; undefined when `text` is not one. */
export function parseDecimal(text: string): Decimal | undefined {
  const match = JSON_NUMBER.exec(text);
  if (!match) return undefined;
  const [, minus, whole, fraction = '', exponent = '0'] = match;
  const all = whole + fraction;
  const firstNonZero = all.search(/[1-9]/);
  if (firstNonZero === -1) return { sign: 0, digits: '', exponent: 0n };
  const digits = all.slice(firstNonZero).replace(/0+$/, '');
  // all × 10^(exponent − fraction length) = 0.digits × 10^(whole length − leading zeros + exponent)
  return { sign: minus ? -1 : 1, digits, exponent: BigInt(whole.length - firstNonZero) + BigInt(exponent) };
}

/** -1, 0 or 1 as `a` is below, equal to or above `b`. */
export function compareDecimals(a: Decimal, b: Decimal): -1 | 0 | 1 {
  if (a.sign !== b.sign) return a.sign < b.sign ? -1 : 1;
  const magnitude = a.sign === 0 ? 0 : compareMagnitudes(a, b);
  return magnitude === 0 ? 0 : a.sign < 0 ? (-magnitude as -1 | 1) : magnitude;
}

function compareMagnitudes(a: Decimal, b: Decimal): -1 | 0 | 1 {
  if (a.exponent !== b.exponent) return a.exponent < b.exponent ? -1 : 1;
  const length = Math.max(a.digits.length, b.digits.length);
  const x = a.digits.padEnd(length, '0');
  const y = b.digits.padEnd(length, '0');
  return x === y ? 0 : x < y ? -1 : 1;
}

/** One spelling per value (`100`, `1e2`, `100.0` → the same key), for sets of numbers. */
export function decimalKey(value: Decimal): string {
  return value.sign === 0 ? '0' : `${value.sign < 0 ? '-' : ''}0.${value.digits}e${value.exponent}`;
}
