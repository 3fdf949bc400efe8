import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { DynamoSubscriptionStore } from '../../../lambda/adapters/dynamo-subscription-store';
import { webhookChannel } from '../../../lambda/core/channels/webhook';
import { previousSecretAt, signedWebhookHeaders } from '../../../lambda/core/channels/webhook/signing';
import type { StoredEvent } from '../../../lambda/core/stored-event';
import type { Subscription } from '../../../lambda/core/subscription';
import { SubscriptionsService } from '../../../lambda/core/subscriptions-service';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { ApiHandler, loadHandler } from '../../helpers/handlers';
import { expectProblem, jsonBody } from '../../helpers/problems';

/*
 * Secret rotation (docs/architecture.md "Delivery"): POST /subscriptions/{id}/secret/rotate
 * through the management handler on dynalite, and the double signature deliveries carry during
 * the overlap, checked with the standardwebhooks library.
 */

const ROTATE = '/subscriptions/{subscriptionId}/secret/rotate';
const ITEM = '/subscriptions/{subscriptionId}';
const DAY_MS = 24 * 3600 * 1000;

let dynamo: LocalDynamo;
let handler: ApiHandler;

beforeAll(async () => {
  dynamo = await startDynamo();
  handler = loadHandler('management', handlerEnv(dynamo)).handler;
});

afterAll(async () => {
  await dynamo.stop();
});

const newOwner = () => `key-${randomUUID()}`;
const rotate = (id: string, owner: string, body?: unknown, headers?: Record<string, string>) =>
  handler(apiEvent({ method: 'POST', resource: ROTATE, pathParameters: { subscriptionId: id }, apiKeyId: owner, body, headers }));
const get = (id: string, owner: string) => handler(apiEvent({ method: 'GET', resource: ITEM, pathParameters: { subscriptionId: id }, apiKeyId: owner }));

async function created(channel: string, target: string, owner: string): Promise<Record<string, any>> {
  const result = await handler(apiEvent({ method: 'POST', resource: '/subscriptions', body: { eventType: 'a.b', channel, target }, apiKeyId: owner }));
  expect(result.statusCode).toBe(201);
  return jsonBody(result);
}

async function storedItem(subscriptionId: string): Promise<Record<string, any>> {
  const result = await dynamo.documentClient.send(new GetCommand({
    TableName: dynamo.tableNames.subscriptions, Key: { subscriptionId }, ConsistentRead: true,
  }));
  return result.Item!;
}

describe('POST /subscriptions/{id}/secret/rotate', () => {
  test('returns a new whsec_ secret once, keeps the old one for 24 h, and GET shows neither', async () => {
    const owner = newOwner();
    const subscription = await created('WEBHOOK', 'https://example.com/hook', owner);
    const before = Date.now();
    const result = await rotate(subscription.subscriptionId, owner);
    expect(result.statusCode).toBe(200);
    const body = jsonBody(result);
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(body.secret).not.toBe(subscription.secret);
    expect(body).toMatchObject({ subscriptionId: subscription.subscriptionId, channel: 'WEBHOOK' });
    expect(body.previousSecret).toBeUndefined();
    expect(body.ownerKeyId).toBeUndefined();
    const expires = Date.parse(body.previousSecretExpiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + DAY_MS);
    expect(expires).toBeLessThanOrEqual(Date.now() + DAY_MS);

    expect(await storedItem(subscription.subscriptionId)).toMatchObject({
      secret: body.secret, previousSecret: subscription.secret, previousSecretExpiresAt: body.previousSecretExpiresAt,
    });
    const shown = jsonBody(await get(subscription.subscriptionId, owner));
    expect(Object.keys(shown)).not.toEqual(expect.arrayContaining(['secret']));
    expect(JSON.stringify(shown)).not.toContain(body.secret);
    expect(JSON.stringify(shown)).not.toContain(subscription.secret);
    expect(shown.previousSecretExpiresAt).toBeUndefined();
    const listed = await handler(apiEvent({ method: 'GET', resource: '/subscriptions', apiKeyId: owner }));
    expect(listed.body).not.toContain('whsec_');
  });

  test('rotating again within the overlap drops the oldest: at most two secrets are valid', async () => {
    const owner = newOwner();
    const subscription = await created('WEBHOOK', 'https://example.com/hook', owner);
    const first = jsonBody(await rotate(subscription.subscriptionId, owner));
    const second = jsonBody(await rotate(subscription.subscriptionId, owner));
    const item = await storedItem(subscription.subscriptionId);
    expect(item.secret).toBe(second.secret);
    expect(item.previousSecret).toBe(first.secret);
    expect(JSON.stringify(item)).not.toContain(subscription.secret);
  });

  test('no body and {} are accepted; any field, non-JSON or another media type is a 4xx', async () => {
    const owner = newOwner();
    const { subscriptionId } = await created('WEBHOOK', 'https://example.com/hook', owner);
    expect((await rotate(subscriptionId, owner, {})).statusCode).toBe(200);
    expect((await rotate(subscriptionId, owner, '  ')).statusCode).toBe(200);
    expectProblem(await rotate(subscriptionId, owner, { overlap: '1h' }), 400);
    expectProblem(await rotate(subscriptionId, owner, '{'), 400);
    expectProblem(await rotate(subscriptionId, owner, '[]'), 400);
    expectProblem(await rotate(subscriptionId, owner, 'x', { 'Content-Type': 'text/plain' }), 415);
  });

  test('EMAIL and SLACK subscriptions have no secret to rotate: 409', async () => {
    const owner = newOwner();
    const email = await created('EMAIL', 'ops@example.com', owner);
    const slack = await created('SLACK', 'https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678', owner);
    for (const { subscriptionId } of [email, slack]) {
      expectProblem(await rotate(subscriptionId, owner), 409, 'no-signing-secret');
      expect((await storedItem(subscriptionId)).secret).toBeUndefined();
    }
  });

  test('another key\'s subscription, an unknown id: the same 404; a malformed id: 400', async () => {
    const owner = newOwner();
    const subscription = await created('WEBHOOK', 'https://example.com/hook', owner);
    const other = expectProblem(await rotate(subscription.subscriptionId, newOwner()), 404, 'not-found');
    const unknown = expectProblem(await rotate('sub_01JD0000000000000000000000', owner), 404, 'not-found');
    expect(other.title).toBe(unknown.title);
    expect((await storedItem(subscription.subscriptionId)).secret).toBe(subscription.secret);
    expectProblem(await rotate('nope', owner), 400);
    expectProblem(await handler(apiEvent({ method: 'POST', resource: ROTATE, pathParameters: { subscriptionId: subscription.subscriptionId }, apiKeyId: null })), 403);
  });

  test('concurrent rotations: each answered secret was stored; the losers get 409, never a secret', async () => {
    const owner = newOwner();
    const { subscriptionId, secret: original } = await created('WEBHOOK', 'https://example.com/hook', owner);
    const results = await Promise.all(Array.from({ length: 8 }, () => rotate(subscriptionId, owner)));
    const winners = results.filter((r) => r.statusCode === 200).map((r) => jsonBody(r).secret as string);
    const losers = results.filter((r) => r.statusCode !== 200);
    expect(winners.length).toBeGreaterThanOrEqual(1);
    for (const loser of losers) expectProblem(loser, 409, 'rotation-conflict');
    expect(new Set(winners).size).toBe(winners.length);
    const item = await storedItem(subscriptionId);
    // The last writer's secret is current; the one before it (a winner or the original) is previous.
    expect(winners).toContain(item.secret);
    expect([original, ...winners]).toContain(item.previousSecret);
  });

  test('with an overlap of 0 the old secret is dropped at once', async () => {
    const store = new DynamoSubscriptionStore(dynamo.documentClient, dynamo.tableNames.subscriptions);
    const service = new SubscriptionsService(store, { allowPrivateTargets: false }, Date.now, 100, 0);
    const owner = newOwner();
    const subscription = await created('WEBHOOK', 'https://example.com/hook', owner);
    await rotate(subscription.subscriptionId, owner); // 24 h overlap: a previous secret is kept
    const answer = await service.rotateSecret({
      method: 'POST',
      route: ROTATE,
      pathParameters: { subscriptionId: subscription.subscriptionId },
      queryParameters: {},
      headers: {},
      body: undefined,
      callerKeyId: owner,
    });
    const body = JSON.parse(answer.body);
    expect(answer.statusCode).toBe(200);
    expect(body.previousSecretExpiresAt).toBeUndefined();
    const item = await storedItem(subscription.subscriptionId);
    expect(item.secret).toBe(body.secret);
    expect(item.previousSecret).toBeUndefined();
    expect(item.previousSecretExpiresAt).toBeUndefined();
  });
});

describe('signatures during the overlap', () => {
  const oldSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const newSecret = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
  const thirdSecret = 'whsec_dGhpcmQtc2VjcmV0LW5ldmVyLXVzZWQtaGVyZQ==';
  const at = new Date();
  const body = '{"type":"a.b","timestamp":"2025-01-01T00:00:00.000Z","data":{}}';

  test('v1,<new> v1,<old>: standardwebhooks verifies with either secret, not with a third', () => {
    const headers = signedWebhookHeaders(newSecret, 'msg_1', at, body, oldSecret);
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => p.startsWith('v1,'))).toBe(true);
    expect(parts[0]).toBe(new Webhook(newSecret).sign('msg_1', at, body));
    expect(new Webhook(newSecret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(oldSecret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(thirdSecret).verify(body, headers)).toThrow();
  });

  test('without a previous secret: one signature, which the old secret does not verify', () => {
    const headers = signedWebhookHeaders(newSecret, 'msg_1', at, body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(1);
    expect(() => new Webhook(oldSecret).verify(body, headers)).toThrow();
  });

  test('previousSecretAt: only strictly before the expiry', () => {
    const expiresAt = '2025-01-02T00:00:00.000Z';
    const ms = Date.parse(expiresAt);
    expect(previousSecretAt({ previousSecret: oldSecret, previousSecretExpiresAt: expiresAt }, ms - 1)).toBe(oldSecret);
    expect(previousSecretAt({ previousSecret: oldSecret, previousSecretExpiresAt: expiresAt }, ms)).toBeUndefined();
    expect(previousSecretAt({ previousSecret: oldSecret }, 0)).toBeUndefined();
    expect(previousSecretAt({ previousSecretExpiresAt: expiresAt }, 0)).toBeUndefined();
  });

  test('the webhook channel signs with both inside the overlap and with the new one after it', async () => {
    const sent: Record<string, string>[] = [];
    const channel = webhookChannel({ post: async (request) => (sent.push({ ...request.headers }), { status: 204 }) }, Date.now);
    const envelope = { eventType: 'a.b', severity: 'HIGH' as const, title: 't' };
    const event: StoredEvent = {
      eventId: 'evt_01JD0000000000000000000000',
      eventJson: JSON.stringify(envelope),
      event: envelope,
      eventType: 'a.b',
      receivedAt: '2025-01-01T00:00:00.000Z',
      source: 'api',
      status: 'ACCEPTED',
      expiresAt: 0,
    };
    const expiresAt = Date.parse('2025-06-01T00:00:00.000Z');
    const subscription: Subscription = {
      subscriptionId: 'sub_01JD000000000000000000000A',
      ownerKeyId: 'k',
      eventType: '*',
      severityFilter: 'LOW',
      channel: 'WEBHOOK',
      target: 'https://example.com/hook',
      secret: newSecret,
      previousSecret: oldSecret,
      previousSecretExpiresAt: new Date(expiresAt).toISOString(),
      enabled: true,
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:00.000Z',
    };
    await channel.deliver(event, subscription, { notificationId: 'msg_1', startedMs: expiresAt - 1000, timeoutMs: 1000 });
    await channel.deliver(event, subscription, { notificationId: 'msg_1', startedMs: expiresAt + 1000, timeoutMs: 1000 });
    expect(sent.map((h) => h['webhook-signature'].split(' ').length)).toEqual([2, 1]);
  });
});
