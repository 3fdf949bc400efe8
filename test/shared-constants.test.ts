import * as lambdaStore from '../lambda/adapters/dynamo-subscription-store';
import * as lambdaEnvelope from '../lambda/core/envelope';
import * as settings from '../src/settings';
import * as tables from '../src/tables';

describe('constants duplicated between src/ (construct) and lambda/ (handlers) agree', () => {
  test('subscriptions index names', () => {
    expect(tables.SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX).toBe(lambdaStore.SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX);
    expect(tables.SUBSCRIPTIONS_BY_OWNER_INDEX).toBe(lambdaStore.SUBSCRIPTIONS_BY_OWNER_INDEX);
    // Guard against both sides being undefined (a removed export) and comparing equal.
    expect(tables.SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX).toBe('byEventType');
    expect(tables.SUBSCRIPTIONS_BY_OWNER_INDEX).toBe('byOwner');
  });

  test('event type pattern', () => {
    const construct = settings.EVENT_TYPE_PATTERN;
    const handlers = lambdaEnvelope.EVENT_TYPE_PATTERN;
    expect(construct).toBeInstanceOf(RegExp);
    expect(handlers).toBeInstanceOf(RegExp);
    expect(construct.source).toBe(handlers.source);
    expect(construct.flags).toBe(handlers.flags);
  });

  test.each(['deployment', 'order.created', 'a:b/c-d_e', 'x'.repeat(128), '', 'has space', 'bad!', 'x'.repeat(129), 'ünïcode'])(
    'both patterns classify %p the same way',
    (type) => {
      expect(settings.EVENT_TYPE_PATTERN.test(type)).toBe(lambdaEnvelope.EVENT_TYPE_PATTERN.test(type));
    },
  );
});
