import { randomUUID } from 'node:crypto';
import type { SendMessageBatchCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { CountingProxy } from '../../../bench/counting-proxy';
import { newWebhookSecret } from '../../../lambda/core/channels/webhook';
import { newId } from '../../../lambda/core/ids';
import { NotificationRecord } from '../../../lambda/core/notification';
import { Subscription } from '../../../lambda/core/subscription';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { LoadedProcessor, loadProcessorHandler } from '../../helpers/handlers';
import { Receiver, ReceiverPool } from '../../helpers/receivers';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';

/*
 * The processor handler with 1,000 subscriptions against dynalite (every DynamoDB request counted
 * on the wire) and a real receiver: the event's message is split into follow-up messages (SQS is
 * mocked: what the handler sends is fed back as records), and each subscription gets the event
 * exactly once, whatever is received twice or crashes in between.
 */

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events';
const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events-dlq';
const K = 1000;
/** The default webhook timeout: parts of 75 (3 waves of 25 in a 60 s function). */
const WEBHOOK_TIMEOUT_MS = 15_000;

let dynamo: LocalDynamo;
let proxy: CountingProxy;
const receivers = new ReceiverPool();

function processorEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...handlerEnv(dynamo),
    POWERTOOLS_METRICS_DISABLED: 'true',
    QUEUE_URL,
    DEAD_LETTER_QUEUE_URL: DLQ_URL,
    QUEUE_FIFO: 'false',
    RETRY_SCHEDULE_SECONDS: '0,1,2',
    MAX_RECEIVE_COUNT: '8',
    WEBHOOK_TIMEOUT_MS: String(WEBHOOK_TIMEOUT_MS),
    RETENTION_SECONDS: String(7 * 24 * 3600),
    // The construct's default: a warm container reads a pattern's subscriptions once per 30 s.
    SUBSCRIPTION_CACHE_TTL_SECONDS: '30',
    MAX_CONCURRENT_DELIVERIES: '25',
    ALLOW_PRIVATE_TARGETS: 'true',
    ...overrides,
  };
}

/** A loaded processor handler whose SQS client is mocked; SendMessageBatch to the events queue is kept as follow-ups. */
class Processor {
  public readonly sqsMock: AwsClientStub<SQSClient>;
  /** Follow-up bodies queued so far (taken with `takeFollowUps`). */
  private followUps: string[] = [];
  /** SendMessageBatch requests that fail before any entry is taken (a crash mid-split). */
  public failBatchesAfter = Number.POSITIVE_INFINITY;

  constructor(public readonly loaded: LoadedProcessor) {
    this.sqsMock = mockClient(loaded.sqs.SQSClient);
    this.sqsMock.on(loaded.sqs.ChangeMessageVisibilityCommand).resolves({});
    this.sqsMock.on(loaded.sqs.SendMessageCommand).callsFake(() => ({ MessageId: randomUUID() }));
    this.sqsMock.on(loaded.sqs.SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      if (this.failBatchesAfter-- <= 0) throw Object.assign(new Error('We encountered an internal error'), { name: 'InternalError' });
      expect(input.QueueUrl).toBe(QUEUE_URL);
      for (const e of input.Entries ?? []) this.followUps.push(e.MessageBody!);
      return { Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id, MessageId: randomUUID(), MD5OfMessageBody: 'md5' })), Failed: [] };
    });
  }

  public run(...batch: SQSRecord[]): Promise<SQSBatchResponse> {
    return this.loaded.handler(sqsEvent(...batch), lambdaContext());
  }

  /** Runs bodies in batches of 10, as the event source mapping hands them over; every batch must succeed. */
  public async runAll(bodies: readonly string[], receiveCount = 1): Promise<void> {
    for (let i = 0; i < bodies.length; i += 10) {
      const result = await this.run(...bodies.slice(i, i + 10).map((body) => sqsRecord({ body, receiveCount })));
      expect(result.batchItemFailures).toEqual([]);
    }
  }

  public takeFollowUps(): string[] {
    return this.followUps.splice(0);
  }

  public sendBatchCalls(): number {
    return this.sqsMock.commandCalls(this.loaded.sqs.SendMessageBatchCommand).length;
  }
}

/** `count` enabled webhook subscriptions to `eventType`, written straight to the table (the API's limit is per key). */
async function subscribe(eventType: string, receiver: Receiver, count: number): Promise<Map<string, Subscription>> {
  const at = new Date().toISOString();
  const subscriptions = Array.from({ length: count }, (_, i): Subscription => {
    const subscriptionId = newId('sub');
    return {
      subscriptionId,
      ownerKeyId: `key-${i % 10}`,
      eventType,
      severityFilter: 'LOW',
      channel: 'WEBHOOK',
      target: `${receiver.url}/hooks/${subscriptionId}`,
      secret: newWebhookSecret(),
      enabled: true,
      createdAt: at,
      updatedAt: at,
    };
  });
  for (let i = 0; i < count; i += 25) {
    await dynamo.documentClient.send(new BatchWriteCommand({
      RequestItems: { [dynamo.tableNames.subscriptions]: subscriptions.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
    }));
  }
  return new Map(subscriptions.map((s) => [s.subscriptionId, s]));
}

function eventMessage(eventType: string): { eventId: string; body: string } {
  const eventId = newId('evt');
  const eventJson = JSON.stringify({ eventType, severity: 'HIGH', title: 'Release 7 is out', details: { build: 7 } });
  return { eventId, body: JSON.stringify({ v: 2, eventId, receivedAt: new Date().toISOString(), source: 'api', publisherKeyId: 'key-0', eventJson }) };
}

async function records(eventId: string): Promise<NotificationRecord[]> {
  const items: NotificationRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.documentClient.send(new QueryCommand({
      TableName: dynamo.tableNames.notifications,
      KeyConditionExpression: 'eventId = :id',
      ExpressionAttributeValues: { ':id': eventId },
      ConsistentRead: true,
      ExclusiveStartKey: start,
    }));
    items.push(...((page.Items ?? []) as NotificationRecord[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * What the receiver got: requests per webhook-id, each verified with the public Standard
 * Webhooks library against its subscription's secret and checked to be this event.
 */
function received(receiver: Receiver, subscriptions: Map<string, Subscription>, eventId: string): Map<string, number> {
  const perId = new Map<string, number>();
  for (const request of receiver.requests) {
    const subscription = subscriptions.get(request.path.split('/').pop()!);
    if (!subscription) throw new Error(`a request to ${request.path}, which no subscription of this test names`);
    const headers = request.headers as Record<string, string>;
    const payload = new Webhook(subscription.secret!).verify(request.body, headers) as { data: { eventId: string } };
    expect(payload.data.eventId).toBe(eventId);
    const id = String(request.headers['webhook-id']);
    perId.set(id, (perId.get(id) ?? 0) + 1);
  }
  return perId;
}

let counter = 0;
const namespace = () => `fanout${++counter}.release.published`;

beforeAll(async () => {
  dynamo = await startDynamo();
  proxy = new CountingProxy('dynamodb', dynamo.endpoint);
  const proxied = await proxy.start();
  // The handler's DynamoDB requests go through the counting proxy.
  dynamo = { ...dynamo, endpoint: proxied };
});

afterAll(async () => {
  await receivers.closeAll();
  await proxy.stop();
  await dynamo.stop();
});

describe('a fan-out to 1,000 subscriptions through the processor handler', () => {
  let standard: Processor;
  beforeAll(() => {
    standard = new Processor(loadProcessorHandler(processorEnv()));
  });
  afterAll(() => standard.sqsMock.restore());

  test('split into 14 follow-ups of ≤ 75, each subscription delivered exactly once by webhook-id, with counted requests', async () => {
    const type = namespace();
    const receiver = await receivers.start();
    const subscriptions = await subscribe(type, receiver, K);
    const { eventId, body } = eventMessage(type);
    proxy.reset();

    await standard.runAll([body]);
    const followUps = standard.takeFollowUps();
    const parts = followUps.map((b) => JSON.parse(b).fanOut);
    expect(parts.map((p) => p.subscriptionIds.length)).toEqual([...Array(6).fill(72), ...Array(8).fill(71)]);
    expect(new Set(parts.flatMap((p) => p.subscriptionIds))).toEqual(new Set(subscriptions.keys()));
    expect(receiver.requests).toHaveLength(0); // the event's own message delivers nothing
    const afterSplit = proxy.snapshot();
    // Matching: one Query per candidate pattern (fanoutN.release.published, *, fanoutN.*, fanoutN.release.*), each one page; the event stored once.
    expect(afterSplit).toEqual({ PutItem: 1, Query: 4 });
    expect(standard.sendBatchCalls()).toBe(2); // 14 follow-ups, 10 per SendMessageBatch

    await standard.runAll(followUps);
    const perId = received(receiver, subscriptions, eventId);
    expect(perId.size).toBe(K);
    expect([...perId.values()].filter((n) => n !== 1)).toEqual([]);
    const stored = await records(eventId);
    expect(stored).toHaveLength(K);
    expect(stored.filter((r) => r.status === 'DELIVERED' && perId.has(r.notificationId))).toHaveLength(K);
    // Each follow-up: its part's subscriptions by id (one BatchGetItem), a PutItem that finds the
    // event stored, one Query of its records' key range, and its records in BatchWriteItem requests
    // of 25 (72 or 71 → 3). Nothing depends on a warm cache or on how many subscriptions the pattern holds.
    expect(proxy.snapshot()).toEqual({ PutItem: 1 + 14, Query: 4 + 14, BatchGetItem: 14, BatchWriteItem: 14 * 3 });
    const requests = Object.values(proxy.snapshot()).reduce((a, b) => a + b, 0) + standard.sendBatchCalls();
    expect(requests / K).toBeLessThan(0.1);
  });

  test('follow-ups received twice, and the event\'s message received again after a crash before its deletion, send nothing twice', async () => {
    const type = namespace();
    const receiver = await receivers.start();
    const subscriptions = await subscribe(type, receiver, K);
    const { eventId, body } = eventMessage(type);

    await standard.runAll([body]);
    const followUps = standard.takeFollowUps();
    await standard.runAll(followUps);
    await standard.runAll(followUps, 2); // every follow-up a second time
    await standard.runAll([body], 2); // the event's message again: it was not deleted
    const again = standard.takeFollowUps();
    expect(again).toEqual(followUps); // the same parts, so the same follow-ups
    await standard.runAll(again);

    const perId = received(receiver, subscriptions, eventId);
    expect(perId.size).toBe(K);
    expect(receiver.requests).toHaveLength(K);
  });

  test('a crash mid-split (SQS fails after the first 10 follow-ups) loses nothing: the message fails, comes back and is split again', async () => {
    const type = namespace();
    const receiver = await receivers.start();
    const subscriptions = await subscribe(type, receiver, K);
    const { eventId, body } = eventMessage(type);

    standard.failBatchesAfter = 1;
    const parent = sqsRecord({ body });
    expect(await standard.run(parent)).toEqual({ batchItemFailures: [{ itemIdentifier: parent.messageId }] });
    const sent = standard.takeFollowUps();
    expect(sent).toHaveLength(10);
    await standard.runAll(sent); // delivered meanwhile
    expect(receiver.requests.length).toBeGreaterThan(700);

    standard.failBatchesAfter = Number.POSITIVE_INFINITY;
    await standard.runAll([body], 2);
    const resent = standard.takeFollowUps();
    expect(resent).toHaveLength(14);
    await standard.runAll(resent);
    const perId = received(receiver, subscriptions, eventId);
    expect(perId.size).toBe(K);
    expect([...perId.values()].filter((n) => n !== 1)).toEqual([]);
  });
});

describe('FIFO: the event\'s own message keeps the whole fan-out (ordering)', () => {
  test('1,000 subscriptions delivered from one message, nothing sent to the events queue', async () => {
    const fifo = new Processor(loadProcessorHandler(processorEnv({ QUEUE_FIFO: 'true', QUEUE_URL: `${QUEUE_URL}.fifo`, DEAD_LETTER_QUEUE_URL: `${DLQ_URL}.fifo` })));
    try {
      const type = namespace();
      const receiver = await receivers.start();
      const subscriptions = await subscribe(type, receiver, K);
      const { eventId, body } = eventMessage(type);
      proxy.reset();
      const result = await fifo.run(sqsRecord({ body, messageGroupId: type }));
      expect(result.batchItemFailures).toEqual([]);
      expect(fifo.sendBatchCalls()).toBe(0);
      const perId = received(receiver, subscriptions, eventId);
      expect(perId.size).toBe(K);
      expect(receiver.requests).toHaveLength(K);
      expect(proxy.snapshot()).toEqual({ PutItem: 1, Query: 4, BatchWriteItem: K / 25 });
    } finally {
      fifo.sqsMock.restore();
    }
  });
});
