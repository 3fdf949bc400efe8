import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { DynamoEndpointHealthStore } from '../../../lambda/adapters/dynamo-endpoint-health-store';
import { applyHealthOp, EndpointHealth, HealthOp, healthOf } from '../../../lambda/core/endpoint-health';
import { newId } from '../../../lambda/core/ids';
import { LocalDynamo, startDynamo } from '../../helpers/dynamo';

/**
 * The adapter's UpdateItem expressions against the reference semantics (`applyHealthOp`): any
 * sequence of changes leaves the same state in DynamoDB (dynalite) as in the model, and the
 * conditional ones apply exactly when the model says.
 */

let dynamo: LocalDynamo;
let store: DynamoEndpointHealthStore;
const T0 = Date.parse('2026-11-24T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  dynamo = await startDynamo();
  store = new DynamoEndpointHealthStore(dynamo.documentClient, dynamo.tableNames.subscriptions);
});
afterAll(async () => {
  await dynamo.stop();
});

async function newSubscription(fields: Record<string, unknown> = {}): Promise<string> {
  const subscriptionId = newId('sub');
  await dynamo.documentClient.send(new PutCommand({
    TableName: dynamo.tableNames.subscriptions,
    Item: {
      subscriptionId,
      ownerKeyId: 'key',
      eventType: 'a.b',
      severityFilter: 'LOW',
      channel: 'WEBHOOK',
      target: 'https://x.example.com',
      enabled: true,
      createdAt: iso(T0),
      updatedAt: iso(T0),
      ...fields,
    },
  }));
  return subscriptionId;
}

async function stored(subscriptionId: string): Promise<Record<string, any> | undefined> {
  const key = { subscriptionId };
  return (await dynamo.documentClient.send(new GetCommand({ TableName: dynamo.tableNames.subscriptions, Key: key, ConsistentRead: true }))).Item;
}

/** An op at `nowMs`; conditions either match the current state (`pick` true) or not. */
const opArb = fc.record({
  kind: fc.constantFrom('failure', 'other-failure', 'success', 'open', 'open-probe', 'claim-probe'),
  advanceMs: fc.integer({ min: 0, max: 120_000 }),
  durationMs: fc.integer({ min: 1000, max: 900_000 }),
  matching: fc.boolean(),
});

function opOf(step: { kind: string; durationMs: number; matching: boolean }, nowMs: number, current: EndpointHealth): HealthOp {
  switch (step.kind) {
    case 'failure': case 'other-failure': case 'success':
      return { kind: step.kind, nowMs };
    case 'open':
      return { kind: 'open', nowMs, untilMs: nowMs + step.durationMs, cooldownSeconds: Math.round(step.durationMs / 1000) };
    case 'open-probe':
      return {
        kind: 'open',
        nowMs,
        untilMs: nowMs + step.durationMs,
        cooldownSeconds: Math.round(step.durationMs / 1000),
        ifProbeUntil: step.matching && current.healthProbeUntil ? current.healthProbeUntil : iso(nowMs + 1),
      };
    default:
      return { kind: 'claim-probe', nowMs, leaseUntilMs: nowMs + 18_000, ifOpenUntil: step.matching && current.healthOpenUntil ? current.healthOpenUntil : iso(nowMs - 7) };
  }
}

test('every change leaves the state the reference semantics say, conditions included (fast-check)', async () => {
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (steps) => {
    const id = await newSubscription();
    let model: EndpointHealth = {};
    let now = T0;
    for (const step of steps) {
      now += step.advanceMs;
      const op = opOf(step, now, model);
      const expected = applyHealthOp(model, op);
      const actual = await store.apply(id, op);
      expect(actual).toEqual(expected);
      if (expected) model = expected;
      expect(healthOf((await stored(id)) ?? {})).toEqual(model);
    }
  }), { numRuns: 40 });
}, 60_000);

test('never creates an item for a subscription deleted meanwhile', async () => {
  const id = newId('sub');
  expect(await store.apply(id, { kind: 'failure', nowMs: T0 })).toBeUndefined();
  expect(await store.apply(id, { kind: 'success', nowMs: T0 })).toBeUndefined();
  expect(await store.disable(id, { reason: 'r', nowMs: T0, failingSince: iso(T0) })).toBe(false);
  expect(await stored(id)).toBeUndefined();
});

test('disable: once, only while enabled and failing since the time seen; the rest of the item untouched', async () => {
  const id = await newSubscription({ healthFailures: 2, healthFailingSince: iso(T0), healthAt: T0, description: 'keep me' });
  expect(await store.disable(id, { reason: 'every delivery failed', nowMs: T0 + 5000, failingSince: iso(T0 - 1) })).toBe(false);
  expect(await store.disable(id, { reason: 'every delivery failed', nowMs: T0 + 5000, failingSince: iso(T0) })).toBe(true);
  expect(await store.disable(id, { reason: 'again', nowMs: T0 + 6000, failingSince: iso(T0) })).toBe(false);
  expect(await stored(id)).toMatchObject({
    enabled: false,
    disabledReason: 'every delivery failed',
    disabledAt: iso(T0 + 5000),
    updatedAt: iso(T0 + 5000),
    healthAt: T0 + 5000,
    description: 'keep me',
    healthFailures: 2,
  });
});

test('concurrent failures are all counted; of concurrent openings and probe claims, exactly one wins', async () => {
  const id = await newSubscription();
  await Promise.all(Array.from({ length: 12 }, (_, i) => store.apply(id, { kind: 'failure', nowMs: T0 + i })));
  expect((await stored(id))?.healthFailures).toBe(12);
  const opens = await Promise.all(Array.from({ length: 6 }, () => store.apply(id, { kind: 'open', nowMs: T0 + 20, untilMs: T0 + 30_020, cooldownSeconds: 30 })));
  expect(opens.filter(Boolean)).toHaveLength(1);
  const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => store.apply(id, {
    kind: 'claim-probe', nowMs: T0 + 31_000 + i, leaseUntilMs: T0 + 49_000 + i, ifOpenUntil: iso(T0 + 30_020),
  })));
  expect(claims.filter(Boolean)).toHaveLength(1);
});
