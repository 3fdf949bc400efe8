import * as fc from 'fast-check';
import { subscriptionMatches, SubscriptionIndex, SubscriptionMatcher } from '../../../lambda/core/matching';
import { compilePayloadFilter, FilterableEvent } from '../../../lambda/core/payload-filter';
import { Subscription } from '../../../lambda/core/subscription';

/*
 * Payload filters in matching (docs/architecture.md "Matching"): judged on the subscription items
 * the matcher has cached, against the event's exact text; no request of their own.
 */

const subscription = (overrides: Partial<Subscription>): Subscription => ({
  subscriptionId: 'sub_x',
  ownerKeyId: 'key-a',
  eventType: '*',
  severityFilter: 'LOW',
  channel: 'WEBHOOK',
  target: 'https://example.com/hook',
  enabled: true,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

const stored = (pattern: string) => {
  const compiled = compilePayloadFilter(pattern);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
  return compiled.text;
};

const event = (details: string) => `{"eventType":"order.created","severity":"HIGH","title":"t","details":${details}}`;

function countingIndex(items: Subscription[]) {
  let calls = 0;
  const index: SubscriptionIndex = {
    byPattern: async (pattern) => {
      calls++;
      return items.filter((s) => s.eventType === pattern);
    },
  };
  return { index, calls: () => calls };
}

describe('lambda/core/matching: payload filters', () => {
  const big = subscription({ subscriptionId: 'sub_big', filter: stored('{"details":{"amount":[{"numeric":[">",9007199254740992]}]}}') });
  const eu = subscription({ subscriptionId: 'sub_eu', eventType: 'order.*', filter: stored('{"details":{"region":[{"prefix":"eu-"}]}}') });
  const plain = subscription({ subscriptionId: 'sub_all' });

  test('only subscriptions whose filter matches the event text, with no request beyond the pattern lookups', async () => {
    const { index, calls } = countingIndex([big, eu, plain]);
    const matcher = new SubscriptionMatcher(index, 60_000, () => 0);
    const ids = async (details: string) => (await matcher.match('order.created', 'HIGH', undefined, event(details))).map((s) => s.subscriptionId).sort();

    expect(await ids('{"amount":9007199254740993,"region":"eu-west-1"}')).toEqual(['sub_all', 'sub_big', 'sub_eu']);
    expect(await ids('{"amount":9007199254740992,"region":"eu-west-1"}')).toEqual(['sub_all', 'sub_eu']);
    expect(await ids('{"amount":1e400,"region":"us-east-1"}')).toEqual(['sub_all', 'sub_big']);
    expect(await ids('{}')).toEqual(['sub_all']);
    // order.created, *, order.*: three lookups, then the cache; filters cost none.
    expect(calls()).toBe(3);
  });

  test('tenant isolation and the filter both apply', async () => {
    const { index } = countingIndex([big, subscription({ subscriptionId: 'sub_b', ownerKeyId: 'key-b', filter: big.filter })]);
    const matcher = new SubscriptionMatcher(index, 60_000, () => 0);
    const matched = await matcher.match('order.created', 'HIGH', { ownerKeyId: 'key-b' }, event('{"amount":9007199254740993}'));
    expect(matched.map((s) => s.subscriptionId)).toEqual(['sub_b']);
  });

  test('a filtered subscription never matches without the event text, or with a stored filter it cannot read', () => {
    expect(subscriptionMatches(big, 'order.created', 'HIGH')).toBe(false);
    expect(subscriptionMatches(plain, 'order.created', 'HIGH')).toBe(true);
    for (const filter of ['{"details":{"amount":[{"between":[1,2]}]}}', 'not json', '{}']) {
      const odd = subscription({ filter });
      expect(subscriptionMatches(odd, 'order.created', 'HIGH')).toBe(false);
    }
    const notText = subscription({ filter: { details: { amount: [1] } } as unknown as string });
    expect(subscriptionMatches(notText, 'order.created', 'HIGH')).toBe(false);
  });

  test('the filter comes after type, severity and pause, which it never widens', () => {
    fc.assert(fc.property(fc.boolean(), fc.constantFrom('LOW', 'HIGH', 'CRITICAL'), fc.constantFrom('*', 'order.*', 'user.*', 'order.created'),
      (enabled, severityFilter, eventType) => {
        const base = subscription({ enabled, severityFilter: severityFilter as Subscription['severityFilter'], eventType });
        const withFilter = { ...base, filter: stored('{"severity":["HIGH"]}') };
        const text = event('{}');
        const without = subscriptionMatches(base, 'order.created', 'HIGH');
        expect(subscriptionMatches(withFilter, 'order.created', 'HIGH', new FilterableEvent(text))).toBe(without);
      }));
  });

  test('a PATCHed filter is a new item: the matcher compiles what it loaded, not what it saw before', async () => {
    let items = [subscription({ subscriptionId: 'sub_1', filter: stored('{"severity":["LOW"]}') })];
    let now = 0;
    const matcher = new SubscriptionMatcher({ byPattern: async (p) => items.filter((s) => s.eventType === p) }, 1000, () => now);
    const text = '{"eventType":"a.b","severity":"HIGH","title":"t"}';
    expect(await matcher.match('a.b', 'HIGH', undefined, text)).toHaveLength(0);
    items = [subscription({ subscriptionId: 'sub_1', filter: stored('{"severity":["HIGH"]}') })];
    now += 1001;
    expect(await matcher.match('a.b', 'HIGH', undefined, text)).toHaveLength(1);
  });
});
