import fc from 'fast-check';
import { encodeTime } from 'ulid';
import { deterministicId, isId } from '../../../lambda/core/ids';

describe('deterministicId', () => {
  const time = fc.integer({ min: 0, max: 2 ** 48 - 1 });

  test('the same time and seed give the same valid, ULID-shaped id carrying that time', () => {
    fc.assert(fc.property(time, fc.string(), (t, seed) => {
      const id = deterministicId('ntf', t, seed);
      expect(deterministicId('ntf', t, seed)).toBe(id);
      expect(isId('ntf', id)).toBe(true);
      expect(id.slice(4, 14)).toBe(encodeTime(t, 10));
    }));
  });

  test('different seeds give different ids; a later time sorts later whatever the seeds', () => {
    fc.assert(fc.property(time, time, fc.string(), fc.string(), (t1, t2, s1, s2) => {
      if (s1 !== s2) expect(deterministicId('evt', t1, s1)).not.toBe(deterministicId('evt', t1, s2));
      const [a, b] = [deterministicId('evt', t1, s1), deterministicId('evt', t2, s2)];
      if (t1 < t2) expect(a < b).toBe(true);
      if (t1 > t2) expect(a > b).toBe(true);
    }));
  });
});
