import * as fc from 'fast-check';
import { arrayElements, compactJson, indentJson, joinObjects, memberText, objectMembers, stringifyWithRaw } from '../../../lambda/core/raw-json';

/** JSON text written with random white space, as publishers send it. */
const spaced = fc.tuple(fc.json({ maxDepth: 4 }), fc.constantFrom('', ' ', '\n', '\t  ', '\r\n ')).map(([text, ws]) => {
  // JSON.stringify with an indent puts white space between every token; replace it with ours.
  const value = JSON.parse(text);
  return JSON.stringify(value, null, 1).replace(/\n\s*/g, (m) => (ws === '' ? '' : ws + m.slice(1)));
});

describe('lambda/core/raw-json', () => {
  test('compactJson keeps the value (parsed) and removes only white space outside strings', () => {
    fc.assert(fc.property(spaced, (text) => {
      const compact = compactJson(text);
      expect(JSON.parse(compact)).toEqual(JSON.parse(text));
      expect(compactJson(compact)).toBe(compact);
      // fast-check's JSON has no number texts that doubles would change, so it is JSON.stringify's.
      expect(compact).toBe(JSON.stringify(JSON.parse(text)));
    }), { numRuns: 300 });
  });

  test('number texts survive untouched where JSON.parse would round them', () => {
    const text = '{ "a" : 18446744073709551615 , "b" : [ 5e-324 , 1e400, -0.0 , 1.10 ] , "c" : "x y" }';
    expect(compactJson(text)).toBe('{"a":18446744073709551615,"b":[5e-324,1e400,-0.0,1.10],"c":"x y"}');
  });

  test('objectMembers and arrayElements split compact text into the parts JSON.parse sees', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), fc.array(fc.jsonValue({ maxDepth: 3 })), (object, array) => {
      const members = objectMembers(JSON.stringify(object))!;
      expect(Object.fromEntries(members.map(([k, v]) => [JSON.parse(k), JSON.parse(v)]))).toEqual(JSON.parse(JSON.stringify(object)));
      expect(arrayElements(JSON.stringify(array))!.map((t) => JSON.parse(t))).toEqual(JSON.parse(JSON.stringify(array)));
    }), { numRuns: 300 });
    expect(objectMembers('[1]')).toBeUndefined();
    expect(arrayElements('{}')).toBeUndefined();
    expect(arrayElements('[]')).toEqual([]);
  });

  test('memberText takes the last of repeated keys (as JSON.parse does) and decodes escaped key names', () => {
    expect(memberText('{"events":[1],"ev\\u0065nts":[2,3]}', 'events')).toBe('[2,3]');
    expect(memberText('{"a":1}', 'events')).toBeUndefined();
  });

  test('joinObjects and stringifyWithRaw make one valid object, head first', () => {
    expect(joinObjects('{"a":1}', '{"b":18446744073709551615}')).toBe('{"a":1,"b":18446744073709551615}');
    expect(joinObjects('{}', '{"b":2}')).toBe('{"b":2}');
    expect(joinObjects('{"a":1}', '{}')).toBe('{"a":1}');
    expect(stringifyWithRaw({ a: 'x' }, 'event', '{"n":1e400}')).toBe('{"a":"x","event":{"n":1e400}}');
  });

  test('indentJson lays text out for people without changing any value', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 4 }), (text) => {
      const compact = compactJson(text);
      expect(compactJson(indentJson(compact))).toBe(compact);
    }), { numRuns: 300 });
    expect(indentJson('{"a":[1,{}],"b":[]}')).toBe('{\n  "a": [\n    1,\n    {}\n  ],\n  "b": []\n}');
  });
});
