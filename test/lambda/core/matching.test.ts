import fc from 'fast-check';
import { Severity, SEVERITIES } from '../../../lambda/core/envelope';
import { candidatePatterns, SubscriptionIndex, SubscriptionMatcher, subscriptionMatches } from '../../../lambda/core/matching';
import { Subscription } from '../../../lambda/core/subscription';
import { subscription } from '../../helpers/subscription';

const RANK: Record<Severity, number> = { LOW: 0, MEDIUM: 1, HIGH: 2, CRITICAL: 3 };

/** Event types over a small alphabet of segments, so patterns and types often meet. */
const segment = fc.constantFrom('a', 'b', 'deploy', 'x-1', 'v2:beta');
const segments = fc.array(segment, { minLength: 1, maxLength: 4 });
const eventType = segments.map((s) => s.join('.'));
const pattern = fc.oneof(
  fc.constant('*'),
  eventType,
  segments.map((s) => `${s.join('.')}.*`),
);
const severity = fc.constantFrom(...SEVERITIES);

/** The reference rule, on segments: `p.*` matches a type with more segments that begins with p's. */
function patternMatchesType(p: string, type: string): boolean {
  if (p === '*' || p === type) return true;
  if (!p.endsWith('.*')) return false;
  const prefix = p.slice(0, -2).split('.');
  const parts = type.split('.');
  return parts.length > prefix.length && prefix.every((s, i) => parts[i] === s);
}

describe('subscriptionMatches / candidatePatterns', () => {
  test('a subscription matches iff its pattern, minimum severity and enabled flag all agree', () => {
    fc.assert(fc.property(eventType, pattern, severity, severity, fc.boolean(), (type, p, eventSeverity, filter, enabled) => {
      const expected = patternMatchesType(p, type) && RANK[eventSeverity] >= RANK[filter] && enabled;
      expect(subscriptionMatches(subscription({ eventType: p, severityFilter: filter, enabled }), type, eventSeverity)).toBe(expected);
    }), { numRuns: 2000 });
  });

  test('every pattern that can match a type is among its candidate patterns, and every candidate matches', () => {
    fc.assert(fc.property(eventType, pattern, (type, p) => {
      const candidates = candidatePatterns(type);
      expect(new Set(candidates).size).toBe(candidates.length);
      for (const c of candidates) expect(patternMatchesType(c, type)).toBe(true);
      if (subscriptionMatches(subscription({ eventType: p }), type, 'CRITICAL')) expect(candidates).toContain(p);
    }), { numRuns: 2000 });
  });

  test('with any valid event type, every prefix.* cut at a dot matches and is a candidate', () => {
    const anyType = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,40}$/);
    fc.assert(fc.property(anyType, fc.nat(), (type, pick) => {
      const dots = [...type].flatMap((c, i) => (c === '.' ? [i] : []));
      const candidates = candidatePatterns(type);
      expect(candidates).toContain(type);
      expect(candidates).toContain('*');
      if (dots.length === 0) return;
      const p = `${type.slice(0, dots[pick % dots.length])}.*`;
      expect(subscriptionMatches(subscription({ eventType: p }), type, 'LOW')).toBe(true);
      expect(candidates).toContain(p);
    }), { numRuns: 1000 });
  });

  test('examples', () => {
    expect(candidatePatterns('a.b.c')).toEqual(['a.b.c', '*', 'a.*', 'a.b.*']);
    expect(candidatePatterns('deploy')).toEqual(['deploy', '*']);
    const match = (p: string, type: string) => subscriptionMatches(subscription({ eventType: p }), type, 'LOW');
    expect(match('deploy.*', 'deploy.finished')).toBe(true);
    expect(match('deploy.*', 'deploy')).toBe(false);
    expect(match('deploy.*', 'deployment.finished')).toBe(false);
    expect(match('deploy.finished', 'deploy.finished.late')).toBe(false);
    expect(subscriptionMatches(subscription({ severityFilter: 'HIGH' }), 'x', 'MEDIUM')).toBe(false);
    expect(subscriptionMatches(subscription({ severityFilter: 'HIGH' }), 'x', 'HIGH')).toBe(true);
    expect(subscriptionMatches(subscription({ enabled: false }), 'x', 'CRITICAL')).toBe(false);
  });
});

describe('SubscriptionMatcher cache', () => {
  function fakeIndex(byPattern: Record<string, Subscription[]>) {
    const calls: string[] = [];
    let failNext: string | undefined;
    const index: SubscriptionIndex = {
      byPattern: async (p) => {
        calls.push(p);
        if (failNext === p) {
          failNext = undefined;
          throw new Error('ProvisionedThroughputExceededException');
        }
        return byPattern[p] ?? [];
      },
    };
    return { index, calls, failOnce: (p: string) => (failNext = p) };
  }
  const exact = subscription({ subscriptionId: 'sub_1', eventType: 'deploy.finished' });
  const all = subscription({ subscriptionId: 'sub_2', eventType: '*', severityFilter: 'CRITICAL' });
  const prefix = subscription({ subscriptionId: 'sub_3', eventType: 'deploy.*' });

  test('within the TTL a second match makes no index call; after it, it does', async () => {
    let now = 1_000_000;
    const { index, calls } = fakeIndex({ 'deploy.finished': [exact], '*': [all], 'deploy.*': [prefix] });
    const matcher = new SubscriptionMatcher(index, 30_000, () => now);

    expect((await matcher.match('deploy.finished', 'HIGH')).map((s) => s.subscriptionId)).toEqual(['sub_1', 'sub_3']);
    expect(calls.sort()).toEqual(['*', 'deploy.*', 'deploy.finished']);
    now += 29_999;
    expect((await matcher.match('deploy.finished', 'CRITICAL')).map((s) => s.subscriptionId).sort()).toEqual(['sub_1', 'sub_2', 'sub_3']);
    expect(calls).toHaveLength(3);
    // Another type shares the cached `*` and `deploy.*` lists.
    await matcher.match('deploy.started', 'LOW');
    expect(calls).toHaveLength(4);
    now += 2;
    await matcher.match('deploy.finished', 'HIGH');
    expect(calls).toHaveLength(7);
  });

  test('concurrent matches share one lookup per pattern', async () => {
    const { index, calls } = fakeIndex({});
    const matcher = new SubscriptionMatcher(index, 30_000, () => 0);
    await Promise.all([matcher.match('a.b', 'LOW'), matcher.match('a.b', 'LOW'), matcher.match('a.b', 'HIGH')]);
    expect(calls.sort()).toEqual(['*', 'a.*', 'a.b']);
  });

  test('a failed lookup is not cached', async () => {
    const { index, calls, failOnce } = fakeIndex({ '*': [all] });
    const matcher = new SubscriptionMatcher(index, 30_000, () => 0);
    failOnce('*');
    await expect(matcher.match('deploy.finished', 'CRITICAL')).rejects.toThrow('ProvisionedThroughputExceededException');
    expect((await matcher.match('deploy.finished', 'CRITICAL')).map((s) => s.subscriptionId)).toEqual(['sub_2']);
    // Only `*` was asked again; the two lists that had loaded stay cached.
    expect(calls.filter((p) => p === '*')).toHaveLength(2);
    expect(calls).toHaveLength(4);
  });
});
