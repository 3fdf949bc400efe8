import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { newId } from '../../../lambda/core/ids';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { ApiHandler, LoadedProcessor, loadHandler, loadProcessorHandler } from '../../helpers/handlers';
import { expectProblem, header, jsonBody } from '../../helpers/problems';
import { Receiver, startReceiver } from '../../helpers/receivers';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';

const PUBLISHER = 'key-publisher-0001';
const OTHER_KEY = 'key-other-0002';
const OWNER = 'key-owner-0003';
const SCHEMA_TYPE = 'query.schema.checked';

let dynamo: LocalDynamo;
let management: ApiHandler;
let processor: LoadedProcessor;
let sqsMock: AwsClientStub<SQSClient>;
let ok: Receiver;
let failing: Receiver;

const getEvent = (eventId: string, apiKeyId: string = PUBLISHER) =>
  management(apiEvent({ method: 'GET', resource: '/events/{eventId}', pathParameters: { eventId }, apiKeyId }));

/** Runs one event through the processor as the ingest function would have queued it. */
async function processed(event: Record<string, unknown>): Promise<string> {
  const eventId = newId('evt');
  const body = JSON.stringify({
    v: 1,
    eventId,
    receivedAt: new Date().toISOString(),
    source: 'api',
    publisherKeyId: PUBLISHER,
    event: { severity: 'HIGH', title: 'Deploy finished', ...event },
  });
  await processor.handler(sqsEvent(sqsRecord({ body })), lambdaContext());
  return eventId;
}


let okSecret: string;
let okSubscriptionId: string;
let failingSubscriptionId: string;

beforeAll(async () => {
  [dynamo, ok, failing] = await Promise.all([startDynamo(), startReceiver(), startReceiver({ responder: () => ({ status: 503 }) })]);
  const env = { ...handlerEnv(dynamo), ALLOW_PRIVATE_TARGETS: 'true' };
  management = loadHandler('management', env).handler;
  processor = loadProcessorHandler({
    ...env,
    POWERTOOLS_METRICS_DISABLED: 'true',
    QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events',
    DEAD_LETTER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events-dlq',
    QUEUE_FIFO: 'false',
    RETRY_SCHEDULE_SECONDS: '0,60,120',
    WEBHOOK_TIMEOUT_MS: '1000',
    RETENTION_SECONDS: '86400',
    SUBSCRIPTION_CACHE_TTL_SECONDS: '0',
    EVENT_SCHEMAS: JSON.stringify({ [SCHEMA_TYPE]: { type: 'object', required: ['details'] } }),
  });
  sqsMock = mockClient(processor.sqs.SQSClient);
  sqsMock.on(processor.sqs.ChangeMessageVisibilityCommand).resolves({});
  sqsMock.on(processor.sqs.SendMessageCommand).resolves({ MessageId: randomUUID() });

  // Subscriptions created through the API (private targets allowed, as in the local runtime).
  const create = async (body: Record<string, unknown>) => {
    const result = await management(apiEvent({ method: 'POST', resource: '/subscriptions', body, apiKeyId: OWNER }));
    expect(result.statusCode).toBe(201);
    return jsonBody(result);
  };
  const good = await create({ eventType: 'query.deploy.*', channel: 'WEBHOOK', target: `${ok.url}/hook` });
  const bad = await create({ eventType: 'query.deploy.failed', channel: 'WEBHOOK', target: `${failing.url}/hook` });
  await create({ eventType: SCHEMA_TYPE, channel: 'WEBHOOK', target: `${ok.url}/schema` });
  okSecret = good.secret;
  okSubscriptionId = good.subscriptionId;
  failingSubscriptionId = bad.subscriptionId;
});

afterAll(async () => {
  sqsMock.restore();
  await Promise.all([dynamo.stop(), ok.close(), failing.close()]);
});

describe('GET /events/{eventId}', () => {
  test('200 for the subscriptions\' owner: the event, its delivery status and its notifications with their attempts', async () => {
    const event = { eventType: 'query.deploy.failed', severity: 'CRITICAL', title: 'Deploy failed', details: { version: '9.9.9' } };
    const eventId = await processed(event);

    const result = await getEvent(eventId, OWNER);
    expect(result.statusCode).toBe(200);
    expect(header(result, 'content-type')).toBe('application/json');
    const body = jsonBody(result);
    expect(body).toMatchObject({ eventId, status: 'ACCEPTED', source: 'api', event, deliveryStatus: 'IN_PROGRESS' });
    expect(new Date(body.receivedAt).toISOString()).toBe(body.receivedAt);
    expect(body.notifications).toHaveLength(2);
    expect(body.otherNotifications).toEqual({ count: 0, byStatus: {} });
    const delivered = body.notifications.find((n: any) => n.subscriptionId === okSubscriptionId);
    expect(delivered).toEqual({
      subscriptionId: okSubscriptionId,
      notificationId: expect.stringMatching(/^ntf_/),
      channel: 'WEBHOOK',
      status: 'DELIVERED',
      attempts: [{ at: expect.any(String), outcome: 'DELIVERED', httpStatus: 204, latencyMs: expect.any(Number) }],
    });
    const pending = body.notifications.find((n: any) => n.subscriptionId === failingSubscriptionId);
    expect(pending).toMatchObject({
      channel: 'WEBHOOK',
      status: 'PENDING',
      nextAttemptAt: expect.any(String),
      reason: expect.stringContaining('503'),
      attempts: [{ at: expect.any(String), outcome: 'FAILED', httpStatus: 503, latencyMs: expect.any(Number), error: expect.any(String) }],
    });
    expect(Date.parse(pending.nextAttemptAt)).toBeGreaterThan(Date.now() + 30_000);

    // The notification id is the webhook-id the receiver saw, with a valid signature.
    const request = ok.requests.find((r) => JSON.parse(r.body).data.eventId === eventId)!;
    expect(request.headers['webhook-id']).toBe(delivered.notificationId);
    expect(() => new Webhook(okSecret).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    })).not.toThrow();
  });

  test('the publisher sees the event and only counts of other keys\' notifications: no subscription ids, targets or errors', async () => {
    const eventId = await processed({ eventType: 'query.deploy.failed', severity: 'CRITICAL', title: 'Deploy failed' });
    const result = await getEvent(eventId, PUBLISHER);
    expect(result.statusCode).toBe(200);
    const body = jsonBody(result);
    expect(body).toMatchObject({ eventId, deliveryStatus: 'IN_PROGRESS', notifications: [], otherNotifications: { count: 2, byStatus: { DELIVERED: 1, PENDING: 1 } } });
    expect(result.body).not.toContain(okSubscriptionId);
    expect(result.body).not.toContain(failingSubscriptionId);
    expect(result.body).not.toContain(String(failing.port));
    expect(result.body).not.toContain('503');
  });

  test('delivery status: COMPLETED, NO_MATCHING_SUBSCRIPTIONS and REJECTED', async () => {
    const completed = jsonBody(await getEvent(await processed({ eventType: 'query.deploy.finished' }), OWNER));
    expect(completed.deliveryStatus).toBe('COMPLETED');
    expect(completed.notifications.map((n: any) => n.status)).toEqual(['DELIVERED']);

    const unmatched = jsonBody(await getEvent(await processed({ eventType: 'query.nobody.listens' })));
    expect(unmatched).toMatchObject({ status: 'ACCEPTED', deliveryStatus: 'NO_MATCHING_SUBSCRIPTIONS', notifications: [] });

    const rejected = jsonBody(await getEvent(await processed({ eventType: SCHEMA_TYPE })));
    expect(rejected).toMatchObject({ status: 'REJECTED', deliveryStatus: 'REJECTED', notifications: [], rejection: [expect.stringContaining('details')] });
  });

  test('an unknown id: 404 problem', async () => {
    const unknown = newId('evt');
    const problem = expectProblem(await getEvent(unknown), 404);
    expect(problem.detail).toContain(unknown);
  });

  test.each(['evt_123', 'not-an-id', 'sub_01JD3ZQ4K5V6W7X8Y9Z0A1B2C3', 'evt_01jd3zq4k5v6w7x8y9z0a1b2c3'])('a malformed id (%s): 400 problem', async (bad) => {
    const problem = expectProblem(await getEvent(bad), 400);
    expect(problem.errors).toEqual([expect.objectContaining({ path: '/path/eventId' })]);
  });

  test('another API key: 404, the same answer as for an unknown event', async () => {
    const eventId = await processed({ eventType: 'query.deploy.finished', title: 'mine' });
    expect((await getEvent(eventId)).statusCode).toBe(200);

    const other = expectProblem(await getEvent(eventId, OTHER_KEY), 404);
    const unknown = expectProblem(await getEvent(newId('evt'), OTHER_KEY), 404);
    expect({ ...other, detail: undefined }).toEqual({ ...unknown, detail: undefined });
    expect(JSON.stringify(other)).not.toContain('mine');
    expect(other.detail).toContain(eventId);
  });
});

describe('GET /events/{eventId}: the event as published', () => {
  test('the event comes back as its exact text (64-bit integers, 1e400, key order), after the service fields', async () => {
    const eventId = newId('evt');
    const eventJson = '{"eventType":"query.exact","severity":"LOW","title":"t","details":{"z":18446744073709551615,"a":1e400,"__proto__":{"k":1}}}';
    const body = JSON.stringify({ v: 2, eventId, receivedAt: new Date().toISOString(), source: 'api', publisherKeyId: PUBLISHER, eventJson });
    await processor.handler(sqsEvent(sqsRecord({ body })), lambdaContext());

    const result = await getEvent(eventId);
    expect(result.statusCode).toBe(200);
    expect(result.body).toContain(`"event":${eventJson}`);
    expect(jsonBody(result)).toMatchObject({ eventId, status: 'ACCEPTED', source: 'api', deliveryStatus: 'NO_MATCHING_SUBSCRIPTIONS' });
  });
});
