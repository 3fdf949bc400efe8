import * as fc from 'fast-check';
import {
  compilePayloadFilter, FilterableEvent, filterResponseValue, filterTextOf, MAX_FILTER_BYTES, MAX_FILTER_DEPTH, MAX_FILTER_VALUES,
  payloadFilterSchema, PayloadFilter,
} from '../../../lambda/core/payload-filter';
import { HttpProblem } from '../../../lambda/core/problem';
import { compactJson } from '../../../lambda/core/raw-json';
import { Json, parseLossless, stringifyLossless } from '../../helpers/lossless-json';

/** The compiled filter of `pattern` (JSON text or a value), failing the test when it is refused. */
function filter(pattern: unknown): PayloadFilter {
  const compiled = compilePayloadFilter(typeof pattern === 'string' ? pattern : JSON.stringify(pattern));
  if (!compiled.ok) throw new Error(`refused: ${JSON.stringify(compiled.problems)}`);
  return compiled.filter;
}

/** Whether `pattern` matches `event` (JSON text or a value). */
const matches = (pattern: unknown, event: unknown) => filter(pattern).matches(typeof event === 'string' ? event : JSON.stringify(event));

/** The problems of a refused filter as `/json/pointer: message`. */
function problems(pattern: unknown): string[] {
  const compiled = compilePayloadFilter(typeof pattern === 'string' ? pattern : JSON.stringify(pattern));
  if (compiled.ok) throw new Error(`accepted: ${JSON.stringify(pattern)}`);
  return compiled.problems.map((p) => `${p.path.map((s) => '/' + String(s)).join('')}: ${p.message}`);
}

const ORDER = {
  eventType: 'order.created',
  severity: 'HIGH',
  title: 'Order 42',
  details: { amount: 150, region: 'eu-west-1', tags: ['vip', 'new'], customer: { tier: 'gold', id: null }, items: [{ sku: 'a', qty: 2 }, { sku: 'b', qty: 5 }] },
};

describe('lambda/core/payload-filter: matching', () => {
  test('the issue\'s example: numeric range and a list of regions', () => {
    const pattern = { details: { amount: [{ numeric: ['>', 100] }], region: ['eu-west-1', 'eu-central-1'] } };
    expect(matches(pattern, ORDER)).toBe(true);
    expect(matches(pattern, { ...ORDER, details: { ...ORDER.details, amount: 100 } })).toBe(false);
    expect(matches(pattern, { ...ORDER, details: { ...ORDER.details, region: 'us-east-1' } })).toBe(false);
  });

  test('exact values: any of the list, types kept apart, numbers by value', () => {
    expect(matches({ severity: ['LOW', 'HIGH'] }, ORDER)).toBe(true);
    expect(matches({ severity: ['high'] }, ORDER)).toBe(false); // case-sensitive
    expect(matches({ details: { amount: [150] } }, ORDER)).toBe(true);
    expect(matches({ details: { amount: ['150'] } }, ORDER)).toBe(false); // a string is not the number
    expect(matches({ details: { amount: [150] } }, '{"details":{"amount":"150"}}')).toBe(false);
    for (const spelling of ['150', '1.5e2', '150.000', '15E1', '1500e-1']) {
      expect(matches(`{"details":{"amount":[${spelling}]}}`, ORDER)).toBe(true);
    }
    expect(matches({ flag: [true] }, { flag: true })).toBe(true);
    expect(matches({ flag: [true] }, { flag: 'true' })).toBe(false);
    expect(matches({ flag: [false] }, { flag: 0 })).toBe(false);
  });

  test('null matches null only; an absent field is not null', () => {
    expect(matches({ details: { customer: { id: [null] } } }, ORDER)).toBe(true);
    expect(matches({ details: { customer: { tier: [null] } } }, ORDER)).toBe(false);
    expect(matches({ details: { missing: [null] } }, ORDER)).toBe(false);
    expect(matches({ details: { customer: { id: [''] } } }, ORDER)).toBe(false);
  });

  test('an absent field fails every value and matcher except exists: false', () => {
    for (const matcher of ['x', 1, { prefix: 'x' }, { suffix: 'x' }, { numeric: ['>', 0] }, { 'anything-but': 'x' }, { exists: true }]) {
      expect(matches({ details: { nope: [matcher] } }, ORDER)).toBe(false);
    }
    expect(matches({ details: { nope: [{ exists: false }] } }, ORDER)).toBe(true);
    expect(matches({ nowhere: { deeper: [{ exists: false }] } }, ORDER)).toBe(true);
    expect(matches({ details: { region: [{ exists: false }] } }, ORDER)).toBe(false);
  });

  test('exists looks at values, as in EventBridge: null is one, an object or [] is none', () => {
    expect(matches({ details: { customer: { id: [{ exists: true }] } } }, ORDER)).toBe(true);
    expect(matches({ details: { customer: [{ exists: true }] } }, ORDER)).toBe(false);
    expect(matches({ details: { customer: [{ exists: false }] } }, ORDER)).toBe(true);
    expect(matches({ list: [{ exists: true }] }, { list: [] })).toBe(false);
    expect(matches({ list: [{ exists: true }] }, { list: [[], [0]] })).toBe(true);
  });

  test('a value or an absence: values and matchers in one list are alternatives', () => {
    const pattern = { details: { coupon: ['SPRING', { exists: false }] } };
    expect(matches(pattern, ORDER)).toBe(true);
    expect(matches(pattern, { details: { coupon: 'SPRING' } })).toBe(true);
    expect(matches(pattern, { details: { coupon: 'WINTER' } })).toBe(false);
  });

  test('arrays in the event match when any element does, at any depth', () => {
    expect(matches({ details: { tags: ['new'] } }, ORDER)).toBe(true);
    expect(matches({ details: { tags: ['old'] } }, ORDER)).toBe(false);
    expect(matches({ v: [3] }, { v: [[1, [2, [3]]]] })).toBe(true);
    expect(matches({ v: [{ numeric: ['>', 2] }] }, { v: [1, 2, 'x', 3] })).toBe(true);
    expect(matches({ v: [{ numeric: ['>', 3] }] }, { v: [1, 2, 'x', 3] })).toBe(false);
  });

  test('a nested pattern over an array of objects must match within one element', () => {
    expect(matches({ details: { items: { sku: ['b'], qty: [5] } } }, ORDER)).toBe(true);
    expect(matches({ details: { items: { sku: ['a'], qty: [5] } } }, ORDER)).toBe(false);
    expect(matches({ details: { items: { sku: ['a'] } } }, ORDER)).toBe(true);
    expect(matches({ details: { items: { qty: [{ numeric: ['>=', 5] }] } } }, ORDER)).toBe(true);
  });

  test('a nested pattern over a value that is not an object sees absent fields', () => {
    expect(matches({ details: { region: { code: ['eu'] } } }, ORDER)).toBe(false);
    expect(matches({ details: { region: { code: [{ exists: false }] } } }, ORDER)).toBe(true);
    expect(matches({ title: { x: [{ exists: false }] } }, ORDER)).toBe(true);
  });

  test('prefix and suffix: strings only, case-sensitive, whole code points', () => {
    expect(matches({ details: { region: [{ prefix: 'eu-' }] } }, ORDER)).toBe(true);
    expect(matches({ details: { region: [{ prefix: 'EU-' }] } }, ORDER)).toBe(false);
    expect(matches({ details: { region: [{ suffix: '-1' }] } }, ORDER)).toBe(true);
    expect(matches({ details: { region: [{ suffix: 'west' }] } }, ORDER)).toBe(false);
    expect(matches({ details: { amount: [{ prefix: '15' }] } }, ORDER)).toBe(false); // a number is not text
    expect(matches({ v: [{ prefix: 'Ünï' }] }, { v: 'Ünïcode 😀' })).toBe(true);
    expect(matches({ v: [{ suffix: '😀' }] }, { v: 'Ünïcode 😀' })).toBe(true);
    expect(matches({ v: [{ suffix: '\u0301' }] }, { v: 'e\u0301' })).toBe(true); // no normalization: the code points as sent
    expect(matches({ v: [{ prefix: '\u00e9' }] }, { v: 'e\u0301' })).toBe(false);
    // Escaped and literal spellings of a string are the same string.
    expect(matches('{"v":[{"prefix":"\\u00fc"}]}', '{"v":"ü"}')).toBe(true);
  });

  test('numeric: every operator and range, numbers only', () => {
    const at = (n: string) => `{"n":${n}}`;
    const cases: [unknown[], string, boolean][] = [
      [['=', 5], '5', true], [['=', 5], '5.0', true], [['=', 5], '5.0000000000000000001', false],
      [['<', 5], '4.999', true], [['<', 5], '5', false], [['<=', 5], '5', true], [['<=', 5], '5e0', true],
      [['>', 5], '5', false], [['>', 5], '5.0000000000000000001', true], [['>=', 5], '5', true], [['>=', 5], '-5', false],
      [['>', 0, '<=', 5], '5', true], [['>', 0, '<=', 5], '0', false], [['>=', 0, '<', 5], '0', true], [['>=', 0, '<', 5], '5', false],
      [['>', -1, '<', 1], '-0.0', true], [['=', 0], '-0', true],
    ];
    for (const [operand, value, expected] of cases) {
      expect([operand, value, matches({ n: [{ numeric: operand }] }, at(value))]).toEqual([operand, value, expected]);
    }
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: '5' })).toBe(false);
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: true })).toBe(false);
    expect(matches({ n: [{ numeric: ['>', 0] }] }, { n: null })).toBe(false);
  });

  test('numbers are compared exactly as published, however large or small', () => {
    expect(matches('{"n":[{"numeric":[">",9007199254740992]}]}', at('9007199254740993'))).toBe(true);
    expect(matches('{"n":[9007199254740993]}', at('9007199254740992'))).toBe(false);
    expect(matches('{"n":[9007199254740993]}', at('9007199254740993'))).toBe(true);
    expect(matches('{"n":[{"numeric":[">",1e308]}]}', at('1e400'))).toBe(true);
    expect(matches('{"n":[{"numeric":["<",-1e308]}]}', at('-1e400'))).toBe(true);
    expect(matches('{"n":[{"numeric":[">",0]}]}', at('1e-400'))).toBe(true);
    expect(matches('{"n":[{"numeric":["=",0]}]}', at('1e-400'))).toBe(false);
    expect(matches('{"n":[18446744073709551615]}', at('18446744073709551616'))).toBe(false);
    expect(matches('{"n":[{"anything-but":18446744073709551615}]}', at('18446744073709551616'))).toBe(true);
    function at(n: string) {
      return `{"n":${n}}`;
    }
  });

  test('anything-but: a value, a list, a prefix or a suffix; never an absent field', () => {
    expect(matches({ severity: [{ 'anything-but': 'LOW' }] }, ORDER)).toBe(true);
    expect(matches({ severity: [{ 'anything-but': 'HIGH' }] }, ORDER)).toBe(false);
    expect(matches({ severity: [{ 'anything-but': ['LOW', 'HIGH'] }] }, ORDER)).toBe(false);
    expect(matches({ details: { amount: [{ 'anything-but': [100, 200] }] } }, ORDER)).toBe(true);
    expect(matches({ details: { amount: [{ 'anything-but': [150, 200] }] } }, ORDER)).toBe(false);
    expect(matches('{"details":{"amount":[{"anything-but":1.5e2}]}}', ORDER)).toBe(false); // by value
    expect(matches({ details: { amount: [{ 'anything-but': '150' }] } }, ORDER)).toBe(true); // another type
    expect(matches({ details: { region: [{ 'anything-but': { prefix: 'us-' } }] } }, ORDER)).toBe(true);
    expect(matches({ details: { region: [{ 'anything-but': { prefix: 'eu-' } }] } }, ORDER)).toBe(false);
    expect(matches({ details: { region: [{ 'anything-but': { suffix: '-2' } }] } }, ORDER)).toBe(true);
    expect(matches({ details: { region: [{ 'anything-but': { suffix: '-1' } }] } }, ORDER)).toBe(false);
    expect(matches({ details: { amount: [{ 'anything-but': { prefix: '1' } }] } }, ORDER)).toBe(true); // numbers are not text
    expect(matches({ details: { nope: [{ 'anything-but': 'x' }] } }, ORDER)).toBe(false);
    // An array: some element other than the excluded ones.
    expect(matches({ details: { tags: [{ 'anything-but': 'vip' }] } }, ORDER)).toBe(true);
    expect(matches({ details: { tags: [{ 'anything-but': ['vip', 'new'] }] } }, ORDER)).toBe(false);
  });

  test('every field of the pattern must match', () => {
    expect(matches({ severity: ['HIGH'], eventType: [{ prefix: 'order.' }], details: { region: ['eu-west-1'] } }, ORDER)).toBe(true);
    expect(matches({ severity: ['HIGH'], eventType: [{ prefix: 'user.' }], details: { region: ['eu-west-1'] } }, ORDER)).toBe(false);
  });

  test('__proto__, constructor and other Object.prototype names are plain field names, in patterns and events', () => {
    const event = '{"__proto__":{"polluted":true},"constructor":"c","details":{"hasOwnProperty":1}}';
    expect(matches('{"__proto__":{"polluted":[true]}}', event)).toBe(true);
    expect(matches('{"__proto__":{"polluted":[true]}}', '{"details":{}}')).toBe(false);
    expect(matches('{"constructor":["c"],"details":{"hasOwnProperty":[1]}}', event)).toBe(true);
    expect(matches('{"constructor":[{"exists":false}],"toString":[{"exists":false}]}', '{"a":1}')).toBe(true);
    expect(matches('{"constructor":[{"exists":true}]}', '{"a":1}')).toBe(false);
    expect(matches('{"details":{"__proto__":[{"exists":true}]}}', '{"details":{"a":1}}')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('a repeated key in the event counts once, the last, as JSON.parse reads it', () => {
    expect(matches({ a: [2] }, '{"a":1,"a":2}')).toBe(true);
    expect(matches({ a: [1] }, '{"a":1,"a":2}')).toBe(false);
  });

  test('deep events and the deepest pattern allowed', () => {
    const deepPattern = { a: { b: { c: { d: { e: [{ numeric: ['>', 1] }] } } } } };
    expect(matches(deepPattern, { a: { b: { c: { d: { e: 2 } } } } })).toBe(true);
    expect(matches(deepPattern, { a: [{ b: [[{ c: { d: [{ e: [0, 2] }] } }]] }] })).toBe(true);
    let nested = '7';
    for (let i = 0; i < 28; i++) nested = `[${nested}]`;
    expect(matches({ v: [7] }, `{"v":${nested}}`)).toBe(true);
  });

  test('a large event is read only where the filter looks', () => {
    const details = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, { n: i, s: 'x'.repeat(20) }]));
    const event = new FilterableEvent(JSON.stringify({ ...ORDER, details }));
    expect(filter({ details: { k4999: { n: [4999] } } }).matches(event)).toBe(true);
    expect(filter({ details: { k4999: { n: [{ numeric: ['<', 4999] }] } } }).matches(event)).toBe(false);
    expect(filter({ severity: ['HIGH'] }).matches(event)).toBe(true);
  });

  test('a filter accepts event text with white space (it compacts it)', () => {
    expect(filter({ details: { region: ['eu-west-1'] } }).matches(JSON.stringify(ORDER, null, 2))).toBe(true);
  });
});

describe('lambda/core/payload-filter: validation', () => {
  test.each([
    ['not an object', ['x'], ': must be an object of event fields, e.g. {"details":{"region":["eu-west-1"]}}'],
    ['a string', '"x"', ': must be an object of event fields, e.g. {"details":{"region":["eu-west-1"]}}'],
    ['empty', {}, ': must name at least one field'],
    ['empty nested', { details: {} }, '/details: must name at least one field'],
    ['a bare value', { severity: 'HIGH' }, '/severity: must be a list of values, e.g. ["eu-west-1"], or an object of nested fields'],
    ['null instead of a list', { severity: null }, '/severity: must be a list of values, e.g. ["eu-west-1"], or an object of nested fields'],
    ['an empty list', { severity: [] }, '/severity: must list at least one value'],
    ['a list in a list', { severity: [['HIGH']] }, '/severity/0: must be a value (string, number, boolean, null) or a matcher object, not a list'],
    ['an unknown operator', { details: { a: [{ wildcard: '*x' }] } }, '/details/a/0/wildcard: is not an operator; use prefix, suffix, numeric, exists or anything-but'],
    ['two operators', { a: [{ prefix: 'x', suffix: 'y' }] }, '/a/0: must hold exactly one operator: prefix, suffix, numeric, exists or anything-but'],
    ['no operator', { a: [{}] }, '/a/0: must hold exactly one operator: prefix, suffix, numeric, exists or anything-but'],
    ['prefix not a string', { a: [{ prefix: 1 }] }, '/a/0/prefix: must be a string'],
    ['empty prefix', { a: [{ prefix: '' }] }, '/a/0/prefix: must not be empty'],
    ['suffix not a string', { a: [{ suffix: ['x'] }] }, '/a/0/suffix: must be a string'],
    ['exists not a boolean', { a: [{ exists: 'true' }] }, '/a/0/exists: must be true or false'],
    ['numeric not a list', { a: [{ numeric: '>5' }] }, '/a/0/numeric: must be [operator, number] or a range [">" or ">=", number, "<" or "<=", number], e.g. [">", 0, "<=", 5]'],
    ['numeric of three', { a: [{ numeric: ['>', 1, '<'] }] }, '/a/0/numeric: must be [operator, number] or a range [">" or ">=", number, "<" or "<=", number], e.g. [">", 0, "<=", 5]'],
    ['numeric operator', { a: [{ numeric: ['!=', 1] }] }, '/a/0/numeric/0: must be one of = < <= > >='],
    ['numeric operand', { a: [{ numeric: ['>', '1'] }] }, '/a/0/numeric/1: must be a number'],
    ['range upside down', { a: [{ numeric: ['<', 5, '>', 1] }] }, '/a/0/numeric/0: a range starts with its lower bound: ">" or ">="'],
    ['range of two lower bounds', { a: [{ numeric: ['>', 1, '>=', 5] }] }, '/a/0/numeric/2: a range ends with its upper bound: "<" or "<="'],
    ['empty range', { a: [{ numeric: ['>', 5, '<', 1] }] }, '/a/0/numeric: is an empty range: the lower bound must be below the upper bound'],
    ['empty point range', { a: [{ numeric: ['>', 5, '<=', 5] }] }, '/a/0/numeric: is an empty range: the lower bound must be below the upper bound'],
    ['anything-but mixed', { a: [{ 'anything-but': ['x', 1] }] }, '/a/0/anything-but: must list only strings or only numbers, not both'],
    ['anything-but empty', { a: [{ 'anything-but': [] }] }, '/a/0/anything-but: must list at least one value'],
    ['anything-but null', { a: [{ 'anything-but': null }] }, '/a/0/anything-but: must be a string, a number, a list of only strings or only numbers, or {"prefix": …} or {"suffix": …}'],
    ['anything-but boolean in a list', { a: [{ 'anything-but': [true] }] }, '/a/0/anything-but/0: must be a string or a number'],
    ['anything-but numeric', { a: [{ 'anything-but': { numeric: ['>', 1] } }] }, '/a/0/anything-but: must be a string, a number, a list of only strings or only numbers, or {"prefix": …} or {"suffix": …}'],
    ['anything-but empty prefix', { a: [{ 'anything-but': { prefix: '' } }] }, '/a/0/anything-but/prefix: must not be empty'],
    ['a service field', { source: ['api'] }, '/source: is set by the service, not the publisher: a filter sees only the fields of the event as published'],
    ['too deep', { a: { b: { c: { d: { e: { f: [1] } } } } } }, `/a/b/c/d/e: nests fields deeper than ${MAX_FILTER_DEPTH} levels`],
  ])('%s', (_name, pattern, expected) => {
    expect(problems(pattern)).toContain(expected);
  });

  test('a bound is compared exactly: a range narrower than a double is not empty', () => {
    expect(compilePayloadFilter('{"a":[{"numeric":[">",9007199254740993,"<",9007199254740993.5]}]}').ok).toBe(true);
    expect(problems('{"a":[{"numeric":[">",9007199254740993,"<",9007199254740993]}]}')).toEqual(['/a/0/numeric: is an empty range: the lower bound must be below the upper bound']);
    expect(compilePayloadFilter('{"a":[{"numeric":[">=",1e400,"<=",1e400]}]}').ok).toBe(true);
  });

  test('a key named twice, lone surrogates, and __proto__ are caught in the exact text', () => {
    expect(problems('{"a":[1],"a":[2]}')).toEqual(['/a: is named twice']);
    expect(problems('{"a":["\\ud800"]}')).toEqual(['/a/0: must be well-formed Unicode (no lone surrogates)']);
    expect(problems('{"a":[{"prefix":"\\udc00x"}]}')).toEqual(['/a/0/prefix: must be well-formed Unicode (no lone surrogates)']);
    expect(problems('{"__proto__":{"a":[{"bad":1}]}}')).toEqual(['/__proto__/a/0/bad: is not an operator; use prefix, suffix, numeric, exists or anything-but']);
    expect(problems('{"constructor":{"prototype":[]}}')).toEqual(['/constructor/prototype: must list at least one value']);
  });

  test('several problems are reported at once', () => {
    expect(problems({ a: [], b: 'x', c: [{ nope: 1 }] })).toHaveLength(3);
  });

  test('bounded: bytes, values, depth', () => {
    const values = (n: number) => ({ a: Array.from({ length: n }, (_, i) => i) });
    expect(compilePayloadFilter(JSON.stringify(values(MAX_FILTER_VALUES))).ok).toBe(true);
    expect(problems(values(MAX_FILTER_VALUES + 1))).toEqual([`: holds ${MAX_FILTER_VALUES + 1} values and matchers; a filter may hold at most ${MAX_FILTER_VALUES}`]);
    expect(problems({ a: [{ 'anything-but': Array.from({ length: MAX_FILTER_VALUES }, (_, i) => i) }] })[0]).toMatch(/at most 100$/);

    const big = { a: ['x'.repeat(MAX_FILTER_BYTES - 10)] };
    expect(compactJson(JSON.stringify(big)).length).toBe(MAX_FILTER_BYTES);
    expect(compilePayloadFilter(JSON.stringify(big)).ok).toBe(true);
    expect(problems({ a: ['x'.repeat(MAX_FILTER_BYTES - 9)] })).toEqual([`: must be at most ${MAX_FILTER_BYTES} bytes of JSON, not ${MAX_FILTER_BYTES + 1}`]);
    // Bytes, not characters (2,058 here); white space outside strings does not count.
    expect(problems({ a: ['é'.repeat(MAX_FILTER_BYTES / 2)] })).toEqual([`: must be at most ${MAX_FILTER_BYTES} bytes of JSON, not ${MAX_FILTER_BYTES + 10}`]);
    expect(compilePayloadFilter(JSON.stringify(big, null, 8)).ok).toBe(true);

    // A hostile nesting is refused by size or depth, never by the stack.
    expect(problems('{"a":'.repeat(2000) + '[1]' + '}'.repeat(2000))[0]).toMatch(/bytes of JSON/);
    expect(problems('{"a":'.repeat(600) + '[1]' + '}'.repeat(600))).toEqual([`${'/a'.repeat(MAX_FILTER_DEPTH)}: nests fields deeper than ${MAX_FILTER_DEPTH} levels`]);
  });

  test('text that is not JSON is refused, not thrown', () => {
    expect(problems('{"a":[1]')).toEqual([': is not JSON']);
    expect(problems('')).toEqual([': is not JSON']);
  });

  test('the stored text is the compact text as sent, numbers untouched', () => {
    const compiled = compilePayloadFilter('{ "details" : { "n" : [ 9007199254740993 , 1e400, -0.0 ] } }');
    expect(compiled.ok && compiled.text).toBe('{"details":{"n":[9007199254740993,1e400,-0.0]}}');
  });
});

describe('lambda/core/payload-filter: the API schema and request body', () => {
  test('the zod schema reports each problem at its path', () => {
    const result = payloadFilterSchema.safeParse({ details: { amount: [{ numeric: ['>', 'x'] }], region: [] } });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => [i.path.join('/'), i.message])).toEqual([
      ['details/amount/0/numeric/1', 'must be a number'],
      ['details/region', 'must list at least one value'],
    ]);
    expect(payloadFilterSchema.safeParse('x').error!.issues[0].message).toMatch(/must be an object of event fields/);
    expect(payloadFilterSchema.safeParse([{ a: [1] }]).success).toBe(false);
    expect(payloadFilterSchema.safeParse({ details: { amount: [{ numeric: ['>', 100] }] } }).success).toBe(true);
    // A `__proto__` member as JSON.parse makes it (an own key) is checked like any other.
    const proto = payloadFilterSchema.safeParse(JSON.parse('{"__proto__":{"a":[{"bad":1}]}}'));
    expect(proto.error!.issues.map((i) => [i.path.join('/'), i.message])).toEqual([['__proto__/a/0/bad', expect.stringMatching(/is not an operator/)]]);
    expect(payloadFilterSchema.safeParse(null).error!.issues).toHaveLength(1);
  });

  test('filterTextOf keeps the request\'s exact text and answers 400 naming the bad part', () => {
    const body = '{ "eventType": "*", "filter": { "details": { "n": [ 18446744073709551615 ] } } }';
    expect(filterTextOf(body)).toBe('{"details":{"n":[18446744073709551615]}}');
    let thrown: unknown;
    try {
      filterTextOf('{"filter":{"a/b":{"c~d":[{"numeric":[">",5,"<",1]}]}}}');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HttpProblem);
    expect((thrown as HttpProblem).status).toBe(400);
    expect((thrown as HttpProblem).errors).toEqual([
      { path: '/filter/a~1b/c~0d/0/numeric', message: 'is an empty range: the lower bound must be below the upper bound' },
    ]);
  });

  test('filterResponseValue gives back the stored text exactly through JSON.stringify', () => {
    for (const text of ['{"n":[9007199254740993,1e400,-0.0,1.10]}', '{"__proto__":{"x":[1]},"constructor":["c"]}']) {
      expect(JSON.stringify(filterResponseValue(text))).toBe(text);
      expect(JSON.stringify({ filter: filterResponseValue(text) })).toBe(`{"filter":${text}}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

/** Keys fast-check picks, including prototype names and unicode, but never the service fields. */
const key = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'eventType', 'details'),
).filter((k) => !['eventId', 'receivedAt', 'source'].includes(k));

/** JSON texts of events: objects whose values are any JSON, with number texts doubles cannot hold. */
const bigNumber = fc.oneof(
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 25n }), fc.integer({ min: -500, max: 500 })).map(([m, e]) => `${m}e${e}`),
);
const value: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('null', 'true', 'false'),
    bigNumber,
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
    fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => JSON.stringify(s)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc.uniqueArray(fc.tuple(key, tie('value')), { maxLength: 4, selector: ([k]) => k }).map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;
const eventText = fc.uniqueArray(fc.tuple(key, value), { minLength: 1, maxLength: 6, selector: ([k]) => k })
  .map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);

/**
 * For every field of an event object, a pattern of its exact values, built as text from the
 * lossless reading (test/helpers/lossless-json.ts), so big numbers and odd keys go in as they are.
 */
function exactPattern(event: Json, depth = 1): string | undefined {
  if (event.kind !== 'object') return undefined;
  const fields: string[] = [];
  const seen = new Set<string>();
  for (const [name, member] of [...event.entries].reverse()) { // the last of a repeated key counts
    if (seen.has(name)) continue;
    seen.add(name);
    const leaves = leavesOf(member);
    if (leaves.length > 0) {
      fields.push(`${JSON.stringify(name)}:[${stringifyLossless(leaves[leaves.length - 1])}]`);
      continue;
    }
    if (depth >= MAX_FILTER_DEPTH) continue;
    for (const object of objectsOf(member)) {
      const nested = exactPattern(object, depth + 1);
      if (nested) {
        fields.push(`${JSON.stringify(name)}:${nested}`);
        break;
      }
    }
  }
  return fields.length > 0 ? `{${fields.join(',')}}` : undefined;
}
const leavesOf = (v: Json): Json[] => (v.kind === 'array' ? v.items.flatMap(leavesOf) : v.kind === 'object' ? [] : [v]);
const objectsOf = (v: Json): Json[] => (v.kind === 'array' ? v.items.flatMap(objectsOf) : v.kind === 'object' ? [v] : []);

describe('lambda/core/payload-filter: properties', () => {
  test('a pattern of an event\'s own values always matches it', () => {
    fc.assert(fc.property(eventText, (text) => {
      const pattern = exactPattern(parseLossless(text));
      fc.pre(pattern !== undefined);
      const compiled = compilePayloadFilter(pattern!);
      fc.pre(compiled.ok || compiled.problems.every((p) => /bytes|values|Unicode|named twice/.test(p.message)));
      if (compiled.ok) expect(compiled.filter.matches(text)).toBe(true);
    }), { numRuns: 1000 });
  });

  test('anything-but X never matches X, and matches any other scalar', () => {
    const scalar = fc.oneof(bigNumber, fc.string({ unit: 'grapheme', maxLength: 6 }).filter((s) => s.length > 0).map((s) => JSON.stringify(s)));
    fc.assert(fc.property(scalar, scalar, fc.boolean(), (x, y, inList) => {
      const operand = inList ? `[${x}]` : x;
      fc.pre(compilePayloadFilter(`{"f":[{"anything-but":${operand}}]}`).ok);
      const compiled = filter(`{"f":[{"anything-but":${operand}}]}`);
      expect(compiled.matches(`{"f":${x}}`)).toBe(false);
      expect(compiled.matches(`{"f":[${x},${x}]}`)).toBe(false);
      expect(compiled.matches('{"g":1}')).toBe(false);
      const same = filter(`{"f":[${x}]}`).matches(`{"f":${y}}`);
      expect(compiled.matches(`{"f":${y}}`)).toBe(!same);
    }), { numRuns: 1000 });
  });

  test('numeric against big integers agrees with BigInt, in any spelling of the bound', () => {
    const big = fc.bigInt({ min: -(2n ** 128n), max: 2n ** 128n });
    const op = fc.constantFrom('=', '<', '<=', '>', '>=');
    const spell = (n: bigint, style: number) => (style === 0 ? `${n}` : style === 1 ? `${n}.000` : `${n * 10n}e-1`);
    fc.assert(fc.property(big, big, op, fc.integer({ min: 0, max: 2 }), (event, bound, operator, style) => {
      const expected = { '=': event === bound, '<': event < bound, '<=': event <= bound, '>': event > bound, '>=': event >= bound }[operator];
      expect(filter(`{"n":[{"numeric":["${operator}",${spell(bound, style)}]}]}`).matches(`{"n":${event}}`)).toBe(expected);
      expect(filter(`{"n":[${spell(bound, style)}]}`).matches(`{"n":${event}}`)).toBe(event === bound);
    }), { numRuns: 2000 });
  });

  test('a range is the conjunction of its bounds', () => {
    const big = fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n });
    fc.assert(fc.property(big, big, big, fc.boolean(), fc.boolean(), (low, high, n, openLow, openHigh) => {
      fc.pre(low < high);
      const compiled = filter(`{"n":[{"numeric":["${openLow ? '>' : '>='}",${low},"${openHigh ? '<' : '<='}",${high}]}]}`);
      const expected = (openLow ? n > low : n >= low) && (openHigh ? n < high : n <= high);
      expect(compiled.matches(`{"n":${n}}`)).toBe(expected);
    }), { numRuns: 1000 });
  });

  test('validation never throws, whatever JSON it is given', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (json) => {
      const text = JSON.stringify(json);
      const compiled = compilePayloadFilter(text);
      expect(typeof compiled.ok).toBe('boolean');
      // The zod schema never accepts what the exact check refuses (except over the size limit).
      if (!compiled.ok && !compiled.problems.some((p) => /bytes/.test(p.message))) expect(payloadFilterSchema.safeParse(json).success).toBe(false);
      if (compiled.ok) expect(typeof compiled.filter.matches(text)).toBe('boolean');
    }), { numRuns: 1000 });
  });
});
