import fc from 'fast-check';
import { HttpRequest } from '../../../lambda/core/http';
import { IdempotencyStore } from '../../../lambda/core/idempotency';
import { IngestService } from '../../../lambda/core/ingest';
import { HttpProblem } from '../../../lambda/core/problem';
import { EventQueue } from '../../../lambda/core/queued-event';
import { Subscription, SubscriptionChanges } from '../../../lambda/core/subscription';
import { SecretRotation, SubscriptionPage, SubscriptionsService, SubscriptionStore } from '../../../lambda/core/subscriptions-service';
import { openApiDocument } from '../../../lambda/openapi/document';
import { OpenApiChecker } from '../../helpers/openapi';

/*
 * The request bodies the OpenAPI document calls valid are the ones the handlers accept, and the
 * other way round: random bodies near the edges of each schema go both to ajv with the document's
 * schema and to the core service behind the route (in-memory ports), and both must agree.
 *
 * What the document cannot say, and the generators therefore keep out: a title's limits apply
 * after trimming (JSON Schema sees the raw text), a subscription target must suit its channel
 * (checked by the channel), and events nest at most 30 levels deep and have a deployment-set
 * size limit. Lengths agree: zod and JSON Schema both count code points, not UTF-16 units.
 */

const checker = new OpenApiChecker(openApiDocument());
const OWNER = 'key-openapi-0001';
const RUNS = { numRuns: 400 };

const request = (method: string, route: string, body: unknown, pathParameters: Record<string, string> = {}): HttpRequest => ({
  method, route, pathParameters, queryParameters: {}, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), callerKeyId: OWNER,
});

/** The status a core call answers with: its response's, or the problem's it throws. */
async function statusOf(work: Promise<{ statusCode: number; body: string }>): Promise<{ status: number; body: string }> {
  try {
    const response = await work;
    return { status: response.statusCode, body: response.body };
  } catch (error) {
    if (error instanceof HttpProblem) return { status: error.status, body: JSON.stringify(error.toJSON()) };
    throw error;
  }
}

const queue: EventQueue = { send: async (messages) => messages.map(() => ({ ok: true as const })) };
const noIdempotency = new Proxy({}, { get: () => () => Promise.reject(new Error('no Idempotency-Key was sent')) }) as IdempotencyStore;
const ingest = new IngestService({ queue, idempotency: noIdempotency }, { maxEventSizeBytes: 1024 * 1024 });

class MemoryStore implements SubscriptionStore {
  public readonly items = new Map<string, Subscription>();
  public async create(subscription: Subscription) { this.items.set(subscription.subscriptionId, subscription); }
  public async get(id: string) { return this.items.get(id); }
  public async listByOwner(): Promise<SubscriptionPage> { return { items: [...this.items.values()] }; }
  public async countByOwner() { return 0; }
  public async update(id: string, owner: string, changes: SubscriptionChanges, updatedAt: string) {
    const existing = this.items.get(id);
    if (!existing || existing.ownerKeyId !== owner) return undefined;
    const updated = { ...existing, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)), updatedAt };
    this.items.set(id, updated);
    return updated;
  }
  public async delete(id: string) { return this.items.delete(id); }
  public async rotateSecret(id: string, owner: string, rotation: SecretRotation, updatedAt: string) {
    const existing = this.items.get(id);
    if (!existing || existing.ownerKeyId !== owner || existing.secret !== rotation.current) return undefined;
    const { previousSecret: _p, previousSecretExpiresAt: _e, ...rest } = existing;
    const rotated: Subscription = {
      ...rest,
      secret: rotation.next,
      updatedAt,
      ...(rotation.previousExpiresAt ? { previousSecret: rotation.current, previousSecretExpiresAt: rotation.previousExpiresAt } : {}),
    };
    this.items.set(id, rotated);
    return rotated;
  }
}
const store = new MemoryStore();
const subscriptions = new SubscriptionsService(store, { allowPrivateTargets: false });

// Any text (astral characters and lone surrogates too), with white space.
const text = fc.string({ unit: fc.oneof(fc.constantFrom(' ', '\t', 'a', 'Z', '0', '.', '*', '_', ':', '/', '-', 'é', '"', '🎉'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 12 });
const lengthAround = (limit: number, char = 'a') => fc.integer({ min: limit - 1, max: limit + 1 }).map((n) => char.repeat(n));
const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));

/** Mostly a valid value, sometimes one at or over an edge: both outcomes stay common. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, edge: fc.Arbitrary<U>) => fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: edge, weight: 1 });

const eventType = mostly(fc.constantFrom('deploy.finished', 'a', 'a/b:c-d_e', 'x'.repeat(128)), fc.oneof(fc.constantFrom('orders.*', '*', ''), text, lengthAround(128), notAString));
const severity = mostly(fc.constantFrom('LOW', 'MEDIUM', 'HIGH', 'CRITICAL'), fc.oneof(fc.constantFrom('low', 'NOPE', ''), notAString));
/** Titles whose raw and trimmed lengths fall on the same side of the limit. */
const title = mostly(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(text, lengthAround(256), fc.constantFrom('   ', ' padded ', '🎉'.repeat(256)), notAString))
  .filter((t) => typeof t !== 'string' || t.trim() === '' || ([...t].length <= 256) === ([...t.trim()].length <= 256));
const details = mostly(
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
  fc.oneof(fc.constant([]), fc.string(), fc.constant(null)),
);
const orderingKey = mostly(fc.constantFrom('order-1', 'k'.repeat(128)), fc.oneof(fc.constantFrom('has space', '', 'ü'), lengthAround(128, 'k'), notAString));
const serviceField = fc.constantFrom('evt_x', 'api', '2026-01-01T00:00:00Z');
/** Present 7 times in 8, or 1 time in 8 (then absent from the JSON, not null). */
const usually = <T>(value: fc.Arbitrary<T>) => fc.option(value, { freq: 8, nil: undefined });
const rarely = <T>(value: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 7 }, { arbitrary: value, weight: 1 });
const present = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));

const envelope = fc.record({
  eventType: usually(eventType),
  severity: usually(severity),
  title: usually(title),
  details: fc.option(details, { nil: undefined }),
  orderingKey: fc.option(orderingKey, { nil: undefined }),
  eventId: rarely(serviceField),
  receivedAt: rarely(serviceField),
  source: rarely(serviceField),
  extra: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
}).map(present);

/** A body and whether the document's schema for the route accepts it. */
const documentAccepts = (method: string, resource: string, body: unknown) => checker.requestBodyErrors(method, resource, body).length === 0;

describe('POST /events: the document accepts an envelope ⇔ the handler does', () => {
  test('random envelopes', async () => {
    let valid = 0;
    await fc.assert(fc.asyncProperty(envelope, async (body) => {
      const { status, body: answer } = await statusOf(ingest.publishOne(request('POST', '/events', body)));
      expect([202, 400]).toContain(status);
      if (documentAccepts('POST', '/events', body) !== (status === 202)) {
        throw new Error(`document ${documentAccepts('POST', '/events', body) ? 'accepts' : 'refuses'} ${JSON.stringify(body)}, handler: ${answer}`);
      }
      if (status === 202) valid++;
    }), RUNS);
    // Both outcomes are common enough for the property to mean something.
    expect(valid).toBeGreaterThan(20);
    expect(valid).toBeLessThan(RUNS.numRuns - 20);
  });

  test('a body that is not an object', async () => {
    for (const body of [[], 'text', 42, null, [{ eventType: 'a', severity: 'LOW', title: 't' }]]) {
      expect(documentAccepts('POST', '/events', body)).toBe(false);
      expect((await statusOf(ingest.publishOne(request('POST', '/events', body)))).status).toBe(400);
    }
  });
});

describe('POST /events/batch: the document accepts a batch ⇔ the handler queues every event of it', () => {
  test('random batches', async () => {
    const batch = fc.oneof(
      fc.record({ events: fc.array(envelope, { maxLength: 4 }) }),
      fc.record({ events: fc.oneof(fc.constant(null), fc.constant({})) }),
      fc.constant({}),
    );
    await fc.assert(fc.asyncProperty(batch, async (body) => {
      const { status, body: answer } = await statusOf(ingest.publishBatch(request('POST', '/events/batch', body)));
      const allQueued = status === 202 && JSON.parse(answer).events.every((r: object) => 'eventId' in r);
      expect(documentAccepts('POST', '/events/batch', body)).toBe(allQueued);
    }), { numRuns: 200 });
  });

  test('the batch size limits', async () => {
    const one = { eventType: 'a', severity: 'LOW', title: 't' };
    for (const count of [0, 1, 100, 101]) {
      const body = { events: Array.from({ length: count }, () => one) };
      const { status } = await statusOf(ingest.publishBatch(request('POST', '/events/batch', body)));
      expect(documentAccepts('POST', '/events/batch', body)).toBe(status === 202);
    }
  });
});

const targetFor = (channel: unknown) => (channel === 'EMAIL' ? 'ops@example.com' : 'https://example.com/hook');
const target = (channel: unknown) => mostly(fc.constant(targetFor(channel)),
  fc.oneof(fc.constant(''), lengthAround(2049, 'x').map((x) => `https://example.com/${x}`.slice(0, 2049)), notAString));
const subscriptionEventType = mostly(fc.constantFrom('deploy.finished', 'deploy.*', '*', 'a.b.*', 'x'.repeat(128)),
  fc.oneof(fc.constantFrom('.*', 'a*', 'a.*.*', '**', ''), text, lengthAround(128), notAString));
const description = mostly(fc.string({ maxLength: 20 }), fc.oneof(text, lengthAround(512), notAString));
const enabled = mostly(fc.boolean(), fc.constantFrom('true', 0, null));

describe('POST /subscriptions: the document accepts a subscription ⇔ the handler creates it', () => {
  test('random subscriptions (targets that suit their channel, or are not strings)', async () => {
    const body = mostly(fc.constantFrom('EMAIL', 'WEBHOOK'), fc.oneof(fc.constantFrom('FAX', 'email', ''), notAString)).chain((channel) => fc.record({
      eventType: usually(subscriptionEventType),
      severityFilter: fc.option(severity, { nil: undefined }),
      channel: usually(fc.constant(channel)),
      target: usually(target(channel)),
      enabled: fc.option(enabled, { nil: undefined }),
      description: fc.option(description, { nil: undefined }),
      unknown: rarely(fc.constant(1)),
    }).map(present));
    let created = 0;
    await fc.assert(fc.asyncProperty(body, async (subscription) => {
      const { status, body: answer } = await statusOf(subscriptions.create(request('POST', '/subscriptions', subscription)));
      expect([201, 400]).toContain(status);
      if (documentAccepts('POST', '/subscriptions', subscription) !== (status === 201)) {
        throw new Error(`document ${status === 201 ? 'refuses' : 'accepts'} ${JSON.stringify(subscription)}, handler: ${answer}`);
      }
      if (status === 201) created++;
    }), RUNS);
    expect(created).toBeGreaterThan(20);
    expect(created).toBeLessThan(RUNS.numRuns - 20);
  });
});

describe('PATCH /subscriptions/{subscriptionId}: the document accepts changes ⇔ the handler applies them', () => {
  test('random changes to a webhook subscription', async () => {
    const { body } = await statusOf(subscriptions.create(request('POST', '/subscriptions', { eventType: '*', channel: 'WEBHOOK', target: targetFor('WEBHOOK') })));
    const subscriptionId = JSON.parse(body).subscriptionId as string;
    // Each field absent half the time: an empty change (refused by both) comes up too.
    const sometimes = <T>(value: fc.Arbitrary<T>) => fc.option(value, { freq: 2, nil: undefined });
    const changes = fc.record({
      eventType: sometimes(subscriptionEventType),
      severityFilter: sometimes(severity),
      target: sometimes(target('WEBHOOK')),
      enabled: sometimes(enabled),
      description: sometimes(description),
      channel: rarely(fc.constant('EMAIL')),
    }).map(present);
    let applied = 0;
    await fc.assert(fc.asyncProperty(changes, async (change) => {
      const { status, body: answer } = await statusOf(subscriptions.update(request('PATCH', '/subscriptions/{subscriptionId}', change, { subscriptionId })));
      expect([200, 400]).toContain(status);
      if (documentAccepts('PATCH', '/subscriptions/{subscriptionId}', change) !== (status === 200)) {
        throw new Error(`document ${status === 200 ? 'refuses' : 'accepts'} ${JSON.stringify(change)}, handler: ${answer}`);
      }
      if (status === 200) applied++;
    }), RUNS);
    expect(applied).toBeGreaterThan(20);
    expect(applied).toBeLessThan(RUNS.numRuns - 20);
  });
});
