import { randomUUID } from 'node:crypto';
import type { ChangeMessageVisibilityCommandInput, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { newWebhookSecret } from '../../../lambda/core/channels/webhook';
import { deterministicId, newId } from '../../../lambda/core/ids';
import { NotificationRecord } from '../../../lambda/core/notification';
import { StoredEvent } from '../../../lambda/core/stored-event';
import { Subscription } from '../../../lambda/core/subscription';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { LoadedProcessor, loadHandler, loadProcessorHandler } from '../../helpers/handlers';
import { readQueueBody } from '../../helpers/queue-message';
import { closedPort, ReceiverPool, ReceivedRequest } from '../../helpers/receivers';
import { LocalSes, startSes } from '../../helpers/ses';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events';
const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events-dlq';
const OWNER = 'key-owner-0001';
const PUBLISHER = 'key-publisher-0001';
const FROM = 'notifications@example.com';
/** The schedule of the main handler copy: first attempt, then 1 s, 2 s, 3 s (±20 %). */
const SCHEDULE = [0, 1, 2, 3];
const SCHEMA_TYPE = 'schemacheck.deploy.finished';
const EVENT_SCHEMAS = {
  [SCHEMA_TYPE]: { type: 'object', required: ['details'], properties: { details: { type: 'object', required: ['version'] } } },
};

let dynamo: LocalDynamo;
let ses: LocalSes;
const receivers = new ReceiverPool();

/** Every processor setting, explicitly (each handler copy reads them when it loads). */
function processorEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...handlerEnv(dynamo),
    AWS_ENDPOINT_URL_SESV2: ses.endpoint,
    POWERTOOLS_METRICS_DISABLED: 'true',
    QUEUE_URL,
    DEAD_LETTER_QUEUE_URL: DLQ_URL,
    QUEUE_FIFO: 'false',
    RETRY_SCHEDULE_SECONDS: SCHEDULE.join(','),
    WEBHOOK_TIMEOUT_MS: '300',
    RETENTION_SECONDS: String(7 * 24 * 3600),
    // No caching in the shared copy: tests add subscriptions all the time.
    SUBSCRIPTION_CACHE_TTL_SECONDS: '0',
    MAX_CONCURRENT_DELIVERIES: '25',
    EMAIL_FROM_ADDRESS: FROM,
    EVENT_SCHEMAS: JSON.stringify(EVENT_SCHEMAS),
    ALLOW_PRIVATE_TARGETS: 'true',
    ...overrides,
  };
}

/** A loaded processor handler with its SQS client mocked (ChangeMessageVisibility, DLQ SendMessage). */
class Processor {
  public readonly sqsMock: AwsClientStub<SQSClient>;

  constructor(public readonly loaded: LoadedProcessor) {
    this.sqsMock = mockClient(loaded.sqs.SQSClient);
    this.reset();
  }

  public reset(): void {
    this.sqsMock.reset();
    this.sqsMock.on(this.loaded.sqs.ChangeMessageVisibilityCommand).resolves({});
    this.sqsMock.on(this.loaded.sqs.SendMessageCommand).callsFake(() => ({ MessageId: randomUUID(), MD5OfMessageBody: 'md5' }));
  }

  public run(...records: SQSRecord[]): Promise<SQSBatchResponse> {
    return this.loaded.handler(sqsEvent(...records), lambdaContext());
  }

  public visibilityChanges(): ChangeMessageVisibilityCommandInput[] {
    return this.sqsMock.commandCalls(this.loaded.sqs.ChangeMessageVisibilityCommand).map((c) => c.args[0].input);
  }

  public deadLetters(): SendMessageCommandInput[] {
    return this.sqsMock.commandCalls(this.loaded.sqs.SendMessageCommand).map((c) => c.args[0].input);
  }
}

let counter = 0;
/** A fresh event-type namespace per test, so tests never match each other's subscriptions. */
const namespace = (name: string) => `t${++counter}${name}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The whole seconds a jittered (±20 %) step of `seconds` can become. */
const stepRange = (seconds: number) => [Math.round(seconds * 0.8), Math.round(seconds * 1.2)];

interface Queued {
  readonly eventId: string;
  readonly body: string;
  readonly message: Record<string, any>;
}

/** The QueuedEvent the ingest function sends for an API event, built by hand. */
function queued(event: Record<string, unknown>, publisherKeyId = PUBLISHER): Queued {
  const eventId = newId('evt');
  const message = {
    v: 1,
    eventId,
    receivedAt: new Date().toISOString(),
    source: 'api',
    publisherKeyId,
    event: { severity: 'HIGH', title: 'Deploy finished', ...event },
  };
  return { eventId, body: JSON.stringify(message), message };
}

async function subscribe(fields: Partial<Subscription> & Pick<Subscription, 'eventType' | 'target'>): Promise<Subscription> {
  const at = new Date().toISOString();
  const channel = fields.channel ?? 'WEBHOOK';
  const subscription: Subscription = {
    subscriptionId: newId('sub'),
    ownerKeyId: OWNER,
    severityFilter: 'LOW',
    channel,
    enabled: true,
    ...(channel === 'WEBHOOK' ? { secret: newWebhookSecret() } : {}),
    createdAt: at,
    updatedAt: at,
    ...fields,
  };
  await dynamo.documentClient.send(new PutCommand({ TableName: dynamo.tableNames.subscriptions, Item: subscription }));
  return subscription;
}

async function storedEvent(eventId: string): Promise<StoredEvent | undefined> {
  const result = await dynamo.documentClient.send(new GetCommand({ TableName: dynamo.tableNames.events, Key: { eventId }, ConsistentRead: true }));
  return result.Item as StoredEvent | undefined;
}

async function notifications(eventId: string): Promise<NotificationRecord[]> {
  const result = await dynamo.documentClient.send(new QueryCommand({
    TableName: dynamo.tableNames.notifications,
    KeyConditionExpression: 'eventId = :id',
    ExpressionAttributeValues: { ':id': eventId },
    ConsistentRead: true,
  }));
  return (result.Items ?? []) as NotificationRecord[];
}

async function notification(eventId: string, subscriptionId: string): Promise<NotificationRecord> {
  const record = (await notifications(eventId)).find((r) => r.subscriptionId === subscriptionId);
  if (!record) throw new Error(`no notification record for ${eventId}/${subscriptionId}`);
  return record;
}

async function storedSubscription(subscriptionId: string): Promise<Record<string, any> | undefined> {
  const result = await dynamo.documentClient.send(new GetCommand({
    TableName: dynamo.tableNames.subscriptions, Key: { subscriptionId }, ConsistentRead: true,
  }));
  return result.Item;
}

/** Verifies a received webhook with the public Standard Webhooks library; returns the payload. */
function verified(request: ReceivedRequest, secret: string): Record<string, any> {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  }) as Record<string, any>;
}

const noFailures: SQSBatchResponse = { batchItemFailures: [] };
const failed = (...messageIds: string[]): SQSBatchResponse => ({ batchItemFailures: messageIds.map((itemIdentifier) => ({ itemIdentifier })) });

let main: Processor;

beforeAll(async () => {
  [dynamo, ses] = await Promise.all([startDynamo(), startSes()]);
  main = new Processor(loadProcessorHandler(processorEnv()));
});

afterAll(async () => {
  main.sqsMock.restore();
  await Promise.all([dynamo.stop(), ses.stop(), receivers.closeAll()]);
});

beforeEach(() => main.reset());
afterEach(() => receivers.closeAll());

describe('delivery of one event', () => {
  test('2 webhooks and 1 email: signed POSTs, an escaped email, 3 DELIVERED records, no batch failures', async () => {
    const ns = namespace('full');
    const eventType = `${ns}.deploy.finished`;
    const [first, second] = await Promise.all([receivers.start(), receivers.start()]);
    const exact = await subscribe({ eventType, target: `${first.url}/hooks/exact` });
    const prefix = await subscribe({ eventType: `${ns}.*`, target: `${second.url}/hooks/prefix`, severityFilter: 'MEDIUM' });
    const mailbox = `ops-${randomUUID()}@example.com`;
    const email = await subscribe({ eventType, channel: 'EMAIL', target: mailbox });

    // The queue message is the one the ingest function really sends for POST /events.
    const ingest = loadHandler('ingest', { ...handlerEnv(dynamo), QUEUE_URL, QUEUE_FIFO: 'false', MAX_EVENT_SIZE_BYTES: String(256 * 1024) });
    const ingestSqs = mockClient(ingest.sqs.SQSClient);
    ingestSqs.on(ingest.sqs.SendMessageCommand).callsFake(() => ({ MessageId: randomUUID(), MD5OfMessageBody: 'md5' }));
    const published = {
      eventType,
      severity: 'HIGH',
      title: 'Deploy <script>alert("t")</script> & "done"',
      details: { version: '1.4.2', note: '<script>alert(1)</script>', owner: "O'Brien" },
      customField: { kept: true },
    };
    try {
      const accepted = await ingest.handler(apiEvent({ method: 'POST', resource: '/events', body: published, apiKeyId: PUBLISHER }));
      expect(accepted.statusCode).toBe(202);
    } finally {
      ingestSqs.restore();
    }
    const [sent] = ingestSqs.commandCalls(ingest.sqs.SendMessageCommand).map((c) => c.args[0].input);
    const body = sent.MessageBody!;
    const eventId = JSON.parse(body).eventId as string;
    const before = Math.floor(Date.now() / 1000);

    const record = sqsRecord({ body });
    expect(await main.run(record)).toEqual(noFailures);

    // Webhooks: one POST each, JSON, Standard Webhooks headers that verify with the secret.
    for (const [receiver, subscription, path] of [[first, exact, '/hooks/exact'], [second, prefix, '/hooks/prefix']] as const) {
      expect(receiver.requests).toHaveLength(1);
      const [request] = receiver.requests;
      expect(request.method).toBe('POST');
      expect(request.path).toBe(path);
      expect(request.headers['content-type']).toBe('application/json');
      const payload = JSON.parse(request.body);
      expect(Object.keys(payload).sort()).toEqual(['data', 'timestamp', 'type']);
      expect(payload.type).toBe(eventType);
      expect(new Date(payload.timestamp).toISOString()).toBe(payload.timestamp);
      expect(payload.data).toMatchObject({ ...published, eventId });
      expect(verified(request, subscription.secret!)).toEqual(payload);
      // The signature really depends on the secret and the body.
      expect(() => verified(request, newWebhookSecret())).toThrow();
      expect(() => verified({ ...request, body: request.body.replace('1.4.2', '1.4.3') }, subscription.secret!)).toThrow();
      const timestamp = Number(request.headers['webhook-timestamp']);
      expect(timestamp).toBeGreaterThanOrEqual(before - 1);
      expect(timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
      expect(request.headers['webhook-id']).toBe((await notification(eventId, subscription.subscriptionId)).notificationId);
    }
    expect(first.requests[0].headers['webhook-id']).not.toBe(second.requests[0].headers['webhook-id']);

    // Email: in the SES emulator, subject from the title, user data escaped in the HTML part.
    const mails = await ses.emailsTo(mailbox);
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail.from).toBe(FROM);
    expect(mail.subject).toContain(published.title);
    expect(mail.subject).not.toMatch(/[\r\n]/);
    const html = mail.body.html!;
    expect(html).not.toContain('<script');
    expect(html).toContain('Deploy &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; &quot;done&quot;');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('O&#39;Brien');
    expect(html).toContain(eventId);
    expect(mail.body.text).toContain(published.title);

    // DynamoDB: the event and three DELIVERED records with one attempt each.
    const stored = await storedEvent(eventId);
    expect(stored).toMatchObject({ eventId, status: 'ACCEPTED', source: 'api', publisherKeyId: PUBLISHER, eventType });
    // Stored as the publisher's exact text, never as a map DynamoDB might refuse.
    expect(JSON.parse(stored!.eventJson)).toEqual(published);
    expect(stored).not.toHaveProperty('event');
    expect(stored!.expiresAt).toBeGreaterThan(Date.now() / 1000 + 6 * 24 * 3600);
    const records = await notifications(eventId);
    expect(records.map((r) => r.subscriptionId).sort()).toEqual([exact, prefix, email].map((s) => s.subscriptionId).sort());
    for (const r of records) {
      expect(r.status).toBe('DELIVERED');
      expect(r.notificationId).toMatch(/^ntf_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(r.attempts).toHaveLength(1);
      const [attempt] = r.attempts;
      expect(attempt).toMatchObject({ outcome: 'DELIVERED', latencyMs: expect.any(Number) });
      expect(attempt.latencyMs).toBeGreaterThanOrEqual(0);
      if (r.channel === 'WEBHOOK') {
        expect(attempt.httpStatus).toBeGreaterThanOrEqual(200);
        expect(attempt.httpStatus).toBeLessThan(300);
      } else {
        expect(attempt.messageId).toBe(mail.messageId);
      }
    }
    expect(main.visibilityChanges()).toEqual([]);
    expect(main.deadLetters()).toEqual([]);
  });

  test('matching: exact, *, prefix.*, severity below/at/above, paused and other types', async () => {
    const ns = namespace('match');
    const eventType = `${ns}.deploy.finished`;
    const receiver = await receivers.start();
    const hook = (path: string) => `${receiver.url}/${path}`;
    const expected = ['exact', 'star', 'prefix', 'deep-prefix', 'below', 'at'];
    const subscriptions = [
      await subscribe({ eventType, target: hook('exact') }),
      await subscribe({ eventType: '*', target: hook('star') }),
      await subscribe({ eventType: `${ns}.*`, target: hook('prefix') }),
      await subscribe({ eventType: `${ns}.deploy.*`, target: hook('deep-prefix') }),
      await subscribe({ eventType, severityFilter: 'MEDIUM', target: hook('below') }),
      await subscribe({ eventType, severityFilter: 'HIGH', target: hook('at') }),
      await subscribe({ eventType, severityFilter: 'CRITICAL', target: hook('above') }),
      await subscribe({ eventType, enabled: false, target: hook('paused') }),
      await subscribe({ eventType: `${ns}.deploy.started`, target: hook('other-type') }),
      await subscribe({ eventType: `${eventType}.*`, target: hook('below-the-type') }),
      await subscribe({ eventType: `${ns}x.*`, target: hook('other-prefix') }),
    ];
    const event = queued({ eventType, severity: 'HIGH' });
    try {
      expect(await main.run(sqsRecord({ body: event.body }))).toEqual(noFailures);
    } finally {
      // `*` matches every event: remove it so later tests see only their own subscriptions.
      await dynamo.documentClient.send(new DeleteCommand({
        TableName: dynamo.tableNames.subscriptions, Key: { subscriptionId: subscriptions[1].subscriptionId },
      }));
    }

    expect(receiver.requests.map((r) => r.path.slice(1)).sort()).toEqual([...expected].sort());
    const records = await notifications(event.eventId);
    const byTarget = new Map(subscriptions.map((s) => [s.subscriptionId, s.target.split('/').pop()]));
    expect(records.map((r) => byTarget.get(r.subscriptionId)).sort()).toEqual([...expected].sort());
    expect(records.every((r) => r.status === 'DELIVERED')).toBe(true);

    // A LOW event reaches only the subscriptions whose minimum is LOW.
    const low = queued({ eventType: `${ns}.deploy.finished`, severity: 'LOW' });
    expect(await main.run(sqsRecord({ body: low.body }))).toEqual(noFailures);
    const lowPaths = receiver.requests.slice(expected.length).map((r) => r.path.slice(1)).sort();
    expect(lowPaths).toEqual(['deep-prefix', 'exact', 'prefix']);
  });
});

describe('retries', () => {
  test('500, 500, then 200: retried on the schedule, one DELIVERED record with 3 attempts, the other receiver called once', async () => {
    const eventType = `${namespace('retry')}.deploy.finished`;
    const [flaky, steady] = await Promise.all([
      receivers.start({ responder: (_request, index) => ({ status: index < 2 ? 500 : 200, body: 'ok' }) }),
      receivers.start(),
    ]);
    const flakySub = await subscribe({ eventType, target: `${flaky.url}/hook` });
    const steadySub = await subscribe({ eventType, target: `${steady.url}/hook` });
    const event = queued({ eventType });
    const messageId = randomUUID();
    const receive = (receiveCount: number) => sqsRecord({ body: event.body, messageId, receiveCount, receiptHandle: `rh-${receiveCount}` });

    expect(await main.run(receive(1))).toEqual(failed(messageId));
    let changes = main.visibilityChanges();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ QueueUrl: QUEUE_URL, ReceiptHandle: 'rh-1' });
    const [min1, max1] = stepRange(SCHEDULE[1]);
    expect(changes[0].VisibilityTimeout).toBeGreaterThanOrEqual(min1);
    expect(changes[0].VisibilityTimeout).toBeLessThanOrEqual(max1);
    expect((await notification(event.eventId, flakySub.subscriptionId)).status).toBe('PENDING');

    // SQS hides the message for the visibility timeout, then delivers it again.
    await sleep(changes[0].VisibilityTimeout! * 1000);
    main.reset();
    expect(await main.run(receive(2))).toEqual(failed(messageId));
    changes = main.visibilityChanges();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ QueueUrl: QUEUE_URL, ReceiptHandle: 'rh-2' });
    const [min2, max2] = stepRange(SCHEDULE[2]);
    expect(changes[0].VisibilityTimeout).toBeGreaterThanOrEqual(min2);
    expect(changes[0].VisibilityTimeout).toBeLessThanOrEqual(max2);

    await sleep(changes[0].VisibilityTimeout! * 1000);
    main.reset();
    expect(await main.run(receive(3))).toEqual(noFailures);
    expect(main.visibilityChanges()).toEqual([]);
    expect(main.deadLetters()).toEqual([]);

    const records = await notifications(event.eventId);
    expect(records).toHaveLength(2);
    const record = records.find((r) => r.subscriptionId === flakySub.subscriptionId)!;
    expect(record.status).toBe('DELIVERED');
    expect(record.attempts.map((a) => [a.outcome, a.httpStatus])).toEqual([['FAILED', 500], ['FAILED', 500], ['DELIVERED', 200]]);
    expect(records.find((r) => r.subscriptionId === steadySub.subscriptionId)!.attempts).toHaveLength(1);

    expect(steady.requests).toHaveLength(1);
    expect(flaky.requests).toHaveLength(3);
    const ids = flaky.requests.map((r) => r.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set([record.notificationId]));
    expect(new Set(flaky.requests.map((r) => r.body)).size).toBe(1);
    for (const request of flaky.requests) verified(request, flakySub.secret!);
  });

  test('a receiver that never answers: the attempt fails with a time-out and the record is retried', async () => {
    const eventType = `${namespace('timeout')}.deploy.finished`;
    const silent = await receivers.start({ responder: () => 'hang' });
    const subscription = await subscribe({ eventType, target: `${silent.url}/hook` });
    const event = queued({ eventType });
    const record = sqsRecord({ body: event.body });

    const started = Date.now();
    expect(await main.run(record)).toEqual(failed(record.messageId));
    expect(Date.now() - started).toBeLessThan(5000);

    expect(silent.requests).toHaveLength(1);
    const stored = await notification(event.eventId, subscription.subscriptionId);
    expect(stored.status).toBe('PENDING');
    expect(stored.nextAttemptAt).toEqual(expect.any(String));
    expect(stored.attempts).toHaveLength(1);
    expect(stored.attempts[0].outcome).toBe('FAILED');
    expect(stored.attempts[0].httpStatus).toBeUndefined();
    expect(stored.attempts[0].error).toMatch(/TimeoutError|300 ms/);
    expect(stored.attempts[0].latencyMs).toBeGreaterThanOrEqual(250);
    expect(main.visibilityChanges()).toEqual([
      expect.objectContaining({ QueueUrl: QUEUE_URL, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 1 }),
    ]);
    expect(main.deadLetters()).toEqual([]);
  });

  test('connection refused (closed port): the attempt fails and the record is retried', async () => {
    const eventType = `${namespace('refused')}.deploy.finished`;
    const subscription = await subscribe({ eventType, target: `http://127.0.0.1:${await closedPort()}/hook` });
    const event = queued({ eventType });
    const record = sqsRecord({ body: event.body });

    expect(await main.run(record)).toEqual(failed(record.messageId));
    const stored = await notification(event.eventId, subscription.subscriptionId);
    expect(stored.status).toBe('PENDING');
    expect(stored.attempts).toEqual([expect.objectContaining({ outcome: 'FAILED', error: expect.stringContaining('ECONNREFUSED') })]);
    expect(main.visibilityChanges()).toHaveLength(1);
    expect(main.deadLetters()).toEqual([]);
  });

  test('a 302 redirect is not followed: failed attempt, retried, the Location target gets nothing', async () => {
    const eventType = `${namespace('redirect')}.deploy.finished`;
    const elsewhere = await receivers.start();
    const redirecting = await receivers.start({ responder: () => ({ status: 302, headers: { location: `${elsewhere.url}/stolen` } }) });
    const subscription = await subscribe({ eventType, target: `${redirecting.url}/hook` });
    const event = queued({ eventType });
    const record = sqsRecord({ body: event.body });

    expect(await main.run(record)).toEqual(failed(record.messageId));
    expect(redirecting.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
    expect(elsewhere.connections).toBe(0);
    const stored = await notification(event.eventId, subscription.subscriptionId);
    expect(stored.status).toBe('PENDING');
    expect(stored.attempts).toEqual([expect.objectContaining({ outcome: 'FAILED', httpStatus: 302, error: expect.stringContaining('not followed') })]);
    expect(main.visibilityChanges()).toHaveLength(1);
  });

  test('410 Gone: notification FAILED, subscription disabled, not retried, a DLQ copy with the reason', async () => {
    const eventType = `${namespace('gone')}.deploy.finished`;
    const gone = await receivers.start({ responder: () => ({ status: 410 }) });
    const subscription = await subscribe({ eventType, target: `${gone.url}/hook` });
    const event = queued({ eventType });
    const record = sqsRecord({ body: event.body });

    expect(await main.run(record)).toEqual(noFailures);
    const stored = await notification(event.eventId, subscription.subscriptionId);
    expect(stored.status).toBe('FAILED');
    expect(stored.reason).toContain('410');
    expect(stored.attempts).toEqual([expect.objectContaining({ outcome: 'FAILED', httpStatus: 410 })]);
    expect(await storedSubscription(subscription.subscriptionId)).toMatchObject({ enabled: false, pausedReason: expect.stringContaining('410') });
    expect(main.visibilityChanges()).toEqual([]);
    const deadLetters = main.deadLetters();
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0].QueueUrl).toBe(DLQ_URL);
    expect(deadLetters[0].MessageAttributes?.reason?.StringValue).toEqual(expect.stringContaining(subscription.subscriptionId));
    expect(deadLetters[0].MessageAttributes?.reason?.StringValue).toContain('410');

    // Paused: the next event of the type does not call the receiver again.
    const next = queued({ eventType });
    expect(await main.run(sqsRecord({ body: next.body }))).toEqual(noFailures);
    expect(gone.requests).toHaveLength(1);
    expect(await notifications(next.eventId)).toEqual([]);
  });

  test.each([
    ['2', 2, 'honoured'],
    ['3600', SCHEDULE[2], 'capped at the following step'],
    ['0', 1, 'never shortens the scheduled delay'],
  ])('429 with Retry-After: %s → visibility %i s (%s)', async (retryAfter, expectedDelay) => {
    const eventType = `${namespace('busy')}.deploy.finished`;
    const busy = await receivers.start({ responder: () => ({ status: 429, headers: { 'retry-after': retryAfter } }) });
    const subscription = await subscribe({ eventType, target: `${busy.url}/hook` });
    const event = queued({ eventType });
    const record = sqsRecord({ body: event.body });

    expect(await main.run(record)).toEqual(failed(record.messageId));
    expect(main.visibilityChanges()).toEqual([expect.objectContaining({ ReceiptHandle: record.receiptHandle, VisibilityTimeout: expectedDelay })]);
    const stored = await notification(event.eventId, subscription.subscriptionId);
    expect(stored.status).toBe('PENDING');
    expect(stored.attempts).toEqual([expect.objectContaining({ outcome: 'FAILED', httpStatus: 429 })]);
    const wait = (Date.parse(stored.nextAttemptAt!) - Date.parse(stored.attempts[0].at)) / 1000;
    expect(wait).toBeGreaterThanOrEqual(expectedDelay - 0.5);
    expect(wait).toBeLessThanOrEqual(expectedDelay + 0.5);
  });

  test('after the last scheduled attempt fails: FAILED, one DLQ message naming the subscription, not a batch failure', async () => {
    // A three-step schedule with no waiting, in its own handler copy.
    const short = new Processor(loadProcessorHandler(processorEnv({ RETRY_SCHEDULE_SECONDS: '0,0,0' })));
    try {
      const eventType = `${namespace('exhausted')}.deploy.finished`;
      const broken = await receivers.start({ responder: () => ({ status: 500 }) });
      const fine = await receivers.start();
      const brokenSub = await subscribe({ eventType, target: `${broken.url}/hook` });
      const fineSub = await subscribe({ eventType, target: `${fine.url}/hook` });
      const event = queued({ eventType });
      const messageId = randomUUID();
      const receive = (n: number) => sqsRecord({ body: event.body, messageId, receiveCount: n });

      expect(await short.run(receive(1))).toEqual(failed(messageId));
      expect(await short.run(receive(2))).toEqual(failed(messageId));
      expect(short.deadLetters()).toEqual([]);
      expect(await short.run(receive(3))).toEqual(noFailures);

      expect(short.visibilityChanges().map((c) => c.VisibilityTimeout)).toEqual([0, 0]);
      const deadLetters = short.deadLetters();
      expect(deadLetters).toHaveLength(1);
      expect(deadLetters[0].QueueUrl).toBe(DLQ_URL);
      const reason = deadLetters[0].MessageAttributes?.reason?.StringValue;
      expect(reason).toContain(brokenSub.subscriptionId);
      expect(reason).toContain('500');
      expect(reason).not.toContain(fineSub.subscriptionId);
      expect(deadLetters[0].MessageAttributes?.eventId?.StringValue).toBe(event.eventId);
      expect(readQueueBody(deadLetters[0].MessageBody!)).toMatchObject({ eventId: event.eventId, event: event.message.event, redrive: true });

      const stored = await notification(event.eventId, brokenSub.subscriptionId);
      expect(stored.status).toBe('FAILED');
      expect(stored.attempts.map((a) => a.httpStatus)).toEqual([500, 500, 500]);
      expect(broken.requests).toHaveLength(3);
      expect(fine.requests).toHaveLength(1);
      expect((await notification(event.eventId, fineSub.subscriptionId)).status).toBe('DELIVERED');
    } finally {
      short.sqsMock.restore();
    }
  });
});

describe('SSRF guard (ALLOW_PRIVATE_TARGETS=false)', () => {
  test('loopback, localhost, private, metadata and IPv6 loopback targets are refused without a connection', async () => {
    const guarded = new Processor(loadProcessorHandler(processorEnv({ ALLOW_PRIVATE_TARGETS: 'false' })));
    try {
      const eventType = `${namespace('ssrf')}.deploy.finished`;
      const v4 = await receivers.start({ host: '127.0.0.1' });
      const v6 = await receivers.start({ host: '::1' });
      const targets = [
        `https://127.0.0.1:${v4.port}/`,
        `https://localhost:${v4.port}/`,
        'https://10.0.0.1/',
        'https://169.254.169.254/latest/meta-data',
        `https://[::1]:${v6.port}/`,
        `https://[::ffff:127.0.0.1]:${v4.port}/`,
        `http://127.0.0.1:${v4.port}/`,
      ];
      const subscriptions = [];
      for (const target of targets) subscriptions.push(await subscribe({ eventType, target }));
      const event = queued({ eventType });

      expect(await guarded.run(sqsRecord({ body: event.body }))).toEqual(noFailures);

      expect(v4.connections).toBe(0);
      expect(v6.connections).toBe(0);
      const records = await notifications(event.eventId);
      expect(records).toHaveLength(targets.length);
      for (const record of records) {
        expect(record.status).toBe('FAILED');
        expect(record.reason).toMatch(/refused/);
        expect(record.attempts).toHaveLength(1);
      }
      expect(guarded.visibilityChanges()).toEqual([]);
      expect(guarded.deadLetters()).toHaveLength(1);
      const reason = guarded.deadLetters()[0].MessageAttributes?.reason?.StringValue ?? '';
      for (const s of subscriptions) expect(reason).toContain(s.subscriptionId);
    } finally {
      guarded.sqsMock.restore();
    }
  });
});

describe('batches and redeliveries', () => {
  test('an event DynamoDB can never store (over 400 KB) is rejected to the DLQ, not retried; the others are delivered', async () => {
    const eventType = `${namespace('batch')}.deploy.finished`;
    const receiver = await receivers.start();
    await subscribe({ eventType, target: `${receiver.url}/hook` });
    const ok1 = queued({ eventType, title: 'one' });
    // Over DynamoDB's 400 KB item limit: the real table rejects the Events item (ValidationException).
    const big = queued({ eventType, title: 'too big', details: { blob: 'x'.repeat(410 * 1024) } });
    const ok2 = queued({ eventType, title: 'two' });
    const records = [ok1, big, ok2].map((e) => sqsRecord({ body: e.body }));

    expect(await main.run(...records)).toEqual(noFailures);
    expect(receiver.requests.map((r) => JSON.parse(r.body).data.title).sort()).toEqual(['one', 'two']);
    expect(await storedEvent(big.eventId)).toBeUndefined();
    expect((await storedEvent(ok1.eventId))?.status).toBe('ACCEPTED');
    expect((await storedEvent(ok2.eventId))?.status).toBe('ACCEPTED');
    expect(main.visibilityChanges()).toEqual([]);
    const dead = main.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0].MessageAttributes?.reason?.StringValue).toMatch(/cannot be stored/);
    expect(dead[0].MessageAttributes?.eventId?.StringValue).toBe(big.eventId);
  });

  test('a transient DynamoDB failure on one record of a batch of 3 fails only that record', async () => {
    const eventType = `${namespace('transient')}.deploy.finished`;
    const receiver = await receivers.start();
    await subscribe({ eventType, target: `${receiver.url}/hook` });
    const [ok1, throttled, ok2] = ['one', 'throttled', 'two'].map((title) => queued({ eventType, title }));
    const records = [ok1, throttled, ok2].map((e) => sqsRecord({ body: e.body }));
    // DynamoDB throttling the Events write of one event (the SDK's retries already used up).
    const stack = main.loaded.clients.dynamoDocumentClient().middlewareStack;
    stack.add((next, context) => async (args) => {
      // At this step the document client has not marshalled the item yet.
      const input = args.input as { Item?: { eventId?: unknown } };
      if (context.commandName === 'PutItemCommand' && input.Item?.eventId === throttled.eventId) {
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput'), { name: 'ProvisionedThroughputExceededException' });
      }
      return next(args);
    }, { step: 'initialize', name: 'throttleOneEvent' });
    try {
      expect(await main.run(...records)).toEqual(failed(records[1].messageId));
    } finally {
      stack.remove('throttleOneEvent');
    }
    expect(receiver.requests.map((r) => JSON.parse(r.body).data.title).sort()).toEqual(['one', 'two']);
    expect(await storedEvent(throttled.eventId)).toBeUndefined();
    expect(main.deadLetters()).toEqual([]);

    // SQS redelivers it; now it goes through.
    expect(await main.run(sqsRecord({ body: throttled.body, receiveCount: 2 }))).toEqual(noFailures);
    expect(receiver.requests.map((r) => JSON.parse(r.body).data.title).sort()).toEqual(['one', 'throttled', 'two']);
  });

  test('the same message delivered twice (a duplicate, then a redelivery) reaches each receiver once', async () => {
    const eventType = `${namespace('dup')}.deploy.finished`;
    const [a, b] = await Promise.all([receivers.start(), receivers.start()]);
    const subA = await subscribe({ eventType, target: `${a.url}/hook` });
    await subscribe({ eventType, target: `${b.url}/hook` });
    const event = queued({ eventType });
    const messageId = randomUUID();

    for (const receiveCount of [1, 1, 2]) {
      expect(await main.run(sqsRecord({ body: event.body, messageId, receiveCount }))).toEqual(noFailures);
    }
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
    expect((await notification(event.eventId, subA.subscriptionId)).attempts).toHaveLength(1);
    expect(main.visibilityChanges()).toEqual([]);
    expect(main.deadLetters()).toEqual([]);
  });

  test('an event failing its JSON Schema: REJECTED with reasons, one DLQ copy, not retried, no delivery', async () => {
    const receiver = await receivers.start();
    await subscribe({ eventType: SCHEMA_TYPE, target: `${receiver.url}/hook` });
    const invalid = queued({ eventType: SCHEMA_TYPE, details: { service: 'billing' } });
    const record = sqsRecord({ body: invalid.body });

    expect(await main.run(record)).toEqual(noFailures);
    const stored = await storedEvent(invalid.eventId);
    expect(stored?.status).toBe('REJECTED');
    expect(stored?.rejection).toEqual([expect.stringContaining('version')]);
    expect(main.visibilityChanges()).toEqual([]);
    const deadLetters = main.deadLetters();
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0].QueueUrl).toBe(DLQ_URL);
    expect(deadLetters[0].MessageAttributes?.reason?.StringValue).toMatch(/^rejected: .*version/);
    expect(deadLetters[0].MessageAttributes?.eventId?.StringValue).toBe(invalid.eventId);
    expect(receiver.requests).toHaveLength(0);
    expect(await notifications(invalid.eventId)).toEqual([]);

    // The schema is not rejecting everything: a valid event of the type is delivered.
    const valid = queued({ eventType: SCHEMA_TYPE, details: { service: 'billing', version: '2.0.0' } });
    expect(await main.run(sqsRecord({ body: valid.body }))).toEqual(noFailures);
    expect(receiver.requests).toHaveLength(1);
    expect((await storedEvent(valid.eventId))?.status).toBe('ACCEPTED');
  });

  test('a bare envelope sent straight to the queue is processed with an id derived from the SQS message id', async () => {
    const eventType = `${namespace('bare')}.deploy.finished`;
    const receiver = await receivers.start();
    await subscribe({ eventType, target: `${receiver.url}/hook` });
    const title = `straight from the queue ${randomUUID()}`;
    const body = JSON.stringify({ eventType, severity: 'CRITICAL', title, details: { region: 'eu-west-1' } });
    const messageId = randomUUID();
    const sentTimestampMs = Date.now() - 1000;
    const expectedId = deterministicId('evt', sentTimestampMs, messageId);

    expect(await main.run(sqsRecord({ body, messageId, sentTimestampMs }))).toEqual(noFailures);
    expect(receiver.requests).toHaveLength(1);
    const payload = JSON.parse(receiver.requests[0].body);
    expect(payload.data).toMatchObject({ eventId: expectedId, source: 'queue', title, receivedAt: new Date(sentTimestampMs).toISOString() });
    expect(await storedEvent(expectedId)).toMatchObject({ eventId: expectedId, source: 'queue', status: 'ACCEPTED' });

    // The same message again: the same id, so no second event and no second delivery.
    expect(await main.run(sqsRecord({ body, messageId, sentTimestampMs, receiveCount: 2 }))).toEqual(noFailures);
    expect(receiver.requests).toHaveLength(1);
    const scan = await dynamo.documentClient.send(new ScanCommand({
      TableName: dynamo.tableNames.events, FilterExpression: 'contains(eventJson, :t)', ExpressionAttributeValues: { ':t': title },
    }));
    expect(scan.Items?.map((i) => i.eventId)).toEqual([expectedId]);

    // Another message with the same body is another event.
    const otherId = randomUUID();
    expect(await main.run(sqsRecord({ body, messageId: otherId, sentTimestampMs }))).toEqual(noFailures);
    expect(receiver.requests).toHaveLength(2);
    expect(JSON.parse(receiver.requests[1].body).data.eventId).toBe(deterministicId('evt', sentTimestampMs, otherId));
    expect(deterministicId('evt', sentTimestampMs, otherId)).not.toBe(expectedId);
  });
});

describe('cost and concurrency', () => {
  test('25 matching webhooks, warm cache: at most 2 DynamoDB requests per new event and overlapping deliveries', async () => {
    const perf = new Processor(loadProcessorHandler(processorEnv({ SUBSCRIPTION_CACHE_TTL_SECONDS: '300' })));
    try {
      const commands: string[] = [];
      perf.loaded.clients.dynamoDocumentClient().middlewareStack.add(
        (next, context) => async (args) => {
          commands.push(String(context.commandName));
          return next(args);
        },
        { step: 'initialize', name: 'countDynamoRequests' },
      );
      const eventType = `${namespace('perf')}.deploy.finished`;
      const receiver = await receivers.start({ responder: () => ({ status: 200, delayMs: 150 }) });
      const subscriptions: Subscription[] = [];
      for (let i = 0; i < 25; i++) subscriptions.push(await subscribe({ eventType, target: `${receiver.url}/hook/${i}` }));

      const warmUp = queued({ eventType, title: 'warm-up' });
      expect(await perf.run(sqsRecord({ body: warmUp.body }))).toEqual(noFailures);
      expect(receiver.requests).toHaveLength(25);
      const warmUpCommands = [...commands];

      commands.length = 0;
      receiver.resetCounters();
      const event = queued({ eventType, title: 'measured' });
      const started = Date.now();
      expect(await perf.run(sqsRecord({ body: event.body }))).toEqual(noFailures);
      const elapsed = Date.now() - started;

      const measured = receiver.requests.filter((r) => JSON.parse(r.body).data.title === 'measured');
      expect(new Set(measured.map((r) => r.path)).size).toBe(25);
      const records = await notifications(event.eventId);
      expect(records.filter((r) => r.status === 'DELIVERED')).toHaveLength(25);

      console.log(
        `processor, one new event with 25 matching webhooks (warm cache): ${commands.length} DynamoDB requests [${commands.join(', ')}]; ` +
        `cold first event: ${warmUpCommands.length} [${warmUpCommands.join(', ')}]; ` +
        `max concurrent deliveries at the receiver: ${receiver.maxInFlight}; 25 deliveries of 150 ms took ${elapsed} ms`,
      );
      expect(commands.length).toBeLessThanOrEqual(2);
      expect(commands).toEqual(['PutItemCommand', 'BatchWriteItemCommand']);
      expect(receiver.maxInFlight).toBeGreaterThan(1);
      expect(elapsed).toBeLessThan(25 * 150);
    } finally {
      perf.sqsMock.restore();
    }
  });
});

/** A v2 queue message (what ingest sends now) for an event whose envelope text is `eventJson`. */
function queuedText(eventJson: string, eventId = newId('evt'), receivedAt = new Date().toISOString()): string {
  return JSON.stringify({ v: 2, eventId, receivedAt, source: 'api', publisherKeyId: PUBLISHER, eventJson });
}

describe('integrity: nothing accepted is lost or altered', () => {
  test('hostile but valid content (64-bit integers, 5e-324, 1e400, constructor and __proto__ keys) is stored and delivered exactly', async () => {
    const eventType = `${namespace('exact')}.order.created`;
    const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
    const sub = await subscribe({ eventType, target: `${receiver.url}/hook` });
    const details = '{"orderId":18446744073709551615,"big":9007199254740993,"tiny":5e-324,"huge":1e400,"neg":-0.0,'
      + '"constructor":{"name":"x"},"__proto__":{"polluted":true},"toString":"s","text":"🚀 \\u2028 שלום","list":[1.10,2E+3]}';
    const eventJson = `{"eventType":"${eventType}","severity":"HIGH","title":"Order","details":${details}}`;
    const message = queuedText(eventJson);
    const eventId = JSON.parse(message).eventId as string;

    expect(await main.run(sqsRecord({ body: message }))).toEqual(noFailures);

    expect(receiver.requests).toHaveLength(1);
    const body = receiver.requests[0].body;
    // Every digit and key as published, after the service's own fields.
    expect(body).toContain(`"details":${details}`);
    expect(body).toContain(`"data":{"eventId":"${eventId}","receivedAt":`);
    expect(verified(receiver.requests[0], sub.secret!)).toBeDefined();
    expect((await storedEvent(eventId))!.eventJson).toBe(eventJson);
    expect((await notification(eventId, sub.subscriptionId)).status).toBe('DELIVERED');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('an envelope that sets a service field (eventId, source, receivedAt) straight on the queue is REJECTED with the reason, never delivered', async () => {
    const eventType = `${namespace('spoof')}.payment.succeeded`;
    const receiver = await receivers.start();
    await subscribe({ eventType, target: `${receiver.url}/hook` });
    const body = JSON.stringify({ eventType, severity: 'HIGH', title: 'Paid', source: 'webhook:pay', eventId: 'evt_forged' });

    expect(await main.run(sqsRecord({ body }))).toEqual(noFailures);

    expect(receiver.requests).toHaveLength(0);
    const [dead] = main.deadLetters();
    expect(dead.MessageAttributes?.reason?.StringValue).toMatch(/\/source: is set by the service/);
    expect(dead.MessageAttributes?.reason?.StringValue).toMatch(/\/eventId: is set by the service/);
  });

  test('one webhook-id per (event, subscription): a second message of the event with another receivedAt, after a lost record, reuses it', async () => {
    const eventType = `${namespace('stable')}.deploy.finished`;
    const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
    const sub = await subscribe({ eventType, target: `${receiver.url}/hook` });
    const eventId = newId('evt');
    const eventJson = JSON.stringify({ eventType, severity: 'HIGH', title: 'Deploy' });

    expect(await main.run(sqsRecord({ body: queuedText(eventJson, eventId, new Date(Date.now() - 5000).toISOString()) }))).toEqual(noFailures);
    // As if the function died after the delivery and before writing its record.
    const key = { eventId, subscriptionId: sub.subscriptionId };
    await dynamo.documentClient.send(new DeleteCommand({ TableName: dynamo.tableNames.notifications, Key: key }));
    expect(await main.run(sqsRecord({ body: queuedText(eventJson, eventId, new Date().toISOString()) }))).toEqual(noFailures);

    expect(receiver.requests).toHaveLength(2);
    const ids = receiver.requests.map((r) => r.headers['webhook-id']);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).toBe((await notification(eventId, sub.subscriptionId)).notificationId);
  });

  test('overlapping invocations of one handler copy each report their own batch item failures', async () => {
    const ns = namespace('overlap');
    const failing = await receivers.start({ responder: () => ({ status: 500, delayMs: 100 }) });
    const fine = await receivers.start({ responder: () => ({ status: 200, delayMs: 150 }) });
    await subscribe({ eventType: `${ns}.bad`, target: `${failing.url}/hook` });
    await subscribe({ eventType: `${ns}.good`, target: `${fine.url}/hook` });
    const bad = [1, 2, 3].map(() => sqsRecord({ body: queued({ eventType: `${ns}.bad` }).body }));
    const good = [1, 2, 3].map(() => sqsRecord({ body: queued({ eventType: `${ns}.good` }).body }));

    const [badResult, goodResult] = await Promise.all([main.run(...bad), main.run(...good)]);

    expect(badResult).toEqual(failed(...bad.map((r) => r.messageId)));
    expect(goodResult).toEqual(noFailures);
  });

  test('FIFO: records run in order; a record waiting for a retry holds back the later records of its group only', async () => {
    const fifo = new Processor(loadProcessorHandler(processorEnv({ QUEUE_FIFO: 'true', QUEUE_URL: `${QUEUE_URL}.fifo`, DEAD_LETTER_QUEUE_URL: `${DLQ_URL}.fifo` })));
    try {
      const ns = namespace('fifo');
      const receiver = await receivers.start({ responder: (request) => ({ status: JSON.parse(request.body).data.title === 'first-a' ? 500 : 200 }) });
      await subscribe({ eventType: `${ns}.*`, target: `${receiver.url}/hook` });
      const record = (title: string, orderingKey: string) => sqsRecord({ body: queued({ eventType: `${ns}.e`, title, orderingKey }).body, messageGroupId: orderingKey });
      const records = [record('first-a', 'a'), record('first-b', 'b'), record('second-a', 'a'), record('second-b', 'b')];

      const result = await fifo.run(...records);

      expect(result).toEqual(failed(records[0].messageId, records[2].messageId));
      expect(receiver.requests.map((r) => JSON.parse(r.body).data.title)).toEqual(['first-a', 'first-b', 'second-b']);
      // The waiting record hides for its retry; the one held back behind it is released at once,
      // not left to the queue's 6-minute visibility timeout (SQS keeps the group closed meanwhile).
      const visibility = new Map(fifo.visibilityChanges().map((c) => [c.ReceiptHandle, c.VisibilityTimeout]));
      expect(visibility.get(records[0].receiptHandle)).toBeGreaterThanOrEqual(1);
      expect(visibility.get(records[2].receiptHandle)).toBe(0);
      expect(visibility.size).toBe(2);
    } finally {
      fifo.sqsMock.restore();
    }
  });

  test('the last receive (MAX_RECEIVE_COUNT) closes pending and unreached notifications as FAILED and dead-letters the event with the reason', async () => {
    const last = new Processor(loadProcessorHandler(processorEnv({ MAX_RECEIVE_COUNT: '4' })));
    try {
      const eventType = `${namespace('last')}.deploy.finished`;
      const receiver = await receivers.start({ responder: () => ({ status: 503 }) });
      const flaky = await subscribe({ eventType, target: `${receiver.url}/hook` });
      const event = queued({ eventType });

      // Receive 3 of 4: an ordinary retry.
      expect(await last.run(sqsRecord({ body: event.body, receiveCount: 3 }))).toEqual(failed(expect.any(String)));
      expect(last.deadLetters()).toHaveLength(0);
      // Receive 4 of 4: SQS would move it next time without a reason; the processor finishes it.
      const record = sqsRecord({ body: event.body, receiveCount: 4 });
      expect(await last.run(record)).toEqual(noFailures);
      const stored = await notification(event.eventId, flaky.subscriptionId);
      expect(stored.status).toBe('FAILED');
      expect(stored.reason).toMatch(/retries exhausted: the message was received 4 times/);
      expect(stored.nextAttemptAt).toBeUndefined();
      const [dead] = last.deadLetters();
      expect(dead.MessageAttributes?.reason?.StringValue).toMatch(/retries exhausted/);
      expect(readQueueBody(dead.MessageBody!)).toMatchObject({ eventId: event.eventId, redrive: true });

      // Work deferred for lack of time on the last receive is closed the same way.
      const slowType = `${namespace('last-deferred')}.deploy.finished`;
      const slowSub = await subscribe({ eventType: slowType, target: `${receiver.url}/slow` });
      const slow = queued({ eventType: slowType });
      last.reset();
      const hurried = { ...lambdaContext(), getRemainingTimeInMillis: () => 500 };
      expect(await last.loaded.handler(sqsEvent(sqsRecord({ body: slow.body, receiveCount: 4 })), hurried)).toEqual(noFailures);
      expect((await notification(slow.eventId, slowSub.subscriptionId))).toMatchObject({ status: 'FAILED', attempts: [] });
      expect(last.deadLetters()).toHaveLength(1);
    } finally {
      last.sqsMock.restore();
    }
  });
});

describe('tenants (Isolation)', () => {
  const TENANT_A = 'key-tenant-a';
  const TENANT_B = 'key-tenant-b';

  async function twoTenants(eventType: string) {
    const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
    const a = await subscribe({ eventType, target: `${receiver.url}/a`, ownerKeyId: TENANT_A });
    const b = await subscribe({ eventType, target: `${receiver.url}/b`, ownerKeyId: TENANT_B });
    return { receiver, a, b };
  }

  test('SHARED (default): every key\'s subscriptions get every key\'s event', async () => {
    const eventType = `${namespace('shared')}.tenant.update`;
    const { receiver } = await twoTenants(eventType);
    expect(await main.run(sqsRecord({ body: queued({ eventType }, TENANT_A).body }))).toEqual(noFailures);
    expect(receiver.requests.map((r) => r.path).sort()).toEqual(['/a', '/b']);
  });

  test('API_KEY: a subscription gets only events published with its own key; queue and inbound events go to the key named for them', async () => {
    const isolated = new Processor(loadProcessorHandler(processorEnv({
      ISOLATION: 'API_KEY', QUEUE_PUBLISHER_KEY_ID: TENANT_B, INBOUND_OWNER_KEY_IDS: `shop=${TENANT_A},ci=${TENANT_B}`,
    })));
    try {
      const eventType = `${namespace('isolated')}.tenant.update`;
      const { receiver, a } = await twoTenants(eventType);
      const fromA = queued({ eventType, title: 'from A' }, TENANT_A);
      const direct = JSON.stringify({ eventType, severity: 'HIGH', title: 'straight to the queue' });
      const inbound = JSON.stringify({
        v: 2,
        eventId: newId('evt'),
        receivedAt: new Date().toISOString(),
        source: 'webhook:shop',
        eventJson: JSON.stringify({ eventType, severity: 'HIGH', title: 'from the shop' }),
      });
      const unknownKey = queued({ eventType, title: 'from C' }, 'key-tenant-c');

      for (const body of [fromA.body, direct, inbound, unknownKey.body]) expect(await isolated.run(sqsRecord({ body }))).toEqual(noFailures);

      const titles = (path: string) => receiver.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body).data.title).sort();
      expect(titles('/a')).toEqual(['from A', 'from the shop']);
      expect(titles('/b')).toEqual(['straight to the queue']);
      // The records name their owner (GET /events shows each key only its own).
      expect((await notification(fromA.eventId, a.subscriptionId)).ownerKeyId).toBe(TENANT_A);
      expect(await notifications(fromA.eventId)).toHaveLength(1);
      expect((await notifications(unknownKey.eventId))).toEqual([]);
      const inboundId = JSON.parse(inbound).eventId as string;
      expect((await storedEvent(inboundId))?.publisherKeyId).toBe(TENANT_A);
    } finally {
      isolated.sqsMock.restore();
    }
  });
});
