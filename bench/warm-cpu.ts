import { newId } from '../lambda/core/ids';
import { IngestService } from '../lambda/core/ingest';
import { SubscriptionIndex, SubscriptionMatcher } from '../lambda/core/matching';
import { NotificationRecord } from '../lambda/core/notification';
import { EventProcessor } from '../lambda/core/processor';
import { QueuedEvent, queueMessageBody, QueueRecord } from '../lambda/core/queue-message';
import { StoredEvent } from '../lambda/core/stored-event';
import { Subscription } from '../lambda/core/subscription';

/** CPU microseconds per call of `work`, after a warm-up, measured with process.cpuUsage. */
async function cpuMicros(iterations: number, work: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, iterations); i++) await work(-1 - i);
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await work(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / iterations;
}

const EVENT_BODY = JSON.stringify({
  eventType: 'deploy.finished',
  severity: 'HIGH',
  title: 'Deploy 4711 of billing finished',
  details: { service: 'billing', version: 'v42', region: 'eu-west-1', commit: '4f1c2a9e', durationSeconds: 312 },
});

/** The ingest path per request (parse, validate, id, queue message) with an in-memory queue. */
export async function ingestMicrosPerRequest(iterations: number): Promise<number> {
  const service = new IngestService({
    queue: { send: async (messages) => messages.map(() => ({ ok: true as const })) },
    idempotency: {
      claim: async () => ({ status: 'claimed' as const }),
      read: async () => undefined,
      takeOver: async () => false,
      markEnqueued: async () => undefined,
      release: async () => undefined,
    },
  }, { maxEventSizeBytes: 256 * 1024 });
  const request = {
    method: 'POST',
    route: '/events',
    pathParameters: {},
    queryParameters: {},
    headers: { 'content-type': 'application/json' },
    body: EVENT_BODY,
    callerKeyId: 'bench-key',
  };
  return cpuMicros(iterations, () => service.publishOne(request));
}

/** The processor per event with k matching webhook subscriptions, signing included, I/O in memory. */
export async function processorMicrosPerEvent(subscriptions: number, iterations: number): Promise<number> {
  const subs: Subscription[] = Array.from({ length: subscriptions }, (_, i) => ({
    subscriptionId: newId('sub'),
    ownerKeyId: 'bench',
    eventType: 'deploy.finished',
    severityFilter: 'LOW',
    channel: 'WEBHOOK',
    target: `https://receiver-${i}.example.com/hook`,
    secret: 'whsec_' + Buffer.alloc(32, i + 1).toString('base64'),
    enabled: true,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  }));
  const index: SubscriptionIndex = { byPattern: async (p) => subs.filter((s) => s.eventType === p) };
  const events = new Map<string, StoredEvent>();
  const records: NotificationRecord[] = [];
  let healthWrites = 0;
  const processor = new EventProcessor({
    events: {
      putIfAbsent: async (e) => { events.set(e.eventId, e); return true; },
      putRejected: async () => undefined,
      get: async (id) => events.get(id),
    },
    notifications: { list: async () => [], saveAll: async (r) => { records.length = 0; records.push(...r); } },
    matcher: new SubscriptionMatcher(index, 60_000),
    schemas: { validate: () => [] },
    webhooks: { post: async () => ({ status: 200 }) },
    queue: { retryLater: async () => undefined, deadLetter: async () => undefined },
    pauser: { disable: async () => undefined },
    // As deployed: endpoint health tracked (a healthy endpoint never writes it).
    health: { apply: async () => { healthWrites++; return undefined; }, disable: async () => false },
    metrics: { count: () => undefined },
    log: { info: () => undefined, warn: () => undefined },
  }, { retryScheduleSeconds: [0, 5, 300], webhookTimeoutMs: 15_000, retentionSeconds: 86400, maxConcurrentDeliveries: 25 });
  const event = JSON.parse(EVENT_BODY);
  const record = (): QueueRecord => {
    const message: QueuedEvent = { eventId: newId('evt'), receivedAt: new Date().toISOString(), source: 'api', eventJson: EVENT_BODY, event };
    return { messageId: message.eventId, body: queueMessageBody(message), receiveCount: 1, receiptHandle: 'r', sentTimestampMs: Date.now() };
  };
  const micros = await cpuMicros(iterations, () => processor.process(record()));
  if (records.length !== subscriptions || records.some((r) => r.status !== 'DELIVERED')) throw new Error('processor benchmark did not deliver');
  if (healthWrites > 0) throw new Error(`healthy endpoints wrote their health ${healthWrites} times`);
  return micros;
}
