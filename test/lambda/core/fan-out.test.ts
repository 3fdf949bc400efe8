import { Duration } from 'aws-cdk-lib';
import fc from 'fast-check';
import { WebhookRequest, WebhookResponse, WebhookTransport } from '../../../lambda/core/channels/webhook';
import { fanOutSize, splitFanOut } from '../../../lambda/core/fan-out';
import { newId } from '../../../lambda/core/ids';
import { SubscriptionIndex, SubscriptionMatcher } from '../../../lambda/core/matching';
import { NotificationRecord, NotificationStore } from '../../../lambda/core/notification';
import { EventProcessor, QueueControl, RetryLaterError } from '../../../lambda/core/processor';
import { parseQueueMessage, QueuedEvent, queueMessageBody, QueueRecord } from '../../../lambda/core/queue-message';
import { EventQueue } from '../../../lambda/core/queued-event';
import { EventStore, StoredEvent } from '../../../lambda/core/stored-event';
import { Subscription } from '../../../lambda/core/subscription';
import { MAX_FAN_OUT_PART_SIZE } from '../../../src/contract';
import { defaultProcessorTimeout } from '../../../src/functions/sizing';

/** The processor's time limit the construct gives for a webhook timeout (no processorFunctionProps). */
const processorTimeoutSeconds = (webhookTimeoutMs: number) => defaultProcessorTimeout(Duration.millis(webhookTimeoutMs)).toSeconds();
const T0 = Date.parse('2026-11-24T12:00:00Z');
/** `count` subscription ids in creation order (ULIDs: ascending), as the service makes them. */
const subscriptionIds = (count: number) => Array.from({ length: count }, (_, i) => newId('sub', T0 - 86_400_000 + i * 1000));

describe('fanOutSize: what one message can attempt in one invocation when every receiver hangs', () => {
  const size = (webhookTimeoutMs: number, concurrency = 25) => fanOutSize({
    functionTimeoutMs: processorTimeoutSeconds(webhookTimeoutMs) * 1000, webhookTimeoutMs, concurrency,
  });

  test('defaults (webhook timeout 15 s, function 60 s, 25 in flight): 3 waves of 25', () => {
    expect(processorTimeoutSeconds(15_000)).toBe(60);
    expect(size(15_000)).toBe(75);
  });

  test('longer webhook timeouts leave fewer waves; short ones are capped at 100 per message', () => {
    expect(size(60_000)).toBe(50); // 150 s: starts until 82 s → waves at 0 s and 60 s
    expect(size(30_000)).toBe(50);
    expect(size(20_000)).toBe(75);
    expect(size(10_000)).toBe(100);
    expect(size(1_000)).toBe(100);
    expect(size(15_000, 1)).toBe(3);
    expect(size(15_000, 200)).toBe(100);
  });

  test('never below one, even when one request cannot finish in time', () => {
    expect(fanOutSize({ functionTimeoutMs: 5_000, webhookTimeoutMs: 60_000, concurrency: 25 })).toBe(25);
    expect(fanOutSize({ functionTimeoutMs: 5_000, webhookTimeoutMs: 60_000, concurrency: 1 })).toBe(1);
  });
});

describe('splitFanOut', () => {
  test('every id in exactly one part, ascending across parts, parts of at most `size` differing by one at most', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 120 }), fc.integer(), (count, size, seed) => {
      const ids = subscriptionIds(count);
      // Shuffled (the matcher's order is the index's, per pattern) and with a duplicate.
      const shuffled = [...ids].sort((a, b) => ((a.charCodeAt(30) * seed) % 7) - ((b.charCodeAt(30) * seed) % 7));
      const parts = splitFanOut([...shuffled, shuffled[0]], size);
      expect(parts).toHaveLength(Math.ceil(count / size));
      expect(parts.flatMap((p) => p.subscriptionIds)).toEqual([...ids].sort());
      const lengths = parts.map((p) => p.subscriptionIds.length);
      expect(Math.max(...lengths)).toBeLessThanOrEqual(size);
      expect(Math.max(...lengths) - Math.min(...lengths)).toBeLessThanOrEqual(1);
      parts.forEach((p, i) => expect(p).toMatchObject({ part: i, parts: parts.length, total: count }));
    }), { numRuns: 200 });
  });

  test('1,000 subscriptions in parts of 75: 14 parts of 71 or 72', () => {
    const parts = splitFanOut(subscriptionIds(1000), 75);
    expect(parts.map((p) => p.subscriptionIds.length)).toEqual([...Array(6).fill(72), ...Array(8).fill(71)]);
  });

  test('a follow-up message round-trips through the queue body with its part', () => {
    const [part] = splitFanOut(subscriptionIds(10), 4);
    const text = {
      eventId: newId('evt', T0),
      receivedAt: new Date(T0).toISOString(),
      source: 'api',
      publisherKeyId: 'key-1',
      eventJson: '{"eventType":"a.b","severity":"HIGH","title":"t","details":{"n":18446744073709551615}}',
      fanOut: part,
    };
    const parsed = parseQueueMessage(record(queueMessageBody(text, { redrive: true })));
    expect(parsed).toMatchObject({ ok: true, redrive: true, message: { ...text, fanOut: part } });
  });
});

describe('a follow-up\'s subscriptions: read by id, judged like any match', () => {
  test('paused ones, other types and (API_KEY isolation) other keys\' are left out; no pattern list is read', async () => {
    const f = new Fakes();
    const subs = f.subscribe(6, 'deploy.*');
    const paused = { ...subs[1], enabled: false };
    const otherType = { ...subs[2], eventType: 'billing.*' };
    const otherKey = subs[3]; // key-3
    const byId = new Map([subs[0], paused, otherType, otherKey, subs[4]].map((s) => [s.subscriptionId, s]));
    const reads: string[] = [];
    const index: SubscriptionIndex = {
      byPattern: async (p) => { reads.push(`pattern ${p}`); return []; },
      byIds: async (ids) => { reads.push(`ids ${ids.length}`); return ids.flatMap((id) => byId.get(id) ?? []); },
    };
    const matcher = new SubscriptionMatcher(index, 30_000);
    const part = [...byId.keys(), subs[5].subscriptionId]; // the last one was deleted meanwhile
    const shared = await matcher.match('deploy.finished', 'HIGH', undefined, undefined, part);
    expect(shared.map((s) => s.subscriptionId)).toEqual([subs[0].subscriptionId, otherKey.subscriptionId, subs[4].subscriptionId]);
    const isolated = await matcher.match('deploy.finished', 'HIGH', { ownerKeyId: 'key-0' }, undefined, part);
    expect(isolated.map((s) => s.subscriptionId)).toEqual([subs[0].subscriptionId]);
    expect(reads).toEqual(['ids 6', 'ids 6']);
  });
});

describe('follow-up messages are validated like every message: hostile ones are rejected, never a crash', () => {
  const ids = subscriptionIds(3);
  const body = (fanOut: unknown) => JSON.stringify({
    v: 2,
    eventId: newId('evt', T0),
    receivedAt: new Date(T0).toISOString(),
    source: 'api',
    eventJson: '{"eventType":"a.b","severity":"HIGH","title":"t"}',
    fanOut,
  });

  test.each([
    ['part beyond parts', { part: 2, parts: 2, total: 3, subscriptionIds: ids }, 'fanOut.part'],
    ['a negative part', { part: -1, parts: 2, total: 3, subscriptionIds: ids }, 'fanOut.part'],
    ['a fractional part', { part: 0.5, parts: 2, total: 3, subscriptionIds: ids }, 'fanOut.part'],
    ['a part as a string', { part: '0', parts: 2, total: 3, subscriptionIds: ids }, 'fanOut.part'],
    ['no ids', { part: 0, parts: 1, total: 3, subscriptionIds: [] }, 'fanOut.subscriptionIds'],
    ['ids that are not sub_ ids', { part: 0, parts: 1, total: 3, subscriptionIds: ['sub_x', 'evt_1'] }, 'fanOut.subscriptionIds.0'],
    ['ids out of order', { part: 0, parts: 1, total: 3, subscriptionIds: [ids[1], ids[0]] }, 'fanOut.subscriptionIds'],
    ['a repeated id', { part: 0, parts: 1, total: 3, subscriptionIds: [ids[0], ids[0]] }, 'fanOut.subscriptionIds'],
    ['more ids than total', { part: 0, parts: 1, total: 2, subscriptionIds: ids }, 'fanOut.subscriptionIds'],
    ['too many ids', { part: 0, parts: 1, total: 2000, subscriptionIds: subscriptionIds(MAX_FAN_OUT_PART_SIZE + 1) }, 'fanOut.subscriptionIds'],
    ['absurdly many parts', { part: 0, parts: 1e9, total: 3, subscriptionIds: ids }, 'fanOut.parts'],
    ['null', null, 'fanOut'],
    ['an array', [ids], 'fanOut'],
    ['a string', 'all', 'fanOut'],
  ])('%s', (_name, fanOut, path) => {
    const parsed = parseQueueMessage(record(body(fanOut)));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reasons.some((r) => r.startsWith(`${path}:`))).toBe(true);
  });

  test('any JSON in fanOut: parsed or rejected with reasons, never thrown', () => {
    fc.assert(fc.property(fc.jsonValue(), (fanOut) => {
      const parsed = parseQueueMessage(record(body(fanOut)));
      if (!parsed.ok) expect(parsed.reasons.length).toBeGreaterThan(0);
    }), { numRuns: 300 });
  });
});

/** In-memory ports: the processor's fan-out without I/O, every request counted. */
class Fakes {
  public readonly events = new Map<string, StoredEvent>();
  public readonly records = new Map<string, NotificationRecord>();
  public subscriptions: Subscription[] = [];
  public readonly calls: WebhookRequest[] = [];
  /** Bodies sent to the events queue (follow-ups), in order. */
  public readonly queued: string[] = [];
  public readonly deadLetters: { body: string; reason: string }[] = [];
  public readonly reads = { all: 0, range: 0 };
  public nowMs = T0;
  /** How many more follow-ups the queue takes before it fails the rest (Infinity: all). */
  public queueTakes = Number.POSITIVE_INFINITY;
  public answer: (request: WebhookRequest) => WebhookResponse = () => ({ status: 200 });

  public processor(size = 75, schedule = [0, 10, 100]) {
    const events: EventStore = {
      putIfAbsent: async (e) => (this.events.has(e.eventId) ? false : (this.events.set(e.eventId, e), true)),
      putRejected: async (e) => { this.events.set(e.eventId, e); },
      get: async (id) => this.events.get(id),
    };
    const notifications: NotificationStore = {
      list: async (eventId) => { this.reads.all++; return [...this.records.values()].filter((r) => r.eventId === eventId); },
      saveAll: async (records) => { for (const r of records) this.records.set(`${r.eventId}/${r.subscriptionId}`, r); },
    };
    const index: SubscriptionIndex = { byPattern: async (p) => this.subscriptions.filter((s) => s.eventType === p) };
    const webhooks: WebhookTransport = { post: async (request) => { this.calls.push(request); return this.answer(request); } };
    const queue: QueueControl = {
      retryLater: async () => undefined,
      deadLetter: async (body, reason) => { this.deadLetters.push({ body, reason }); },
    };
    const followUps: EventQueue = {
      send: async (messages: readonly QueuedEvent[], options) => messages.map((m) => {
        if (this.queueTakes <= 0) return { ok: false, reason: 'ServiceUnavailable' };
        this.queueTakes--;
        this.queued.push(queueMessageBody(m, options));
        return { ok: true };
      }),
    };
    const processor = new EventProcessor({
      events,
      notifications,
      partRecords: {
        listBetween: async (eventId, first, last) => {
          this.reads.range++;
          return [...this.records.values()].filter((r) => r.eventId === eventId && r.subscriptionId >= first && r.subscriptionId <= last);
        },
      },
      followUps,
      matcher: new SubscriptionMatcher(index, 0, () => this.nowMs),
      schemas: { validate: () => [] },
      webhooks,
      queue,
      pauser: { disable: async () => undefined },
      metrics: { count: () => undefined },
      log: { info: () => undefined, warn: () => undefined },
      now: () => this.nowMs,
      random: () => 0.5,
    }, {
      retryScheduleSeconds: schedule,
      webhookTimeoutMs: 1000,
      retentionSeconds: 86400,
      maxConcurrentDeliveries: 25,
      fanOutSize: size,
      maxReceiveCount: 10,
    });
    return async (body: string, receiveCount = 1): Promise<'done' | 'retry'> => {
      try {
        await processor.process({ ...record(body), receiveCount });
        return 'done';
      } catch (error) {
        if (error instanceof RetryLaterError) return 'retry';
        throw error;
      }
    };
  }

  public subscribe(count: number, eventType = 'deploy.finished'): Subscription[] {
    const created = subscriptionIds(count).map((subscriptionId, i): Subscription => ({
      subscriptionId,
      ownerKeyId: `key-${i % 10}`,
      eventType,
      severityFilter: 'LOW',
      channel: 'WEBHOOK',
      target: `https://receiver.example.com/hooks/${subscriptionId}`,
      secret: 'whsec_' + Buffer.alloc(32, i % 256).toString('base64'),
      enabled: true,
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
    }));
    this.subscriptions.push(...created);
    return created;
  }

  /** webhook-id → how many requests carried it. */
  public perWebhookId(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const c of this.calls) counts.set(c.headers['webhook-id'], (counts.get(c.headers['webhook-id']) ?? 0) + 1);
    return counts;
  }

  /** Takes the queued follow-ups (emptying the list). */
  public takeQueued(): string[] {
    return this.queued.splice(0);
  }
}

function record(body: string): QueueRecord {
  return { messageId: `m-${Math.random()}`, body, receiveCount: 1, receiptHandle: `h-${Math.random()}`, sentTimestampMs: T0 };
}

function eventBody(eventId = newId('evt', T0), extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    v: 2,
    eventId,
    receivedAt: new Date(T0).toISOString(),
    source: 'api',
    publisherKeyId: 'key-0',
    eventJson: JSON.stringify({ eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy finished' }),
    ...extra,
  });
}

describe('the processor splits a large fan-out into follow-up messages', () => {
  test('1,000 subscriptions: the event is stored with 1,000 matched, 14 follow-ups of ≤ 75 are queued, each delivered exactly once', async () => {
    const f = new Fakes();
    f.subscribe(1000);
    f.subscribe(5, 'other.type');
    const run = f.processor(75);
    const eventId = newId('evt', T0);
    expect(await run(eventBody(eventId))).toBe('done');
    // The event's own message delivers nothing and reads no records.
    expect(f.calls).toHaveLength(0);
    expect(f.reads).toEqual({ all: 0, range: 0 });
    expect(f.events.get(eventId)?.matchedSubscriptions).toBe(1000);
    const followUps = f.takeQueued();
    expect(followUps).toHaveLength(14);
    const parts = followUps.map((b) => JSON.parse(b).fanOut);
    expect(parts.every((p) => p.subscriptionIds.length <= 75 && p.parts === 14 && p.total === 1000)).toBe(true);
    expect(followUps.every((b) => JSON.parse(b).eventId === eventId && JSON.parse(b).redrive === undefined)).toBe(true);

    for (const body of followUps) expect(await run(body)).toBe('done');
    // Every subscription once, under the webhook-id of its (event, subscription) pair.
    const counts = f.perWebhookId();
    expect(counts.size).toBe(1000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(f.calls.map((c) => c.url)).size).toBe(1000);
    expect([...f.records.values()].every((r) => r.status === 'DELIVERED' && counts.has(r.notificationId))).toBe(true);
    // Follow-ups of a new event read only their own key range, once each; nothing splits again.
    expect(f.reads).toEqual({ all: 0, range: 14 });
    expect(f.queued).toHaveLength(0);
  });

  test('up to the part size an event is delivered from its own message, as before', async () => {
    const f = new Fakes();
    f.subscribe(75);
    expect(await f.processor(75)(eventBody())).toBe('done');
    expect(f.queued).toHaveLength(0);
    expect(f.perWebhookId().size).toBe(75);
  });

  test('follow-ups received twice, and all of them again after the event\'s message was redelivered, send nothing twice', async () => {
    const f = new Fakes();
    f.subscribe(300);
    const run = f.processor(50);
    const body = eventBody();
    await run(body);
    const first = f.takeQueued();
    for (const b of first) await run(b);
    for (const b of first) await run(b, 2); // each follow-up a second time
    await run(body, 2); // the event's message again (a crash before it was acknowledged)
    const again = f.takeQueued();
    expect(again).toEqual(first); // the same parts: deterministic for the same subscriptions
    for (const b of again) await run(b);
    expect(f.calls).toHaveLength(300);
    expect([...f.perWebhookId().values()].every((n) => n === 1)).toBe(true);
  });

  test('a crash mid-split (the queue fails after 4 follow-ups) loses nothing: the message stays, is split again, and each subscription gets the event once', async () => {
    const f = new Fakes();
    f.subscribe(1000);
    const run = f.processor(75);
    const body = eventBody();
    f.queueTakes = 4;
    await expect(run(body)).rejects.toThrow(/10 of 14 follow-up messages were not queued \(ServiceUnavailable\)/);
    const sent = f.takeQueued();
    expect(sent).toHaveLength(4);
    for (const b of sent) await run(b); // the four that made it are processed meanwhile
    expect(f.calls).toHaveLength(4 * 72);
    f.queueTakes = Number.POSITIVE_INFINITY;
    expect(await run(body, 2)).toBe('done'); // SQS redelivers the event's message
    const resent = f.takeQueued();
    expect(resent).toHaveLength(14);
    for (const b of resent) await run(b);
    const counts = f.perWebhookId();
    expect(counts.size).toBe(1000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  test('a follow-up retries, skips and dead-letters only its own part; its dead-letter copy is a follow-up that a redrive retries', async () => {
    const f = new Fakes();
    const subs = f.subscribe(150);
    const failing = subs[10].subscriptionId; // in part 0
    const deleted = subs[20].subscriptionId; // in part 0
    f.answer = (r) => (r.url.endsWith(failing) || r.url.endsWith(deleted) ? { status: 500 } : { status: 200 });
    const run = f.processor(50, [0, 10]);
    await run(eventBody());
    const [part0, ...others] = f.takeQueued();
    expect(others).toHaveLength(2);
    expect(await run(part0)).toBe('retry');
    // Part 0's pending records are not the other parts' business: they are done.
    for (const b of others) expect(await run(b)).toBe('done');
    f.subscriptions = f.subscriptions.filter((s) => s.subscriptionId !== deleted);
    f.nowMs += 10_000;
    expect(await run(part0, 2)).toBe('done');
    const statuses = [...f.records.values()].reduce<Record<string, number>>((a, r) => ({ ...a, [r.status]: (a[r.status] ?? 0) + 1 }), {});
    expect(statuses).toEqual({ DELIVERED: 148, FAILED: 1, SKIPPED: 1 });
    expect(f.deadLetters).toHaveLength(1);
    const copy = JSON.parse(f.deadLetters[0].body);
    expect(copy).toMatchObject({ redrive: true, fanOut: JSON.parse(part0).fanOut });
    expect(f.deadLetters[0].reason).toContain(failing);

    // The receiver is fixed; a DLQ redrive moves the copy back: only the failed subscription is tried again.
    f.answer = () => ({ status: 200 });
    const before = f.calls.length;
    expect(await run(f.deadLetters[0].body)).toBe('done');
    expect(f.calls.slice(before).map((c) => c.url)).toEqual([`https://receiver.example.com/hooks/${failing}`]);
    expect(f.records.get(`${JSON.parse(part0).eventId}/${failing}`)?.status).toBe('DELIVERED');
  });

  test('a replayed event (redrive) is split again into redrive follow-ups: only what failed is sent again', async () => {
    const f = new Fakes();
    const subs = f.subscribe(120);
    const failing = subs[100].subscriptionId;
    f.answer = (r) => (r.url.endsWith(failing) ? { status: 500 } : { status: 200 });
    const run = f.processor(40, [0]);
    const eventId = newId('evt', T0);
    await run(eventBody(eventId));
    for (const b of f.takeQueued()) await run(b);
    expect(f.records.get(`${eventId}/${failing}`)?.status).toBe('FAILED');
    f.answer = () => ({ status: 200 });
    const before = f.calls.length;
    await run(eventBody(eventId, { redrive: true }));
    const replayed = f.takeQueued();
    expect(replayed).toHaveLength(3);
    expect(replayed.every((b) => JSON.parse(b).redrive === true)).toBe(true);
    for (const b of replayed) await run(b);
    expect(f.calls.slice(before).map((c) => c.url)).toEqual([`https://receiver.example.com/hooks/${failing}`]);
  });

  test('without the events queue (FIFO) nothing is split: the event\'s own message delivers to all', async () => {
    const f = new Fakes();
    f.subscribe(200);
    // The same processor without follow-ups: the handler passes none for FIFO queues.
    const fifo = new EventProcessor({
      events: { putIfAbsent: async () => true, putRejected: async () => undefined, get: async () => undefined },
      notifications: { list: async () => [], saveAll: async () => undefined },
      matcher: new SubscriptionMatcher({ byPattern: async (p) => f.subscriptions.filter((s) => s.eventType === p) }, 0),
      schemas: { validate: () => [] },
      webhooks: { post: async (request) => { f.calls.push(request); return { status: 200 }; } },
      queue: { retryLater: async () => undefined, deadLetter: async () => undefined },
      pauser: { disable: async () => undefined },
      metrics: { count: () => undefined },
      log: { info: () => undefined, warn: () => undefined },
    }, { retryScheduleSeconds: [0], webhookTimeoutMs: 1000, retentionSeconds: 86400, maxConcurrentDeliveries: 25, fanOutSize: 50 });
    await fifo.process(record(eventBody()));
    expect(f.calls).toHaveLength(200);
    expect(f.queued).toHaveLength(0);
  });
});
