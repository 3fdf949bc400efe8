import type { Json } from '../lossless-json';

/** Small builders for lossless JSON trees (numbers as raw digits). */
export const J = {
  num: (raw: string | number | bigint): Json => ({ kind: 'number', raw: String(raw) }),
  str: (value: string): Json => ({ kind: 'string', value }),
  bool: (value: boolean): Json => ({ kind: 'boolean', value }),
  nil: (): Json => ({ kind: 'null' }),
  arr: (...items: Json[]): Json => ({ kind: 'array', items }),
  obj: (...entries: [string, Json][]): Json => ({ kind: 'object', entries }),
};

/** A seeded PRNG (Park-Miller): the same seed plans the same events. */
export function prng(seed: number): () => number {
  let state = (Math.abs(Math.floor(seed)) % 2147483646) + 1;
  return () => {
    state = (state * 48271) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

export const pick = <T>(rng: () => number, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
export const intBetween = (rng: () => number, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));

export const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A subscription's filters, as the suite computes matches itself (docs/architecture.md "Delivery", README "Matching"). */
export interface Filter {
  readonly eventType: string;
  readonly severityFilter: Severity;
}

/** `*` matches all, `prefix.*` every type below `prefix.`, anything else itself; severity at or above the minimum. */
export function matches(filter: Filter, eventType: string, severity: Severity): boolean {
  if (SEVERITIES.indexOf(severity) < SEVERITIES.indexOf(filter.severityFilter)) return false;
  const pattern = filter.eventType;
  if (pattern === '*' || pattern === eventType) return true;
  return pattern.endsWith('.*') && eventType.startsWith(pattern.slice(0, -1));
}

/** Event types chosen so that exact, prefix, deeper-prefix, near-miss and catch-all patterns all matter. */
export const EVENT_TYPES = ['torture.a.one', 'torture.a.two.deep', 'torture.ab', 'torture.b.x', 'torture.b.y', 'torture.c', 'torture.cx'] as const;

/** Kinds of hostile-but-valid content (see details()). */
export const FLAVOURS = ['plain', 'bignum', 'proto', 'ctor', 'unicode', 'deep', 'mixed'] as const;
export type Flavour = (typeof FLAVOURS)[number];

export function pickFlavour(rng: () => number): Flavour {
  const r = rng();
  if (r < 0.4) return 'plain';
  return FLAVOURS[1 + Math.floor(((r - 0.4) / 0.6) * (FLAVOURS.length - 1))];
}

/** A 19-digit id like Twitter's or Discord's snowflakes: beyond 2^53. */
function snowflake(rng: () => number): string {
  let digits = String(intBetween(rng, 1, 9));
  for (let i = 0; i < 18; i++) digits += String(intBetween(rng, 0, 9));
  return digits;
}

const BIG: [string, Json][] = [
  ['uint64Max', J.num('18446744073709551615')],
  ['justAbove2to53', J.num('9007199254740993')],
  ['int64MinMinusOne', J.num('-9223372036854775809')],
  ['tiny', J.num('5e-324')],
  ['huge', J.num('1e308')],
  ['manyDigits', J.num('3.14159265358979323846264338327950288419716939937510')],
  ['almostOne', J.num('1.0000000000000000000000001')],
  ['exponent', J.num('-1.5E-7')],
];

/** Member names that are Object.prototype's: `__proto__` and friends... */
const PROTO_KEYS: [string, Json][] = [
  ['__proto__', J.obj(['polluted', J.bool(true)], ['toString', J.str('x')])],
  ['toString', J.str('not a function')],
  ['hasOwnProperty', J.num(0)],
  ['valueOf', J.arr()],
  ['nested', J.obj(['__proto__', J.arr(J.str('a'), J.nil())], ['prototype', J.nil()])],
];

/** ...and `constructor`, apart: it breaks other things. */
const CONSTRUCTOR_KEYS: [string, Json][] = [
  ['constructor', J.obj(['name', J.str('Object')], ['prototype', J.obj(['polluted', J.bool(true)])])],
  ['nested', J.obj(['constructor', J.obj()])],
];

const UNICODE: [string, Json][] = [
  ['emoji', J.str('\u{1F469}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466} \u{1F680} \u{1F1FA}\u{1F1E6}')],
  ['rtl', J.str('\u0645\u0631\u062D\u0628\u0627 \u200F\u05E2\u05D1\u05E8\u05D9\u05EA\u200F \u202Eevil\u202C')],
  ['separators', J.str('line\u2028paragraph\u2029end')],
  ['controls', J.str('tab\tnewline\nnul\u0000bell\u0007del\u007F')],
  ['astral', J.str('\u{1D11E}\u{1D54F}\u{10FFFD}')],
  ['combining', J.str('e\u0301 is not \u00E9')],
  ['bom', J.str('\uFEFFafter a BOM')],
  ['k\u00E9y \u2603 with spaces and "quotes"', J.str('v')],
  ['', J.str('an empty member name')],
  ['\u2028', J.str('a member name that is a line separator')],
];

/** Nesting only (numbers within 2^53): the other flavours test the content. */
function deep(rng: () => number, levels: number): Json {
  let node: Json = J.obj(['bottom', J.num(intBetween(rng, -1000000, 1000000))], ['text', J.str('\u{1F9CA} deep')]);
  for (let i = 0; i < levels; i++) node = i % 2 === 0 ? J.arr(node, J.num(i)) : J.obj([`level${levels - i}`, node]);
  return node;
}

/** The `details` of one event: its ref first (how receivers tell events apart), then content of its flavour. */
export function details(rng: () => number, ref: string, flavour: Flavour): Json {
  const entries: [string, Json][] = [['ref', J.str(ref)]];
  const plain: [string, Json][] = [
    ['service', J.str(pick(rng, ['billing', 'search', 'checkout']))],
    ['count', J.num(intBetween(rng, 0, 100000))],
    ['ratio', J.num('0.25')],
    ['ok', J.bool(rng() < 0.5)],
    ['tags', J.arr(J.str('a'), J.str('b'))],
    ['nothing', J.nil()],
  ];
  switch (flavour) {
    case 'plain':
      entries.push(...plain);
      break;
    case 'bignum':
      entries.push(...BIG, ['snowflake', J.num(snowflake(rng))], ['list', J.arr(J.num(snowflake(rng)), J.num('-0'), J.num('0.1e1'))]);
      break;
    case 'proto':
      entries.push(...PROTO_KEYS);
      break;
    case 'ctor':
      entries.push(...CONSTRUCTOR_KEYS);
      break;
    case 'unicode':
      entries.push(...UNICODE);
      break;
    case 'deep':
      entries.push(['tree', deep(rng, intBetween(rng, 8, 12))]);
      break;
    case 'mixed':
      entries.push(plain[0], BIG[0], CONSTRUCTOR_KEYS[0], PROTO_KEYS[0], UNICODE[2], ['tree', deep(rng, 4)], BIG[3]);
      break;
  }
  return J.obj(...entries);
}

/** A title that contains the ref (a fallback for telling events apart), never blank at its ends. */
export function title(ref: string, flavour: Flavour): string {
  return flavour === 'unicode' || flavour === 'mixed' ? `torture ${ref} \u2014 \u{1F680} \u05E2\u05D1\u05E8\u05D9\u05EA\u2028ok` : `torture ${ref}`;
}

/** Service fields a publisher must not be able to set (docs/architecture.md "Exact payloads"). */
export const SPOOFED = {
  eventId: 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV',
  source: 'spoofed-source',
  receivedAt: '2000-01-01T00:00:00.000Z',
} as const;
