/**
 * A small lossless JSON reader for tests that must see exactly what went over the wire: numbers
 * stay as their digits (never a JS double), object members keep their order, duplicates and
 * names such as `__proto__` (a plain list of entries, no prototype involved).
 */

export type Json =
  | { readonly kind: 'number'; readonly raw: string }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'boolean'; readonly value: boolean }
  | { readonly kind: 'null' }
  | { readonly kind: 'array'; readonly items: readonly Json[] }
  | { readonly kind: 'object'; readonly entries: readonly (readonly [string, Json])[] };

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
/** Deeper than any test payload; keeps the recursion far from the stack limit. */
const MAX_DEPTH = 512;

/** Parses JSON text without losing anything; throws a SyntaxError naming the offset. */
export function parseLossless(text: string): Json {
  let pos = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`JSON: ${what} at offset ${pos}: ${JSON.stringify(text.slice(pos, pos + 20))}`);
  };
  const skip = () => {
    WHITESPACE.lastIndex = pos;
    WHITESPACE.exec(text);
    pos = WHITESPACE.lastIndex;
  };
  const token = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = pos;
    const m = pattern.exec(text);
    if (!m) return undefined;
    pos = pattern.lastIndex;
    return m[0];
  };
  const value = (depth: number): Json => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const entries: [string, Json][] = [];
      skip();
      if (text[pos] === '}') {
        pos++;
        return { kind: 'object', entries };
      }
      for (;;) {
        skip();
        const key = token(STRING) ?? fail('expected a member name');
        skip();
        if (text[pos++] !== ':') fail('expected ":"');
        entries.push([JSON.parse(key) as string, value(depth + 1)]);
        skip();
        const next = text[pos++];
        if (next === '}') return { kind: 'object', entries };
        if (next !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const items: Json[] = [];
      skip();
      if (text[pos] === ']') {
        pos++;
        return { kind: 'array', items };
      }
      for (;;) {
        items.push(value(depth + 1));
        skip();
        const next = text[pos++];
        if (next === ']') return { kind: 'array', items };
        if (next !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return { kind: 'string', value: JSON.parse(token(STRING) ?? fail('bad string')) as string };
    if (text.startsWith('true', pos)) {
      pos += 4;
      return { kind: 'boolean', value: true };
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return { kind: 'boolean', value: false };
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return { kind: 'null' };
    }
    return { kind: 'number', raw: token(NUMBER) ?? fail('unexpected character') };
  };
  const result = value(0);
  skip();
  if (pos !== text.length) fail('trailing text');
  return result;
}

/** JSON text of a value, numbers written with their original digits. */
export function stringifyLossless(value: Json): string {
  switch (value.kind) {
    case 'number': return value.raw;
    case 'string': return JSON.stringify(value.value);
    case 'boolean': return String(value.value);
    case 'null': return 'null';
    case 'array': return `[${value.items.map(stringifyLossless).join(',')}]`;
    case 'object': return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${stringifyLossless(v)}`).join(',')}}`;
  }
}

/**
 * The exact decimal value of a JSON number as `[-]<digits>e<exponent>`, digits without leading or
 * trailing zeros: `1e308`, `1E+308` and `10e307` agree, `9007199254740993` and
 * `9007199254740992` do not. Negative zero is zero.
 */
export function normalizeNumber(raw: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(raw);
  if (!m) throw new SyntaxError(`not a JSON number: ${raw}`);
  const fraction = m[3] ?? '';
  let digits = (m[2] + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let exponent = BigInt(m[4] ?? '0') - BigInt(fraction.length);
  const trailing = /0*$/.exec(digits)![0].length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += BigInt(trailing);
  return `${m[1]}${digits}e${exponent}`;
}

/**
 * A canonical text of a value for equality: numbers by exact value (normalizeNumber), strings by
 * their characters (escapes resolved), member order and duplicates kept.
 */
export function canonical(value: Json): string {
  switch (value.kind) {
    case 'number': return normalizeNumber(value.raw);
    case 'array': return `[${value.items.map(canonical).join(',')}]`;
    case 'object': return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
    default: return stringifyLossless(value);
  }
}

/** The member `key` of an object (the last one, as JSON.parse would), or undefined. */
export function member(value: Json | undefined, key: string): Json | undefined {
  if (value?.kind !== 'object') return undefined;
  for (let i = value.entries.length - 1; i >= 0; i--) if (value.entries[i][0] === key) return value.entries[i][1];
  return undefined;
}

/** Follows member names from `value`. */
export function at(value: Json | undefined, ...keys: string[]): Json | undefined {
  return keys.reduce<Json | undefined>((v, k) => member(v, k), value);
}

/** The string value of `value`, or undefined. */
export function stringOf(value: Json | undefined): string | undefined {
  return value?.kind === 'string' ? value.value : undefined;
}

function snippet(value: Json | undefined): string {
  if (value === undefined) return '(absent)';
  const text = stringifyLossless(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Where two values first differ, as `<JSON pointer>: expected <x>, got <y>`, or undefined when
 * they are equal (by canonical()).
 */
export function firstDifference(expected: Json | undefined, actual: Json | undefined, pointer = ''): string | undefined {
  const where = pointer || '/';
  if (expected === undefined || actual === undefined || expected.kind !== actual.kind) {
    return expected === undefined && actual === undefined ? undefined : `${where}: expected ${snippet(expected)}, got ${snippet(actual)}`;
  }
  if (expected.kind === 'array' && actual.kind === 'array') {
    const n = Math.max(expected.items.length, actual.items.length);
    for (let i = 0; i < n; i++) {
      const d = firstDifference(expected.items[i], actual.items[i], `${pointer}/${i}`);
      if (d) return d;
    }
    return undefined;
  }
  if (expected.kind === 'object' && actual.kind === 'object') {
    const escape = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
    const n = Math.max(expected.entries.length, actual.entries.length);
    for (let i = 0; i < n; i++) {
      const e = expected.entries[i];
      const a = actual.entries[i];
      if (e && a && e[0] !== a[0]) {
        return `${pointer}/${escape(e[0])}: member ${i} is ${JSON.stringify(e[0])} but got ${JSON.stringify(a[0])} (order or names changed)`;
      }
      const d = firstDifference(e?.[1], a?.[1], `${pointer}/${escape((e ?? a)![0])}`);
      if (d) return d;
    }
    return undefined;
  }
  return canonical(expected) === canonical(actual) ? undefined : `${where}: expected ${snippet(expected)}, got ${snippet(actual)}`;
}
