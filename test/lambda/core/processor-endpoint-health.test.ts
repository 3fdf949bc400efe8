import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoEndpointHealthStore } from '../../../lambda/adapters/dynamo-endpoint-health-store';
import { DynamoSubscriptionIndex } from '../../../lambda/adapters/dynamo-subscription-index';
import { HttpWebhookTransport } from '../../../lambda/adapters/http-webhook-transport';
import { newWebhookSecret } from '../../../lambda/core/channels/webhook';
import { BreakerPolicy, HealthOp } from '../../../lambda/core/endpoint-health';
import { EndpointHealthStore } from '../../../lambda/core/endpoint-health-tracker';
import { newId } from '../../../lambda/core/ids';
import { SubscriptionMatcher } from '../../../lambda/core/matching';
import { NotificationRecord } from '../../../lambda/core/notification';
import { EventProcessor, ProcessorMetrics, RetryLaterError } from '../../../lambda/core/processor';
import { queueMessageBody, QueueRecord } from '../../../lambda/core/queue-message';
import { StoredEvent } from '../../../lambda/core/stored-event';
import { Subscription } from '../../../lambda/core/subscription';
import { LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { Receiver, ReceiverPool } from '../../helpers/receivers';

/**
 * The processor with endpoint health (docs/architecture.md "Endpoint health"): real receivers,
 * the real HTTP transport, and the health kept on subscription items in DynamoDB (dynalite),
 * read through the matcher's own Query, shared by processor instances. Requests are counted
 * at the receivers; nothing here is timed.
 */

// Cool-downs of seconds, so a slow machine still does its work inside one.
const BREAKER: BreakerPolicy = { failureThreshold: 3, baseCooldownSeconds: 2, maxCooldownSeconds: 8 };
const TIMEOUT_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dynamo: LocalDynamo;
const receivers = new ReceiverPool();
const transport = new HttpWebhookTransport({ allowPrivateTargets: true });
let counter = 0;

beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => {
  transport.close();
  await receivers.closeAll();
  await dynamo.stop();
});

/** Everything the processor instances of one test share: the tables, the queue's effects, what was counted. */
class World {
  public readonly events = new Map<string, StoredEvent>();
  public readonly records = new Map<string, NotificationRecord>();
  public readonly metrics: string[] = [];
  public readonly healthOps: HealthOp[] = [];
  public readonly deadLetters: string[] = [];
  public readonly eventType = `health.t${++counter}`;
  private readonly store = new DynamoEndpointHealthStore(dynamo.documentClient, dynamo.tableNames.subscriptions);

  constructor(private readonly options: { schedule?: number[]; disableAfterSeconds?: number; breaker?: BreakerPolicy } = {}) {}

  /** A processor instance (a Lambda execution environment of its own: its own caches and memory). */
  public processor(): EventProcessor {
    const counting: EndpointHealthStore = {
      apply: (id, op) => {
        this.healthOps.push(op);
        return this.store.apply(id, op);
      },
      disable: (id, change) => this.store.disable(id, change),
    };
    const metrics: ProcessorMetrics = { count: (name, value) => { for (let i = 0; i < value; i++) this.metrics.push(name); } };
    return new EventProcessor({
      events: {
        putIfAbsent: async (e) => (this.events.has(e.eventId) ? false : (this.events.set(e.eventId, e), true)),
        putRejected: async (e) => { this.events.set(e.eventId, e); },
        get: async (id) => this.events.get(id),
      },
      notifications: {
        list: async (eventId) => [...this.records.values()].filter((r) => r.eventId === eventId),
        saveAll: async (records) => { for (const r of records) this.records.set(`${r.eventId}/${r.subscriptionId}`, r); },
      },
      // The subscriptions and their health, as the matcher reads them (TTL 0: fresh for every event).
      matcher: new SubscriptionMatcher(new DynamoSubscriptionIndex(dynamo.documentClient, dynamo.tableNames.subscriptions), 0),
      schemas: { validate: () => [] },
      webhooks: transport,
      queue: { retryLater: async () => undefined, deadLetter: async (_body, reason) => { this.deadLetters.push(reason); } },
      pauser: { disable: async () => undefined },
      health: counting,
      metrics,
      log: { info: () => undefined, warn: () => undefined },
    }, {
      retryScheduleSeconds: this.options.schedule ?? [0, 1, 1, 1, 1, 1, 1, 1],
      webhookTimeoutMs: TIMEOUT_MS,
      retentionSeconds: 86400,
      maxConcurrentDeliveries: 25,
      maxReceiveCount: (this.options.schedule?.length ?? 8) + 5,
      endpointHealth: { disableAfterSeconds: this.options.disableAfterSeconds ?? 3600, breaker: this.options.breaker ?? BREAKER },
    });
  }

  public async subscribe(receiver: Receiver, fields: Partial<Subscription> = {}): Promise<Subscription> {
    const at = new Date().toISOString();
    const subscription: Subscription = {
      subscriptionId: newId('sub'),
      ownerKeyId: 'key-owner',
      eventType: this.eventType,
      severityFilter: 'LOW',
      channel: 'WEBHOOK',
      target: `${receiver.url}/hook`,
      secret: newWebhookSecret(),
      enabled: true,
      createdAt: at,
      updatedAt: at,
      ...fields,
    };
    await dynamo.documentClient.send(new PutCommand({ TableName: dynamo.tableNames.subscriptions, Item: subscription }));
    return subscription;
  }

  public async item(subscriptionId: string): Promise<Record<string, any>> {
    const table = dynamo.tableNames.subscriptions;
    const result = await dynamo.documentClient.send(new GetCommand({ TableName: table, Key: { subscriptionId }, ConsistentRead: true }));
    return result.Item!;
  }

  public message(): QueueRecord {
    const eventId = newId('evt');
    const body = queueMessageBody({
      eventId,
      receivedAt: new Date().toISOString(),
      source: 'api',
      publisherKeyId: 'key-publisher',
      eventJson: JSON.stringify({ eventType: this.eventType, severity: 'HIGH', title: 'Deploy finished' }),
    });
    return { messageId: eventId, body, receiveCount: 1, receiptHandle: eventId, sentTimestampMs: Date.now() };
  }

  /** The records as one batch of one processor instance: all at once. 'retry' when the record waits for a later round. */
  public async batch(processor: EventProcessor, records: QueueRecord[]): Promise<('done' | 'retry')[]> {
    return Promise.all(records.map(async (r) => {
      try {
        await processor.process(r);
        return 'done' as const;
      } catch (error) {
        if (error instanceof RetryLaterError) return 'retry' as const;
        throw error;
      }
    }));
  }

  public record(message: QueueRecord, subscriptionId: string): NotificationRecord {
    return this.records.get(`${message.messageId}/${subscriptionId}`)!;
  }
}

const again = (r: QueueRecord): QueueRecord => ({ ...r, receiveCount: r.receiveCount + 1 });
const untilTime = async (iso: string) => sleep(Math.max(0, Date.parse(iso) - Date.now()) + 50);

afterEach(async () => {
  await receivers.closeAll();
});

describe('circuit breaker', () => {
  test('a failing endpoint: opens after 3 failures, no request while open, exactly one probe, reopened for longer; a good probe closes it', async () => {
    const world = new World();
    const failing = await receivers.start({ responder: () => ({ status: 500 }) });
    const sub = await world.subscribe(failing);
    const a = world.processor();

    const first = [world.message(), world.message(), world.message()];
    for (const m of first) expect(await world.batch(a, [m])).toEqual(['retry']);
    expect(failing.requests).toHaveLength(3);
    const opened = await world.item(sub.subscriptionId);
    expect(opened).toMatchObject({
      healthFailures: 3, healthCooldownSeconds: 2, healthOpenUntil: expect.any(String), healthFailingSince: expect.any(String),
    });

    // Open: four more events, no request; each notification waits for the breaker.
    const held = [world.message(), world.message(), world.message(), world.message()];
    expect(await world.batch(a, held)).toEqual(['retry', 'retry', 'retry', 'retry']);
    expect(failing.requests).toHaveLength(3);
    for (const m of held) {
      const record = world.record(m, sub.subscriptionId);
      expect(record.status).toBe('PENDING');
      expect(record.attempts).toEqual([expect.objectContaining({ outcome: 'FAILED', latencyMs: 0, error: expect.stringMatching(/^not sent: .*circuit breaker is open/) })]);
      expect(Date.parse(record.nextAttemptAt!)).toBeGreaterThanOrEqual(Date.parse(opened.healthOpenUntil));
    }
    expect(world.metrics.filter((m) => m === 'DeliveriesDeferred')).toHaveLength(4);

    // Half-open: two instances take the four events at once; one request decides.
    await untilTime(opened.healthOpenUntil);
    const b = world.processor();
    await Promise.all([world.batch(a, held.slice(0, 2).map(again)), world.batch(b, held.slice(2).map(again))]);
    expect(failing.requests).toHaveLength(4);
    const reopened = await world.item(sub.subscriptionId);
    expect(reopened).toMatchObject({ healthFailures: 4, healthCooldownSeconds: 4 });
    expect(reopened).not.toHaveProperty('healthProbeUntil');
    expect(Date.parse(reopened.healthOpenUntil)).toBeGreaterThan(Date.parse(opened.healthOpenUntil));

    // The endpoint is back: the next probe succeeds and closes the breaker; deliveries flow again.
    failing.respond(() => ({ status: 204 }));
    await untilTime(reopened.healthOpenUntil);
    const probeRound = world.message();
    expect(await world.batch(a, [probeRound])).toEqual(['done']);
    expect(failing.requests).toHaveLength(5);
    const closed = await world.item(sub.subscriptionId);
    expect(closed).toMatchObject({ healthFailures: 0 });
    for (const name of ['healthOpenUntil', 'healthProbeUntil', 'healthCooldownSeconds', 'healthFailingSince']) expect(closed).not.toHaveProperty(name);
    expect(await world.batch(b, [world.message(), world.message()])).toEqual(['done', 'done']);
    expect(failing.requests).toHaveLength(7);
  }, 30_000);

  test('a hanging endpoint and a healthy one in the same batch: the healthy one gets all ten, the hanging one at most three at a time until its breaker opens', async () => {
    const world = new World();
    const hanging = await receivers.start({ responder: () => 'hang' });
    const healthy = await receivers.start();
    const stuck = await world.subscribe(hanging);
    const fine = await world.subscribe(healthy);
    const batch = Array.from({ length: 10 }, () => world.message());

    expect(await world.batch(world.processor(), batch)).toEqual(Array(10).fill('retry'));
    expect(healthy.requests).toHaveLength(10);
    // No more requests in flight to one endpoint than it takes to open its breaker; each one
    // waiting for a slot goes only while the breaker is still closed (fewer than 3 failures).
    expect(hanging.maxInFlight).toBe(3);
    const sent = hanging.requests.length;
    expect(sent).toBeGreaterThanOrEqual(3);
    expect(sent).toBeLessThanOrEqual(5);
    const records = batch.map((m) => world.record(m, stuck.subscriptionId));
    expect(records.filter((r) => r.attempts[0].error?.startsWith('TimeoutError'))).toHaveLength(sent);
    expect(records.filter((r) => r.attempts[0].error?.startsWith('not sent:'))).toHaveLength(10 - sent);
    expect((await world.item(stuck.subscriptionId)).healthOpenUntil).toEqual(expect.any(String));
    expect(batch.map((m) => world.record(m, fine.subscriptionId).status)).toEqual(Array(10).fill('DELIVERED'));
  }, 30_000);

  test('two processor instances share one breaker: failures add up, both hold back while open, one probe between them', async () => {
    const world = new World();
    const failing = await receivers.start({ responder: () => ({ status: 503 }) });
    const sub = await world.subscribe(failing);
    const [a, b] = [world.processor(), world.processor()];

    await world.batch(a, [world.message()]);
    await world.batch(b, [world.message()]);
    await world.batch(a, [world.message()]);
    expect(failing.requests).toHaveLength(3);
    const opened = await world.item(sub.subscriptionId);
    expect(opened.healthOpenUntil).toEqual(expect.any(String));

    await Promise.all([world.batch(a, [world.message(), world.message()]), world.batch(b, [world.message(), world.message()])]);
    expect(failing.requests).toHaveLength(3);

    await untilTime(opened.healthOpenUntil);
    await Promise.all([world.batch(a, [world.message(), world.message()]), world.batch(b, [world.message(), world.message()])]);
    expect(failing.requests).toHaveLength(4);
    expect(world.healthOps.filter((op) => op.kind === 'claim-probe').length).toBeGreaterThanOrEqual(1);
    expect(await world.item(sub.subscriptionId)).toMatchObject({ healthCooldownSeconds: 4 });
  }, 30_000);

  test('a healthy endpoint costs no health write, however many deliveries', async () => {
    const world = new World();
    const healthy = await receivers.start();
    const sub = await world.subscribe(healthy);
    const a = world.processor();
    for (let i = 0; i < 4; i++) await world.batch(a, Array.from({ length: 5 }, () => world.message()));
    expect(healthy.requests).toHaveLength(20);
    expect(world.healthOps).toEqual([]);
    expect(Object.keys(await world.item(sub.subscriptionId)).filter((k) => k.startsWith('health'))).toEqual([]);
  });

  test('the schedule\'s last attempt is never replaced by a deferral; the last receive still ends the notification', async () => {
    const world = new World({ schedule: [0, 1] });
    const receiver = await receivers.start();
    const openUntil = new Date(Date.now() + 3_600_000).toISOString();
    const sub = await world.subscribe(receiver, {
      healthFailures: 5, healthFailingSince: new Date().toISOString(), healthOpenUntil: openUntil, healthCooldownSeconds: 900, healthAt: Date.now(),
    });
    const a = world.processor();
    let m = world.message();

    // Receive 1: the first attempt's place is taken, the next waits for the breaker.
    expect(await world.batch(a, [m])).toEqual(['retry']);
    let record = world.record(m, sub.subscriptionId);
    expect(record).toMatchObject({ status: 'PENDING', nextAttemptAt: openUntil });
    expect(record.attempts).toHaveLength(1);

    // Receive 2: the last attempt is not taken; it still waits.
    m = again(m);
    expect(await world.batch(a, [m])).toEqual(['retry']);
    record = world.record(m, sub.subscriptionId);
    expect(record).toMatchObject({ status: 'PENDING', nextAttemptAt: openUntil });
    expect(record.attempts).toHaveLength(1);

    // The queue's last receive (schedule + 5): closed, with the reason, dead-lettered.
    m = { ...m, receiveCount: 7 };
    expect(await world.batch(a, [m])).toEqual(['done']);
    record = world.record(m, sub.subscriptionId);
    expect(record.status).toBe('FAILED');
    expect(record.reason).toMatch(/^retries exhausted: .*last error: not sent: /);
    expect(world.deadLetters).toHaveLength(1);
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('disableAfter', () => {
  test('every delivery failed for disableAfter: disabled once, with the reason; it no longer matches, its pending notifications end SKIPPED', async () => {
    const world = new World({ disableAfterSeconds: 1, breaker: { ...BREAKER, failureThreshold: 100 } });
    const refusing = await receivers.start({ responder: () => ({ status: 404 }) });
    const sub = await world.subscribe(refusing);
    const [a, b] = [world.processor(), world.processor()];

    const first = world.message();
    await world.batch(a, [first]);
    await sleep(1100);
    const second = [world.message(), world.message()];
    await Promise.all([world.batch(a, [second[0]]), world.batch(b, [second[1]])]);
    expect(world.metrics.filter((m) => m === 'SubscriptionsDisabled')).toHaveLength(1);
    const item = await world.item(sub.subscriptionId);
    expect(item).toMatchObject({
      enabled: false,
      disabledReason: expect.stringMatching(/^every delivery failed for 1 s \(since .+\); last error: receiver answered 404$/),
      disabledAt: expect.any(String),
    });

    const requests = refusing.requests.length;
    const later = world.message();
    expect(await world.batch(a, [later])).toEqual(['done']);
    expect(world.records.has(`${later.messageId}/${sub.subscriptionId}`)).toBe(false);
    expect(await world.batch(b, [again(first)])).toEqual(['done']);
    expect(world.record(first, sub.subscriptionId).status).toBe('SKIPPED');
    expect(refusing.requests).toHaveLength(requests);

    // Revived (as PATCH enabled: true does): it matches again, with a fresh health record.
    await dynamo.documentClient.send(new UpdateCommand({
      TableName: dynamo.tableNames.subscriptions,
      Key: { subscriptionId: sub.subscriptionId },
      UpdateExpression: 'SET enabled = :true, healthFailures = :zero, healthAt = :at REMOVE healthFailingSince, disabledReason, disabledAt',
      ExpressionAttributeValues: { ':true': true, ':zero': 0, ':at': Date.now() },
    }));
    refusing.respond(() => ({ status: 204 }));
    expect(await world.batch(a, [world.message()])).toEqual(['done']);
    expect(refusing.requests).toHaveLength(requests + 1);
  }, 30_000);
});
