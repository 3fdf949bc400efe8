import { WebhookRequest, WebhookResponse, WebhookTransport } from '../../../lambda/core/channels/webhook';
import { deliveryStatus } from '../../../lambda/core/events-query';
import { newId } from '../../../lambda/core/ids';
import { SubscriptionIndex, SubscriptionMatcher } from '../../../lambda/core/matching';
import { NotificationRecord, NotificationStore } from '../../../lambda/core/notification';
import { EventProcessor, QueueControl, RetryLaterError } from '../../../lambda/core/processor';
import { QueueRecord } from '../../../lambda/core/queue-message';
import { EventStore, StoredEvent } from '../../../lambda/core/stored-event';
import { Subscription } from '../../../lambda/core/subscription';

/** In-memory ports: the processor's round logic without I/O. */
class Fakes {
  public readonly events = new Map<string, StoredEvent>();
  public readonly records = new Map<string, NotificationRecord>();
  public subscriptions: Subscription[] = [];
  public readonly calls: WebhookRequest[] = [];
  public readonly retries: number[] = [];
  public readonly deadLetters: string[] = [];
  public nowMs = Date.parse('2026-11-23T12:00:00Z');
  public answer: (request: WebhookRequest) => WebhookResponse = () => ({ status: 200 });

  public processor(deadlineOffsetMs?: number, concurrency = 5): { run: (record: QueueRecord) => Promise<'done' | 'retry'> } {
    const eventStore: EventStore = {
      putIfAbsent: async (e) => (this.events.has(e.eventId) ? false : (this.events.set(e.eventId, e), true)),
      putRejected: async (e) => { this.events.set(e.eventId, e); },
      get: async (id) => this.events.get(id),
    };
    const notifications: NotificationStore = {
      list: async (eventId) => [...this.records.values()].filter((r) => r.eventId === eventId),
      saveAll: async (records) => { for (const r of records) this.records.set(`${r.eventId}/${r.subscriptionId}`, r); },
    };
    const index: SubscriptionIndex = { byPattern: async (p) => this.subscriptions.filter((s) => s.eventType === p) };
    const webhooks: WebhookTransport = { post: async (request) => { this.calls.push(request); return this.answer(request); } };
    const queue: QueueControl = {
      retryLater: async (_handle, delay) => { this.retries.push(delay); },
      deadLetter: async (_body, reason) => { this.deadLetters.push(reason); },
    };
    const processor = new EventProcessor({
      events: eventStore,
      notifications,
      matcher: new SubscriptionMatcher(index, 0, () => this.nowMs),
      schemas: { validate: () => [] },
      webhooks,
      queue,
      pauser: { disable: async () => undefined },
      metrics: { count: () => undefined },
      log: { info: () => undefined, warn: () => undefined },
      now: () => this.nowMs,
      random: () => 0.5,
    }, { retryScheduleSeconds: [0, 10, 100, 1000], webhookTimeoutMs: 1000, retentionSeconds: 86400, maxConcurrentDeliveries: concurrency });
    return {
      run: async (record) => {
        try {
          await processor.process(record, deadlineOffsetMs === undefined ? undefined : this.nowMs + deadlineOffsetMs);
          return 'done';
        } catch (error) {
          if (error instanceof RetryLaterError) return 'retry';
          throw error;
        }
      },
    };
  }

  public subscribe(id: number, eventType = 'deploy.finished'): Subscription {
    const s: Subscription = {
      subscriptionId: `sub_${String(id).padStart(26, '0')}`,
      ownerKeyId: 'key',
      eventType,
      severityFilter: 'LOW',
      channel: 'WEBHOOK',
      target: `https://receiver-${id}.example.com/hook`,
      secret: 'whsec_' + Buffer.alloc(32, id).toString('base64'),
      enabled: true,
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
    };
    this.subscriptions.push(s);
    return s;
  }
}

function message(receiveCount = 1): QueueRecord {
  return {
    messageId: 'm-1',
    body: JSON.stringify({
      v: 1,
      eventId: EVENT_ID,
      receivedAt: '2026-11-23T12:00:00.000Z',
      source: 'api',
      event: { eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy finished' },
    }),
    receiveCount,
    receiptHandle: `handle-${receiveCount}`,
    sentTimestampMs: Date.parse('2026-11-23T12:00:00Z'),
  };
}

const EVENT_ID = newId('evt');

describe('processor rounds', () => {
  test('every pending notification is retried in the same round, so receives stay one per schedule step', async () => {
    const f = new Fakes();
    f.subscribe(1);
    f.subscribe(2);
    // Receiver 1 asks for a long pause; receiver 2 plainly fails.
    f.answer = (request) => (request.url.includes('receiver-1') ? { status: 429, retryAfter: '60' } : { status: 500 });
    const p = f.processor();
    const outcomes: string[] = [];
    for (let receive = 1; receive <= 4; receive++) {
      outcomes.push(await p.run(message(receive)));
      f.nowMs += (f.retries[f.retries.length - 1] ?? 0) * 1000;
    }
    expect(outcomes).toEqual(['retry', 'retry', 'retry', 'done']);
    // Each receive attempted both: 4 receives, 8 requests, and the schedule (4 steps) is used up.
    expect(f.calls).toHaveLength(8);
    // The wake-up is the latest anyone asked for: Retry-After 60 s (capped at the step after next, 100 s).
    expect(f.retries[0]).toBe(60);
    expect([...f.records.values()].map((r) => r.status)).toEqual(['FAILED', 'FAILED']);
    expect(f.deadLetters).toHaveLength(1);
  });

  test('a pending notification whose subscription was deleted meanwhile is SKIPPED and releases the message', async () => {
    const f = new Fakes();
    f.subscribe(1);
    const gone = f.subscribe(2);
    f.answer = (request) => (request.url.includes('receiver-2') ? { status: 500 } : { status: 200 });
    const p = f.processor();
    expect(await p.run(message(1))).toBe('retry');
    f.subscriptions = f.subscriptions.filter((s) => s !== gone);
    f.nowMs += 10_000;
    expect(await p.run(message(2))).toBe('done');
    const statuses = Object.fromEntries([...f.records.values()].map((r) => [r.subscriptionId, r.status]));
    expect(statuses).toEqual({ [f.subscriptions[0].subscriptionId]: 'DELIVERED', [gone.subscriptionId]: 'SKIPPED' });
    expect(f.calls).toHaveLength(2);
  });

  test('near the time limit no delivery starts; the rest wait for the next round instead of being cut off', async () => {
    const f = new Fakes();
    for (let i = 1; i <= 6; i++) f.subscribe(i);
    // 3.5 s left: less than one webhook time-out (1 s) plus the 3 s margin after the first wave.
    let clock = 0;
    f.answer = () => { clock++; f.nowMs += 600; return { status: 200 }; };
    const p = f.processor(4_500, 2);
    expect(await p.run(message(1))).toBe('retry');
    const first = f.calls.length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(6);
    expect(f.retries).toEqual([1]);
    // Next receive (plenty of time): only the ones not yet delivered are sent.
    const next = f.processor();
    expect(await next.run(message(2))).toBe('done');
    expect(f.calls).toHaveLength(6);
    expect(new Set(f.calls.map((c) => c.url)).size).toBe(6);
    expect(clock).toBe(6);
  });
});

describe('deliveryStatus', () => {
  const record = (status: NotificationRecord['status']): NotificationRecord => ({
    eventId: EVENT_ID, subscriptionId: `sub_${status}`, notificationId: 'ntf_x', channel: 'WEBHOOK', status, attempts: [], expiresAt: 0,
  });

  test('an event that matched nothing is NO_MATCHING_SUBSCRIPTIONS; one whose records are not written yet is IN_PROGRESS', () => {
    expect(deliveryStatus([], 0)).toBe('NO_MATCHING_SUBSCRIPTIONS');
    expect(deliveryStatus([], 2)).toBe('IN_PROGRESS');
    expect(deliveryStatus([], undefined)).toBe('IN_PROGRESS');
    expect(deliveryStatus([record('DELIVERED')], 2)).toBe('IN_PROGRESS');
    expect(deliveryStatus([record('DELIVERED'), record('PENDING')], 2)).toBe('IN_PROGRESS');
    expect(deliveryStatus([record('DELIVERED'), record('FAILED')], 2)).toBe('PARTIALLY_FAILED');
    expect(deliveryStatus([record('DELIVERED'), record('SKIPPED')], 2)).toBe('COMPLETED');
  });

  test('the stored event records how many subscriptions it matched', async () => {
    const f = new Fakes();
    f.subscribe(1);
    f.subscribe(2);
    f.subscribe(3, 'other.type');
    await f.processor().run(message(1));
    expect(f.events.get(EVENT_ID)?.matchedSubscriptions).toBe(2);
  });
});
