import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoEndpointHealthStore } from '../../../lambda/adapters/dynamo-endpoint-health-store';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { ApiHandler, loadHandler } from '../../helpers/handlers';
import { jsonBody } from '../../helpers/problems';

/**
 * The subscriptions API's side of endpoint health, through the management handler's bundle:
 * `health` in GET and the list, `disabledReason`/`disabledAt` on a disabled subscription, and
 * `PATCH enabled: true` reviving it with a fresh health record.
 */

const ROUTE = '/subscriptions/{subscriptionId}';
let dynamo: LocalDynamo;
let handler: ApiHandler;
let health: DynamoEndpointHealthStore;

beforeAll(async () => {
  dynamo = await startDynamo();
  handler = loadHandler('management', handlerEnv(dynamo)).handler;
  health = new DynamoEndpointHealthStore(dynamo.documentClient, dynamo.tableNames.subscriptions);
});
afterAll(async () => {
  await dynamo.stop();
});

const owner = () => `key-${randomUUID()}`;
const get = async (id: string, key: string) => jsonBody(await handler(apiEvent({ method: 'GET', resource: ROUTE, pathParameters: { subscriptionId: id }, apiKeyId: key })));
const patch = async (id: string, body: unknown, key: string) =>
  jsonBody(await handler(apiEvent({ method: 'PATCH', resource: ROUTE, pathParameters: { subscriptionId: id }, body, apiKeyId: key })));
const item = async (id: string) => (await dynamo.documentClient.send(new GetCommand({
  TableName: dynamo.tableNames.subscriptions, Key: { subscriptionId: id }, ConsistentRead: true,
}))).Item!;

async function webhook(key: string): Promise<string> {
  const created = await handler(apiEvent({
    method: 'POST', resource: '/subscriptions', apiKeyId: key, body: { eventType: 'deploy.finished', channel: 'WEBHOOK', target: 'https://example.com/hook' },
  }));
  expect(created.statusCode).toBe(201);
  return jsonBody(created).subscriptionId;
}

test('no health record yet: no `health`; failures and an open breaker show as `health`, never the raw attributes', async () => {
  const key = owner();
  const id = await webhook(key);
  expect(await get(id, key)).not.toHaveProperty('health');

  const now = Date.now();
  for (let i = 0; i < 5; i++) await health.apply(id, { kind: 'failure', nowMs: now });
  await health.apply(id, { kind: 'open', nowMs: now, untilMs: now + 3_600_000, cooldownSeconds: 3600 });
  const view = await get(id, key);
  expect(view.health).toEqual({ state: 'open', consecutiveFailures: 5, openUntil: new Date(now + 3_600_000).toISOString(), failingSince: new Date(now).toISOString() });
  expect(Object.keys(view).filter((k) => k.startsWith('health') && k !== 'health')).toEqual([]);
  const listed = jsonBody(await handler(apiEvent({ method: 'GET', resource: '/subscriptions', apiKeyId: key }))).items;
  expect(listed[0].health.state).toBe('open');
});

test('disabled: enabled false with the reason and time; PATCH enabled: true revives it with a fresh health record', async () => {
  const key = owner();
  const id = await webhook(key);
  const since = Date.now() - 10_000;
  await health.apply(id, { kind: 'failure', nowMs: since });
  await health.apply(id, { kind: 'failure', nowMs: since + 9000 });
  expect(await health.disable(id, { reason: 'every delivery failed for 5 days', nowMs: since + 9000, failingSince: new Date(since).toISOString() })).toBe(true);

  const disabled = await get(id, key);
  expect(disabled).toMatchObject({
    enabled: false,
    disabledReason: 'every delivery failed for 5 days',
    disabledAt: new Date(since + 9000).toISOString(),
    health: { state: 'closed', consecutiveFailures: 2, failingSince: new Date(since).toISOString() },
  });

  // Other changes leave it disabled.
  expect(await patch(id, { description: 'still off' }, key)).toMatchObject({ enabled: false, disabledReason: expect.any(String) });

  const before = Date.now();
  const revived = await patch(id, { enabled: true }, key);
  expect(revived).toMatchObject({ enabled: true, description: 'still off', health: { state: 'closed', consecutiveFailures: 0 } });
  expect(revived).not.toHaveProperty('disabledReason');
  expect(revived).not.toHaveProperty('disabledAt');
  expect(revived.health).not.toHaveProperty('failingSince');
  const stored = await item(id);
  expect(stored.healthAt).toBeGreaterThanOrEqual(before);
  for (const name of ['healthFailingSince', 'healthOpenUntil', 'healthProbeUntil', 'healthCooldownSeconds', 'disabledReason', 'disabledAt']) {
    expect(stored).not.toHaveProperty(name);
  }
});

test('PATCH enabled: true also closes an open breaker (the owner says the endpoint is fixed)', async () => {
  const key = owner();
  const id = await webhook(key);
  const now = Date.now();
  await health.apply(id, { kind: 'failure', nowMs: now });
  await health.apply(id, { kind: 'open', nowMs: now, untilMs: now + 900_000, cooldownSeconds: 900 });
  expect((await patch(id, { enabled: true }, key)).health).toEqual({ state: 'closed', consecutiveFailures: 0 });
});
