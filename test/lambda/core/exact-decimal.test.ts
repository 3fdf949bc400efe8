import * as fc from 'fast-check';
import { compareDecimals, decimalKey, parseDecimal } from '../../../lambda/core/exact-decimal';

const decimal = (text: string) => {
  const value = parseDecimal(text);
  if (!value) throw new Error(`not a JSON number: ${text}`);
  return value;
};
const compare = (a: string, b: string) => compareDecimals(decimal(a), decimal(b));
const sign = (n: bigint) => (n < 0n ? -1 : n > 0n ? 1 : 0);

/** `mantissa × 10^-scale` written in one of the spellings JSON allows. */
const spelled = fc.record({
  mantissa: fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
  scale: fc.integer({ min: 0, max: 30 }),
  style: fc.constantFrom('plain', 'exponent', 'padded', 'upper'),
}).map(({ mantissa, scale, style }) => {
  const digits = (mantissa < 0n ? -mantissa : mantissa).toString();
  const minus = mantissa < 0n ? '-' : '';
  let text: string;
  if (style === 'exponent') {
    text = `${minus}${digits}e-${scale}`;
  } else if (style === 'upper') {
    text = mantissa === 0n ? `0E-${scale}` : `${minus}${digits}0E${-scale - 1}`;
  } else {
    const padded = digits.padStart(scale + 1, '0');
    const whole = padded.slice(0, padded.length - scale);
    const fraction = padded.slice(padded.length - scale);
    text = `${minus}${whole}${fraction ? '.' + fraction : ''}${style === 'padded' ? (fraction ? '000' : '.000') : ''}`;
  }
  return { mantissa, scale, text };
});

describe('lambda/core/exact-decimal', () => {
  test('reads only JSON number literals', () => {
    for (const text of ['0', '-0', '-0.0', '1', '10', '1.5', '1e400', '1E+2', '2.5e-3', '18446744073709551615']) {
      expect(parseDecimal(text)).toBeDefined();
    }
    for (const text of ['', '-', '01', '1.', '.5', '+1', '1e', 'NaN', 'Infinity', '0x10', ' 1', '1 ', '"1"']) {
      expect(parseDecimal(text)).toBeUndefined();
    }
  });

  test('compares where doubles cannot', () => {
    expect(compare('9007199254740993', '9007199254740992')).toBe(1);
    expect(9007199254740993 > 9007199254740992).toBe(false); // what a double would have said
    expect(compare('18446744073709551615', '18446744073709551616')).toBe(-1);
    expect(compare('1e400', '1e399')).toBe(1);
    expect(compare('-1e400', '-1e399')).toBe(-1);
    expect(compare('1e-400', '0')).toBe(1);
    expect(compare('-1e-400', '0')).toBe(-1);
    expect(compare('0.1', '0.10000000000000000555')).toBe(-1);
    expect(compare('1e99999999999999999999', '1e99999999999999999998')).toBe(1);
  });

  test('one value, many spellings: equal and the same key', () => {
    const spellings = [['100', '1e2', '100.0', '1.00E+2', '10000e-2', '0.0001e6'], ['0', '-0', '0.0', '-0.0e5', '0e-9'], ['-2.5', '-25e-1', '-0.25E1']];
    for (const group of spellings) {
      for (const a of group) {
        for (const b of group) {
          expect(compare(a, b)).toBe(0);
          expect(decimalKey(decimal(a))).toBe(decimalKey(decimal(b)));
        }
      }
    }
    expect(decimalKey(decimal('100'))).not.toBe(decimalKey(decimal('1000')));
  });

  test('agrees with BigInt arithmetic on any two decimals, in any spelling', () => {
    fc.assert(fc.property(spelled, spelled, (a, b) => {
      // Scale both to the same denominator and compare as integers.
      const scale = Math.max(a.scale, b.scale);
      const x = a.mantissa * 10n ** BigInt(scale - a.scale);
      const y = b.mantissa * 10n ** BigInt(scale - b.scale);
      expect(compare(a.text, b.text)).toBe(sign(x - y));
      expect(decimalKey(decimal(a.text)) === decimalKey(decimal(b.text))).toBe(x === y);
    }), { numRuns: 3000 });
  });

  test('integers of any size compare as BigInt does', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }), fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }), (a, b) => {
      expect(compare(a.toString(), b.toString())).toBe(sign(a - b));
    }), { numRuns: 2000 });
  });
});
