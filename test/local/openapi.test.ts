import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { openApiDocument } from '../../lambda/openapi/document';
import { API_ROUTES, ApiRoute, splitRoute } from '../../src/contract';
import { DevProcess, explained, killAllChildren, startDev, until } from '../helpers/dev-process';
import { observe, ObservedResponse, OpenApiChecker } from '../helpers/openapi';
import { ReceiverPool } from '../helpers/receivers';

/*
 * The OpenAPI document against the real thing: `npm run dev` as a user runs it serves the
 * document at GET /openapi.json without a key, and every answer this test provokes from every
 * route (successes and errors, from the functions and from the API in front of them) must be
 * one the document describes: its status, its headers and its body's schema. At the end, every
 * status the document lists for a route must have been seen, or be named in NOT_PROVOKED.
 */

const KEY_A = 'openapi-key-a-000001';
const KEY_B = 'openapi-key-b-000002';
const KEY_C = 'openapi-key-c-000003';
const STD_SECRET = `whsec_${Buffer.from('openapi-test-standard-webhooks-secret').toString('base64')}`;
/** The deployment's default maxEventSize is 256 KiB. */
const OVER_EVENT_SIZE = 300 * 1024;

/** Statuses the document lists that this test does not provoke, and why. */
const NOT_PROVOKED: Partial<Record<ApiRoute | '*', Record<number, string>>> = {
  '*': {
    429: 'API Gateway throttling and quotas: no local stand-in',
    500: 'an unexpected error: nothing a request can cause',
    503: 'the queue or the idempotency store refusing: not while the runtime is healthy',
  },
  'POST /events': { 409: 'a repeat while the first request still holds the key: a race of under 2 s' },
  'POST /webhooks/{source}': { 409: 'a repeat while the first delivery still holds its id: a race of under 2 s' },
};

const receivers = new ReceiverPool();
let dataDir: string;
let dev: DevProcess;
let checker: OpenApiChecker;
/** `METHOD /resource` → statuses seen (and checked). */
const seen = new Map<ApiRoute, Set<number>>();

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-openapi-'));
  const schemas = path.join(dataDir, 'schemas.json');
  fs.writeFileSync(schemas, JSON.stringify({
    'order.placed': { type: 'object', required: ['details'], properties: { details: { type: 'object', required: ['amount'], properties: { amount: { type: 'number' } } } } },
  }));
  dev = await startDev(['--data-dir', path.join(dataDir, 'data'), '--api-key', KEY_A, '--api-key', KEY_B, '--api-key', KEY_C,
    '--allow-private-targets', '--retry-schedule', '0s,1s', '--event-schemas', schemas, '--inbound', `std=standard-webhooks:${STD_SECRET}`]);
}, 60_000);

afterAll(async () => {
  await killAllChildren();
  await receivers.closeAll();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Call {
  readonly key?: string;
  readonly params?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** A string is sent as is, anything else as JSON. */
  readonly body?: unknown;
}

/** Calls a route of the running runtime and checks the answer against the document. */
async function call(route: ApiRoute, options: Call = {}): Promise<ObservedResponse & { json: any }> {
  const { method, resource } = splitRoute(route);
  let url = dev.apiUrl + resource.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(options.params?.[name] ?? ''));
  if (options.query) url += '?' + new URLSearchParams(options.query).toString();
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const response = await observe(await explained(dev, fetch(url, {
    method,
    headers: {
      ...(options.key ? { 'x-api-key': options.key } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body,
  })));
  expect(checker.responseErrors(method, resource, response)).toEqual([]);
  if (!seen.has(route)) seen.set(route, new Set());
  seen.get(route)!.add(response.status);
  return { ...response, json: response.text ? JSON.parse(response.text) : undefined };
}

const event = (overrides: Record<string, unknown> = {}) => ({ eventType: 'openapi.check', severity: 'HIGH', title: 'OpenAPI check', ...overrides });

describe('GET /openapi.json', () => {
  test('is served without an API key: the generated document, with this runtime as its server', async () => {
    const response = await fetch(`${dev.apiUrl}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const served = await response.json() as Record<string, unknown>;
    expect(served).toEqual(openApiDocument({ servers: [{ url: dev.apiUrl, description: 'This local runtime' }] }));
    checker = new OpenApiChecker(served);
  });
});

describe('every route answers as the document says', () => {
  let webhookSubscription: string;
  let emailSubscription: string;
  let published: string;

  test('POST /events', async () => {
    const accepted = await call('POST /events', { key: KEY_A, body: event() });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.location).toBe(`/events/${accepted.json.eventId}`);

    const key = randomUUID();
    const first = await call('POST /events', { key: KEY_A, body: event({ title: 'once' }), headers: { 'idempotency-key': key } });
    const repeat = await call('POST /events', { key: KEY_A, body: event({ title: 'once' }), headers: { 'idempotency-key': key } });
    expect(repeat.json.eventId).toBe(first.json.eventId);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect((await call('POST /events', { key: KEY_A, body: event({ title: 'other' }), headers: { 'idempotency-key': key } })).status).toBe(422);

    expect((await call('POST /events', { key: KEY_A, body: event({ severity: 'NOPE' }) })).json.errors).toEqual([expect.objectContaining({ path: '/severity' })]);
    expect((await call('POST /events', { key: KEY_A, body: event({ eventId: 'evt_mine' }) })).json.errors).toEqual([expect.objectContaining({ path: '/eventId' })]);
    expect((await call('POST /events', { key: KEY_A, body: '{"eventType":' })).status).toBe(400);
    expect((await call('POST /events', { key: KEY_A, body: event(), headers: { 'idempotency-key': '' } })).status).toBe(400);
    expect((await call('POST /events', { key: KEY_A, body: event({ details: { blob: 'x'.repeat(OVER_EVENT_SIZE) } }) })).status).toBe(413);
    expect((await call('POST /events', { key: KEY_A, body: 'title=x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call('POST /events', { body: event() })).status).toBe(403);
    expect((await call('POST /events', { key: 'not-a-key', body: event() })).status).toBe(403);
  });

  test('POST /events/batch', async () => {
    const mixed = await call('POST /events/batch', { key: KEY_A, body: { events: [event(), event({ severity: 'NOPE' }), event({ source: 'x' })] } });
    expect(mixed.status).toBe(202);
    expect(mixed.json.events.map((r: any) => ('eventId' in r ? 'ok' : r.error.status))).toEqual(['ok', 400, 400]);
    expect((await call('POST /events/batch', { key: KEY_A, body: { events: [] } })).status).toBe(400);
    expect((await call('POST /events/batch', { key: KEY_A, body: [event()] })).status).toBe(400);
    const big = { events: Array.from({ length: 20 }, () => event({ details: { blob: 'x'.repeat(230 * 1024) } })) };
    expect((await call('POST /events/batch', { key: KEY_A, body: big })).status).toBe(413);
    expect((await call('POST /events/batch', { key: KEY_A, body: 'x', headers: { 'content-type': 'text/csv' } })).status).toBe(415);
    expect((await call('POST /events/batch', { body: { events: [event()] } })).status).toBe(403);
  });

  test('POST /webhooks/{source}', async () => {
    const signed = (id: string, body: string, names: 'webhook' | 'svix' = 'webhook') => {
      const at = new Date();
      return {
        [`${names}-id`]: id,
        [`${names}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
        [`${names}-signature`]: new Webhook(STD_SECRET).sign(id, at, body),
      };
    };
    const payload = JSON.stringify({ type: 'invoice.paid', data: { id: 18446744073709551615n.toString() } });
    const id = `msg_${randomUUID()}`;
    const accepted = await call('POST /webhooks/{source}', { params: { source: 'std' }, body: payload, headers: signed(id, payload) });
    expect(accepted.status).toBe(202);
    const repeat = await call('POST /webhooks/{source}', { params: { source: 'std' }, body: payload, headers: signed(id, payload, 'svix') });
    expect(repeat.json.eventId).toBe(accepted.json.eventId);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    const changed = JSON.stringify({ type: 'invoice.paid', data: { id: 'another' } });
    expect((await call('POST /webhooks/{source}', { params: { source: 'std' }, body: changed, headers: signed(id, changed) })).status).toBe(422);

    expect((await call('POST /webhooks/{source}', { params: { source: 'std' }, body: 'not json', headers: signed(`msg_${randomUUID()}`, 'not json') })).status).toBe(400);
    expect((await call('POST /webhooks/{source}', { params: { source: 'std' }, body: payload, headers: signed(id, payload + ' ') })).status).toBe(401);
    expect((await call('POST /webhooks/{source}', { params: { source: 'std' }, body: payload })).status).toBe(401);
    expect((await call('POST /webhooks/{source}', { params: { source: 'nobody' }, body: payload, headers: signed(id, payload) })).status).toBe(404);
    const huge = JSON.stringify({ type: 'big', blob: 'x'.repeat(OVER_EVENT_SIZE) });
    expect((await call('POST /webhooks/{source}', { params: { source: 'std' }, body: huge, headers: signed(id, huge) })).status).toBe(413);
  });

  test('POST /subscriptions', async () => {
    const ok = await receivers.start({ responder: () => ({ status: 204 }) });
    const failing = await receivers.start({ responder: () => ({ status: 500, body: 'no' }) });
    const gone = await receivers.start({ responder: () => ({ status: 410 }) });
    const created = await call('POST /subscriptions', { key: KEY_A, body: { eventType: 'openapi.*', channel: 'WEBHOOK', target: `${ok.url}/a`, description: 'ok' } });
    expect(created.status).toBe(201);
    expect(created.json.secret).toMatch(/^whsec_/);
    webhookSubscription = created.json.subscriptionId;
    const email = await call('POST /subscriptions', { key: KEY_A, body: { eventType: 'openapi.check', channel: 'EMAIL', target: 'ops@example.com' } });
    expect(email.json.secret).toBeUndefined();
    emailSubscription = email.json.subscriptionId;
    await call('POST /subscriptions', { key: KEY_A, body: { eventType: 'openapi.check', channel: 'WEBHOOK', target: `${gone.url}/gone` } });
    await call('POST /subscriptions', { key: KEY_B, body: { eventType: '*', channel: 'WEBHOOK', target: `${failing.url}/b`, severityFilter: 'HIGH' } });

    expect((await call('POST /subscriptions', { key: KEY_A, body: { eventType: 'a b', channel: 'FAX', target: '' } })).json.errors.length).toBeGreaterThan(1);
    expect((await call('POST /subscriptions', { key: KEY_A, body: { eventType: '*', channel: 'WEBHOOK', target: 'ftp://x' } })).status).toBe(400);
    expect((await call('POST /subscriptions', { key: KEY_A, body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call('POST /subscriptions', { body: { eventType: '*', channel: 'EMAIL', target: 'a@example.com' } })).status).toBe(403);
    // Larger than API Gateway takes (10 MB).
    expect((await call('POST /subscriptions', { key: KEY_A, body: { description: 'x'.repeat(10 * 1024 * 1024 + 1) } })).status).toBe(413);
    // The most subscriptions one key may have (default 100), with a key that receives nothing.
    const never = { eventType: 'never.*', channel: 'EMAIL', target: 'nobody@example.com' };
    for (let i = 0; i < 100; i++) expect((await call('POST /subscriptions', { key: KEY_C, body: never })).status).toBe(201);
    expect((await call('POST /subscriptions', { key: KEY_C, body: never })).status).toBe(409);
  });

  test('GET /events/{eventId}: delivered, failed, rejected, seen by publisher and by subscriber', async () => {
    // A new subscription takes up to the processor's cache time (1 s locally) to match.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    published = (await call('POST /events', { key: KEY_A, body: event({ details: { n: 18446744073709551615n.toString() } }) })).json.eventId;
    const rejected = (await call('POST /events', { key: KEY_A, body: { eventType: 'order.placed', severity: 'LOW', title: 'no amount', details: {} } })).json.eventId;

    const settled = (key: string, eventId: string) => until(async () => {
      const view = await call('GET /events/{eventId}', { key, params: { eventId } });
      return view.status === 200 && !['IN_PROGRESS'].includes(view.json.deliveryStatus) ? view.json : undefined;
    }, `event ${eventId} to settle`, 30_000, 250);

    const forA = await settled(KEY_A, published);
    expect(forA.deliveryStatus).toBe('PARTIALLY_FAILED');
    expect(forA.notifications.map((n: any) => n.status).sort()).toEqual(['DELIVERED', 'DELIVERED', 'FAILED']); // ok, email, 410
    expect(forA.otherNotifications).toEqual({ count: 1, byStatus: { FAILED: 1 } });
    const forB = await settled(KEY_B, published);
    expect(forB.notifications).toEqual([expect.objectContaining({ status: 'FAILED' })]);
    expect(forB.notifications[0].attempts[0]).toMatchObject({ outcome: 'FAILED', httpStatus: 500 });
    expect(forB.otherNotifications).toEqual({ count: 3, byStatus: { DELIVERED: 2, FAILED: 1 } });

    const rejection = await settled(KEY_A, rejected);
    expect(rejection).toMatchObject({ status: 'REJECTED', deliveryStatus: 'REJECTED', rejection: [expect.any(String)] });

    expect((await call('GET /events/{eventId}', { key: KEY_A, params: { eventId: 'evt_nope' } })).status).toBe(400);
    expect((await call('GET /events/{eventId}', { key: KEY_A, params: { eventId: 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV' } })).status).toBe(404);
    expect((await call('GET /events/{eventId}', { key: KEY_C, params: { eventId: published } })).status).toBe(404);
    expect((await call('GET /events/{eventId}', { params: { eventId: published } })).status).toBe(403);
  });

  test('GET /subscriptions, one page at a time; a subscription the service paused shows why', async () => {
    const first = await call('GET /subscriptions', { key: KEY_A, query: { limit: '1' } });
    expect(first.json.items).toHaveLength(1);
    const rest = await call('GET /subscriptions', { key: KEY_A, query: { nextToken: first.json.nextToken } });
    const all = [...first.json.items, ...rest.json.items];
    expect(all).toHaveLength(3);
    // The 410 receiver paused its subscription (pausedReason is part of the document).
    expect(all.filter((s: any) => s.pausedReason)).toEqual([expect.objectContaining({ enabled: false, pausedReason: expect.any(String) })]);

    expect((await call('GET /subscriptions', { key: KEY_A, query: { limit: '0' } })).status).toBe(400);
    expect((await call('GET /subscriptions', { key: KEY_A, query: { nextToken: 'bm9wZQ' } })).status).toBe(400);
    expect((await call('GET /subscriptions')).status).toBe(403);
  });

  test('POST /subscriptions/{subscriptionId}/secret/rotate', async () => {
    const route = 'POST /subscriptions/{subscriptionId}/secret/rotate';
    const params = { subscriptionId: webhookSubscription };
    const rotated = await call(route, { key: KEY_A, params });
    expect(rotated.status).toBe(200);
    expect(rotated.json).toMatchObject({ subscriptionId: webhookSubscription, secret: expect.stringMatching(/^whsec_/) });
    expect(rotated.json.previousSecretExpiresAt).toEqual(expect.any(String));
    expect((await call(route, { key: KEY_A, params, body: {} })).status).toBe(200);
    expect((await call(route, { key: KEY_A, params, body: { secret: 'whsec_mine' } })).status).toBe(400);
    expect((await call(route, { key: KEY_A, params: { subscriptionId: 'sub_x' } })).status).toBe(400);
    expect((await call(route, { key: KEY_B, params })).status).toBe(404);
    expect((await call(route, { key: KEY_A, params: { subscriptionId: emailSubscription } })).status).toBe(409);
    expect((await call(route, { key: KEY_A, params, body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call(route, { params })).status).toBe(403);
    expect((await call(route, { key: KEY_A, params, body: { description: 'x'.repeat(10 * 1024 * 1024 + 1) } })).status).toBe(413);
  });

  test('GET, PATCH and DELETE /subscriptions/{subscriptionId}', async () => {
    const params = { subscriptionId: webhookSubscription };
    const got = await call('GET /subscriptions/{subscriptionId}', { key: KEY_A, params });
    expect(got.json).toMatchObject({ subscriptionId: webhookSubscription, enabled: true });
    expect(got.json.secret).toBeUndefined();
    expect((await call('GET /subscriptions/{subscriptionId}', { key: KEY_A, params: { subscriptionId: 'sub_x' } })).status).toBe(400);
    expect((await call('GET /subscriptions/{subscriptionId}', { key: KEY_B, params })).status).toBe(404);
    expect((await call('GET /subscriptions/{subscriptionId}', { params })).status).toBe(403);

    const patched = await call('PATCH /subscriptions/{subscriptionId}', { key: KEY_A, params, body: { enabled: false, severityFilter: 'CRITICAL' } });
    expect(patched.json).toMatchObject({ enabled: false, severityFilter: 'CRITICAL' });
    expect((await call('PATCH /subscriptions/{subscriptionId}', { key: KEY_A, params, body: {} })).status).toBe(400);
    expect((await call('PATCH /subscriptions/{subscriptionId}', { key: KEY_A, params, body: { channel: 'EMAIL' } })).status).toBe(400);
    expect((await call('PATCH /subscriptions/{subscriptionId}', { key: KEY_B, params, body: { enabled: true } })).status).toBe(404);
    expect((await call('PATCH /subscriptions/{subscriptionId}', { key: KEY_A, params, body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call('PATCH /subscriptions/{subscriptionId}', { params, body: { enabled: true } })).status).toBe(403);
    expect((await call('PATCH /subscriptions/{subscriptionId}', { key: KEY_A, params, body: { description: 'x'.repeat(10 * 1024 * 1024 + 1) } })).status).toBe(413);

    expect((await call('DELETE /subscriptions/{subscriptionId}', { key: KEY_B, params })).status).toBe(404);
    expect((await call('DELETE /subscriptions/{subscriptionId}', { params })).status).toBe(403);
    expect((await call('DELETE /subscriptions/{subscriptionId}', { key: KEY_A, params: { subscriptionId: 'nope' } })).status).toBe(400);
    expect((await call('DELETE /subscriptions/{subscriptionId}', { key: KEY_A, params })).status).toBe(204);
    expect((await call('DELETE /subscriptions/{subscriptionId}', { key: KEY_A, params })).status).toBe(404);
  });

  test('every status the document lists for every route was seen, or is one that cannot be provoked here', () => {
    const missing: string[] = [];
    for (const route of Object.keys(API_ROUTES) as ApiRoute[]) {
      const { method, resource } = splitRoute(route);
      for (const status of Object.keys(checker.operation(method, resource).responses).map(Number)) {
        const excused = NOT_PROVOKED['*']?.[status] ?? NOT_PROVOKED[route]?.[status];
        if (!seen.get(route)?.has(status) && excused === undefined) missing.push(`${route} → ${status}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
