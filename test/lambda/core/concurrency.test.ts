import fc from 'fast-check';
import { ConcurrencyLimit } from '../../../lambda/core/concurrency';

describe('ConcurrencyLimit', () => {
  const hop = () => new Promise<void>((resolve) => setImmediate(resolve));

  test('never runs more than its limit at once, reaches it, and returns every result', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.nat({ max: 4 }), { maxLength: 30 }), async (limit, hops) => {
      const gate = new ConcurrencyLimit(limit);
      let active = 0;
      let max = 0;
      const results = await Promise.all(hops.map((n, i) => gate.run(async () => {
        active++;
        max = Math.max(max, active);
        for (let k = 0; k <= n; k++) await hop();
        active--;
        return i;
      })));
      expect(results).toEqual(hops.map((_, i) => i));
      expect(max).toBeLessThanOrEqual(limit);
      expect(max).toBe(Math.min(limit, hops.length));
      expect(active).toBe(0);
    }), { numRuns: 100 });
  });

  test('a failing task frees its slot', async () => {
    const gate = new ConcurrencyLimit(1);
    await expect(gate.run(async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    await expect(gate.run(async () => 'next')).resolves.toBe('next');
  });

  test('rejects a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new ConcurrencyLimit(bad)).toThrow(/positive integer/);
  });
});
