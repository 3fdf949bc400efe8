import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { EventNotificationService } from '../../src';
import { apiEvent } from '../helpers/api-event';
import { killAllChildren, DevProcess, explained, kill, sleep, startDev as startDevProcess, until } from '../helpers/dev-process';
import { FAKE_AWS_ENV } from '../helpers/dynamo';
import { loadHandler, LoadedHandler } from '../helpers/handlers';
import { header } from '../helpers/problems';
import { Receiver, ReceiverPool } from '../helpers/receivers';
import type { SentEmail } from '../helpers/ses';

/*
 * `npm run dev` as a user runs it: local/dev.ts in a child process, spoken to over HTTP only.
 * The happy path with signed webhooks and email, a SIGKILL while retries are pending and a
 * restart on the same data folder (every accepted event delivered, none twice), the deployed
 * API's answers to bad input, and a clean SIGTERM.
 */

const API_KEY = 'local-runtime-test-key-0001';
// Eight attempts a second apart: room for a slow restart on a busy machine before any event runs out.
const RETRY_SCHEDULE = '0s,1s,1s,1s,1s,1s,1s,1s';

/** Starts `local/dev.ts` with this file's key and retry schedule (and FIFO queues, in FIFO mode). */
function startDev(dataDir: string, mode: 'standard' | 'fifo' = 'standard'): Promise<DevProcess> {
  return startDevProcess([
    '--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--retry-schedule', RETRY_SCHEDULE, ...(mode === 'fifo' ? ['--fifo'] : []),
    // The breaker off: the crash test's receiver answers 503 to everything before the restart, which a breaker
    // rightly holds back for its 30 s cool-down (the breaker's own tests: endpoint-health.test.ts).
    '--circuit-breaker', 'off',
  ]);
}

// ---- HTTP

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly allow: string | null;
  readonly text: string;
  readonly json: any;
}

interface CallOptions {
  /** An object is JSON-encoded; a string is sent as is. */
  readonly body?: unknown;
  /** The x-api-key header; null for none (default: the runtime's key). */
  readonly key?: string | null;
  /** Default application/json when there is a body. */
  readonly contentType?: string;
}

async function call(baseUrl: string, method: string, route: string, options: CallOptions = {}): Promise<Answer> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? API_KEY : options.key;
  if (key !== null) headers['x-api-key'] = key;
  if (body !== undefined || options.contentType !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await fetch(baseUrl + route, { method, headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), allow: response.headers.get('allow'), text, json };
}

async function emails(viewerUrl: string): Promise<SentEmail[]> {
  const response = await fetch(`${viewerUrl}/store`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { emails: SentEmail[] }).emails;
}

/** A webhook request as the receiver saw it, verified with the public standardwebhooks library. */
interface Delivery {
  readonly webhookId: string;
  readonly eventId: string;
  readonly type: string;
  readonly title: string;
  /** What the receiver answered. */
  readonly answered: number;
}

interface WebhookPayload {
  readonly type: string;
  readonly data: { readonly eventId: string; readonly title: string; readonly severity: string };
}

function verify(secret: string, request: { headers: Record<string, unknown>; body: string }): WebhookPayload {
  return new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as WebhookPayload;
}

// ---- the API Gateway responses the construct deploys

/** API Gateway's own messages (`$context.error.messageString`) for the responses the local API imitates. */
const GATEWAY_MESSAGES = {
  BAD_REQUEST_BODY: 'Invalid request body',
  INVALID_API_KEY: 'Forbidden',
  MISSING_AUTHENTICATION_TOKEN: 'Missing Authentication Token',
  REQUEST_TOO_LARGE: 'Request Too Long',
} as const;
type GatewayResponseType = keyof typeof GATEWAY_MESSAGES;

/** What the deployed API answers for each response type: status and problem+json body, from the synthesized template. */
function deployedGatewayResponses(): Record<GatewayResponseType, { status: number; contentType: string; body: unknown }> {
  const stack = new Stack(new App(), 'LocalRuntimeParityStack');
  new EventNotificationService(stack, 'Svc');
  const resources = Object.values(Template.fromStack(stack).findResources('AWS::ApiGateway::GatewayResponse'));
  const result = {} as Record<GatewayResponseType, { status: number; contentType: string; body: unknown }>;
  for (const type of Object.keys(GATEWAY_MESSAGES) as GatewayResponseType[]) {
    const found = resources.filter((r) => r.Properties.ResponseType === type);
    expect(found).toHaveLength(1);
    const properties = found[0].Properties;
    const template = properties.ResponseTemplates['application/json'] as string;
    expect(template).toContain('$context.error.messageString');
    result[type] = {
      status: Number(properties.StatusCode),
      contentType: String(properties.ResponseParameters['gatewayresponse.header.Content-Type']).replace(/^'|'$/g, ''),
      // API Gateway substitutes the message as a JSON string.
      body: JSON.parse(template.replace('$context.error.messageString', JSON.stringify(GATEWAY_MESSAGES[type]))),
    };
  }
  return result;
}

// ---- bad input (a subset of test/lambda/handlers/bad-input.test.ts, through the local API)

interface BadCase {
  readonly name: string;
  readonly method: string;
  /** The path requested from the local API. */
  readonly path: string;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly key?: string | null;
  readonly status: number;
  /** The deployed function that answers it (compared with the same function in this process)... */
  readonly handler?: { readonly name: 'ingest' | 'management'; readonly resource: string; readonly pathParameters?: Record<string, string>; readonly query?: Record<string, string> };
  /** ...or API Gateway itself, before any function. */
  readonly gateway?: GatewayResponseType;
  /** A JSON Pointer the problem's errors must name. */
  readonly errorPath?: string;
  /**
   * Not a JSON object: the deployed API's request validator (JsonObject model) refuses it before
   * the function. The local API lets the function answer; status, type and title must agree.
   */
  readonly notAnObject?: true;
}

const VALID_SUB_ID = 'sub_01J00000000000000000000000';
const validEvent = { eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy finished' };
const validSubscription = { eventType: 'deploy.*', channel: 'EMAIL', target: 'ops@example.com' };
const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

const ingest = (resource: '/events' | '/events/batch') => ({ name: 'ingest' as const, resource });
const management = (resource: string, extra: { pathParameters?: Record<string, string>; query?: Record<string, string> } = {}) => ({
  name: 'management' as const, resource, ...extra,
});

const BAD_CASES: BadCase[] = [
  { name: 'malformed JSON', method: 'POST', path: '/events', body: '{"eventType": "deploy.finished",', status: 400, handler: ingest('/events'), notAnObject: true },
  { name: 'malformed JSON (batch)', method: 'POST', path: '/events/batch', body: '{"events": [', status: 400, handler: ingest('/events/batch'), notAnObject: true },
  { name: 'title missing', method: 'POST', path: '/events', body: { eventType: 'a', severity: 'LOW' }, status: 400, handler: ingest('/events'), errorPath: '/title' },
  { name: 'severity is a number', method: 'POST', path: '/events', body: { ...validEvent, severity: 3 }, status: 400, handler: ingest('/events'), errorPath: '/severity' },
  { name: 'title is an object', method: 'POST', path: '/events', body: { ...validEvent, title: {} }, status: 400, handler: ingest('/events'), errorPath: '/title' },
  { name: 'unknown severity', method: 'POST', path: '/events', body: { ...validEvent, severity: 'URGENT' }, status: 400, handler: ingest('/events'), errorPath: '/severity' },
  {
    name: 'batch whose only event has an unknown severity',
    method: 'POST',
    path: '/events/batch',
    body: { events: [{ ...validEvent, severity: 'URGENT' }] },
    status: 400,
    handler: ingest('/events/batch'),
    errorPath: '/events/0/severity',
  },
  { name: 'a JSON array body', method: 'POST', path: '/events', body: '[]', status: 400, handler: ingest('/events'), notAnObject: true },
  { name: 'a JSON string body', method: 'POST', path: '/events', body: '"just a string"', status: 400, handler: ingest('/events'), notAnObject: true },
  { name: 'a JSON number body', method: 'POST', path: '/events/batch', body: '42', status: 400, handler: ingest('/events/batch'), notAnObject: true },
  { name: 'a JSON null body', method: 'POST', path: '/subscriptions', body: 'null', status: 400, handler: management('/subscriptions'), notAnObject: true },
  { name: 'an empty body', method: 'POST', path: '/events', body: '', status: 400, handler: ingest('/events') },
  {
    name: `a body over the default ${DEFAULT_MAX_EVENT_BYTES} bytes`,
    method: 'POST',
    path: '/events',
    body: { ...validEvent, details: { pad: 'p'.repeat(DEFAULT_MAX_EVENT_BYTES) } },
    status: 413,
    handler: ingest('/events'),
  },
  { name: 'content-type text/plain', method: 'POST', path: '/events', body: JSON.stringify(validEvent), contentType: 'text/plain', status: 415, handler: ingest('/events') },
  {
    name: 'content-type text/plain (subscription)',
    method: 'POST',
    path: '/subscriptions',
    body: JSON.stringify(validSubscription),
    contentType: 'text/plain',
    status: 415,
    handler: management('/subscriptions'),
  },
  { name: 'unknown channel', method: 'POST', path: '/subscriptions', body: { ...validSubscription, channel: 'SMS' }, status: 400, handler: management('/subscriptions'), errorPath: '/channel' },
  {
    name: 'subscription target missing',
    method: 'POST',
    path: '/subscriptions',
    body: { eventType: 'a', channel: 'EMAIL' },
    status: 400,
    handler: management('/subscriptions'),
    errorPath: '/target',
  },
  {
    name: 'enabled is a number',
    method: 'PATCH',
    path: `/subscriptions/${VALID_SUB_ID}`,
    body: { enabled: 0 },
    status: 400,
    handler: management('/subscriptions/{subscriptionId}', { pathParameters: { subscriptionId: VALID_SUB_ID } }),
    errorPath: '/enabled',
  },
  {
    name: 'bad subscription id (sub_123)',
    method: 'GET',
    path: '/subscriptions/sub_123',
    status: 400,
    handler: management('/subscriptions/{subscriptionId}', { pathParameters: { subscriptionId: 'sub_123' } }),
    errorPath: '/path/subscriptionId',
  },
  {
    name: 'bad subscription id (../etc, encoded)',
    method: 'DELETE',
    path: '/subscriptions/..%2Fetc',
    status: 400,
    handler: management('/subscriptions/{subscriptionId}', { pathParameters: { subscriptionId: '../etc' } }),
    errorPath: '/path/subscriptionId',
  },
  {
    name: 'bad event id',
    method: 'GET',
    path: '/events/evt_123',
    status: 400,
    handler: management('/events/{eventId}', { pathParameters: { eventId: 'evt_123' } }),
    errorPath: '/path/eventId',
  },
  {
    name: 'limit=abc',
    method: 'GET',
    path: '/subscriptions?limit=abc',
    status: 400,
    handler: management('/subscriptions', { query: { limit: 'abc' } }),
    errorPath: '/query/limit',
  },
  // API Gateway answers these itself: the function is never invoked.
  { name: 'unknown route', method: 'POST', path: '/nope', body: validEvent, status: 404, gateway: 'MISSING_AUTHENTICATION_TOKEN' },
  { name: 'unknown route under a known one', method: 'GET', path: `/subscriptions/${VALID_SUB_ID}/secret`, status: 404, gateway: 'MISSING_AUTHENTICATION_TOKEN' },
  { name: 'unknown route without a key', method: 'GET', path: '/', key: null, status: 404, gateway: 'MISSING_AUTHENTICATION_TOKEN' },
  // A method the resource does not have: API Gateway's "Missing Authentication Token" (the functions' 405 is never reached).
  { name: 'wrong method (GET /events)', method: 'GET', path: '/events', status: 404, gateway: 'MISSING_AUTHENTICATION_TOKEN' },
  { name: 'wrong method (PUT a subscription)', method: 'PUT', path: `/subscriptions/${VALID_SUB_ID}`, body: validSubscription, status: 404, gateway: 'MISSING_AUTHENTICATION_TOKEN' },
  { name: 'wrong method (DELETE /subscriptions)', method: 'DELETE', path: '/subscriptions', status: 404, gateway: 'MISSING_AUTHENTICATION_TOKEN' },
  { name: 'missing x-api-key', method: 'POST', path: '/events', body: validEvent, key: null, status: 403, gateway: 'INVALID_API_KEY' },
  { name: 'missing x-api-key (subscriptions)', method: 'GET', path: '/subscriptions', key: null, status: 403, gateway: 'INVALID_API_KEY' },
  { name: 'wrong x-api-key', method: 'POST', path: '/subscriptions', body: validSubscription, key: 'wrong-key-0000000000', status: 403, gateway: 'INVALID_API_KEY' },
  { name: 'an empty x-api-key', method: 'GET', path: '/events/evt_01J00000000000000000000000', key: '', status: 403, gateway: 'INVALID_API_KEY' },
  {
    name: 'a body over API Gateway\'s 10 MB',
    method: 'POST',
    path: '/subscriptions',
    body: `{"pad":"${'p'.repeat(10 * 1024 * 1024)}"}`,
    status: 413,
    gateway: 'REQUEST_TOO_LARGE',
  },
];

// ---- SIGKILL and restart, in either queue mode

type QueueMode = 'standard' | 'fifo';

/**
 * Events whose first attempts fail are pending retries, more are accepted as the runtime is
 * killed with SIGKILL (one of them in the middle of its delivery); restarted on the same data
 * folder, it delivers every accepted event exactly once. FIFO: each event has an ordering key
 * (a message group) of its own, so every one of them is attempted before the kill, as in the
 * standard queue. Returns the restarted runtime.
 */
async function crashAndRestart(mode: QueueMode, running: DevProcess, dataDir: string, receivers: ReceiverPool): Promise<DevProcess> {
  let dev = running;
  const ordering = (title: string) => (mode === 'fifo' ? { orderingKey: title.replace(/\W+/g, '-') } : {});
  let accepting = false;
  let unverified = 0;
  const deliveries: Delivery[] = [];
  let secret = '';
  const receiver: Receiver = await receivers.start({
    responder: (request) => {
      let payload: WebhookPayload;
      try {
        payload = verify(secret, request as unknown as { headers: Record<string, unknown>; body: string });
      } catch {
        unverified++;
        return { status: 401 };
      }
      // Before the restart: 503, except the late events, whose delivery is left hanging, so
      // the kill finds their batch in flight.
      const hang = !accepting && payload.type === 'crash.late';
      const answered = accepting ? 200 : hang ? 0 : 503;
      deliveries.push({ webhookId: String(request.headers['webhook-id']), eventId: payload.data.eventId, type: payload.type, title: payload.data.title, answered });
      return hang ? 'hang' : { status: answered };
    },
  });
  const subscription = await call(dev.apiUrl, 'POST', '/subscriptions', {
    body: { eventType: 'crash.*', severityFilter: 'LOW', channel: 'WEBHOOK', target: `${receiver.url}/hooks/crash` },
  });
  expect(subscription.status).toBe(201);
  secret = subscription.json.secret;

  // Events whose first attempt fails: their retries are pending when the runtime dies.
  const accepted: string[] = [];
  for (let n = 1; n <= 3; n++) {
    const answer = await call(dev.apiUrl, 'POST', '/events', { body: { eventType: 'crash.single', severity: 'LOW', title: `pending ${n}`, ...ordering(`pending ${n}`) } });
    expect(answer.status).toBe(202);
    accepted.push(answer.json.eventId);
  }
  const batch = await call(dev.apiUrl, 'POST', '/events/batch', {
    body: { events: [1, 2, 3].map((n) => ({ eventType: 'crash.batch', severity: 'MEDIUM', title: `pending batch ${n}`, ...ordering(`pending batch ${n}`) })) },
  });
  expect(batch.status).toBe(202);
  accepted.push(...batch.json.events.map((e: { eventId: string }) => e.eventId));
  const pendingIds = [...accepted];
  await explained(dev, until(async () => {
    const states = await Promise.all(pendingIds.map((id) => call(dev.apiUrl, 'GET', `/events/${id}`)));
    return states.every((s) => s.status === 200 && s.json.notifications[0]?.status === 'PENDING') ? true : undefined;
  }, 'every first attempt to fail and a retry to be pending', 10_000, 50));
  const pendingState = await call(dev.apiUrl, 'GET', `/events/${pendingIds[0]}`);
  expect(pendingState.json.deliveryStatus).toBe('IN_PROGRESS');
  expect(pendingState.json.notifications[0].attempts[0]).toEqual(expect.objectContaining({ outcome: 'FAILED', httpStatus: 503 }));

  // More events, accepted just before the kill: it comes while the first of them is being
  // delivered (its batch in flight), and as one more is being published.
  const publishLate = (n: number) => call(dev.apiUrl, 'POST', '/events', { body: { eventType: 'crash.late', severity: 'HIGH', title: `late ${n}`, ...ordering(`late ${n}`) } });
  const late = [1, 2, 3].map(publishLate);
  const first = await Promise.race(late);
  expect(first.status).toBe(202);
  await until(() => (deliveries.some((d) => d.type === 'crash.late') ? true : undefined), 'a late event\'s delivery to start', 5_000, 5);
  late.push(publishLate(4));
  const killed = await kill(dev, 'SIGKILL');
  expect(killed.signal).toBe('SIGKILL');
  const inFlightAtKill = deliveries.filter((d) => d.type === 'crash.late').map((d) => d.eventId);
  for (const outcome of await Promise.allSettled(late)) {
    // A request cut off by the kill was never accepted (its client got no 202).
    if (outcome.status === 'fulfilled' && outcome.value.status === 202) accepted.push(outcome.value.json.eventId);
  }
  expect(accepted.length).toBeGreaterThanOrEqual(pendingIds.length + 1);
  expect(inFlightAtKill.length).toBeGreaterThanOrEqual(1);
  expect(inFlightAtKill.every((id) => accepted.includes(id))).toBe(true);
  expect(deliveries.some((d) => d.answered >= 200 && d.answered < 300)).toBe(false);

  // Same data folder, new ports; the receiver (the subscription's target) stayed up.
  dev = await startDev(dataDir, mode);
  accepting = true;
  const delivered = (id: string) => deliveries.some((d) => d.eventId === id && d.answered === 200);
  // Events the killed runtime had in flight come back at once, not after the visibility timeout.
  await until(() => (accepted.every(delivered) ? true : undefined), 'every accepted event to be delivered after the restart', 15_000);
  const states = await until(async () => {
    const all = await Promise.all(accepted.map((id) => call(dev.apiUrl, 'GET', `/events/${id}`)));
    return all.every((s) => s.status === 200 && s.json.deliveryStatus === 'COMPLETED') ? all.map((s) => s.json) : undefined;
  }, 'every accepted event to be COMPLETED', 10_000);
  // Late duplicates would arrive within a retry step: give them the time to.
  await sleep(2_500);

  expect(unverified).toBe(0);
  expect(receiver.requests).toHaveLength(deliveries.length);
  const ok = deliveries.filter((d) => d.answered === 200);
  const okCount = (key: (d: Delivery) => string) => {
    const counts = new Map<string, number>();
    for (const d of ok) counts.set(key(d), (counts.get(key(d)) ?? 0) + 1);
    return counts;
  };
  const perEvent = okCount((d) => d.eventId);
  for (const id of accepted) expect([id, perEvent.get(id)]).toEqual([id, 1]);
  expect([...perEvent.values()].every((n) => n === 1)).toBe(true);
  expect([...okCount((d) => d.webhookId).values()].every((n) => n === 1)).toBe(true);
  // Everything delivered is something that was sent (late events not accepted may still be).
  for (const d of ok) expect(d.type).toMatch(/^crash\./);

  for (const state of states) {
    const id: string = state.eventId;
    const requests = deliveries.filter((d) => d.eventId === id);
    // webhook-id is stable across the retries and the restart.
    expect(new Set(requests.map((d) => d.webhookId)).size).toBe(1);
    expect(state.notifications).toHaveLength(1);
    const [notification] = state.notifications;
    expect(notification.status).toBe('DELIVERED');
    expect(notification.notificationId).toBe(requests[0].webhookId);
    const attempts = notification.attempts as { outcome: string; httpStatus?: number }[];
    expect(attempts[attempts.length - 1]).toEqual(expect.objectContaining({ outcome: 'DELIVERED', httpStatus: 200 }));
    expect(attempts.slice(0, -1).every((a) => a.outcome === 'FAILED' && a.httpStatus === 503)).toBe(true);
    // The hanging delivery died with the runtime: never recorded, delivered after the restart.
    if (inFlightAtKill.includes(id)) expect(attempts).toHaveLength(1);
    // No more attempts recorded than the receiver saw (a kill may lose the record of one, never invent one).
    expect(attempts.length).toBeLessThanOrEqual(requests.length);
    if (pendingIds.includes(id)) expect(attempts.length).toBeGreaterThanOrEqual(2);
  }
  return dev;
}

// ---- the test

describe('npm run dev: the local runtime as a child process', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-local-runtime-'));
  const receivers = new ReceiverPool();
  let dev: DevProcess;
  let deployed: ReturnType<typeof deployedGatewayResponses>;

  beforeAll(async () => {
    const starting = startDev(dataDir);
    // Synthesizing takes a moment: meanwhile the runtime starts.
    deployed = deployedGatewayResponses();
    dev = await starting;
  }, 60_000);

  afterAll(async () => {
    await killAllChildren();
    await receivers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('it prints its URLs, key and data folder when ready, on real ports', async () => {
    const out = dev.stdout();
    expect(out).toContain('local runtime ready');
    expect(out).toMatch(new RegExp(`^\\s*API key\\s+${API_KEY}\\b`, 'm'));
    expect(out).toMatch(new RegExp(`^\\s*Data\\s+${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm'));
    for (const url of [dev.apiUrl, dev.emailViewerUrl]) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    // The SDK's Node.js version notice is filtered out (the functions run on Node.js 22+ in AWS).
    expect(dev.stderr()).not.toContain('NodeVersionSupportWarning');
    expect(dev.apiUrl).not.toBe(dev.emailViewerUrl);
    // Both answer.
    expect((await call(dev.apiUrl, 'GET', '/subscriptions')).status).toBe(200);
    expect((await fetch(`${dev.emailViewerUrl}/store`)).status).toBe(200);
  });

  test('standard queues; the functions get QUEUE_FIFO=false and MAX_RECEIVE_COUNT = the events queue\'s maxReceiveCount', async () => {
    expect(dev.stdout()).toMatch(/^\s*Queues\s+ens-events, ens-events-dlq\s+\(standard\)/m);
    const config = await call(dev.apiUrl, 'GET', '/__local/config', { key: null });
    expect(config.status).toBe(200);
    // The construct's redrive policy: one receive per step of the retry schedule, plus 5.
    expect(config.json.queue).toEqual({ name: 'ens-events', fifo: false, maxReceiveCount: RETRY_SCHEDULE.split(',').length + 5 });
    expect(config.json.functionEnvironment).toEqual(expect.objectContaining({
      QUEUE_FIFO: 'false',
      MAX_RECEIVE_COUNT: String(config.json.queue.maxReceiveCount),
      RETRY_SCHEDULE_SECONDS: '0,1,1,1,1,1,1,1',
    }));
  });

  test('webhook and email subscriptions: signed webhooks, an email, and GET /events/{id} with the attempts', async () => {
    const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
    const webhook = await call(dev.apiUrl, 'POST', '/subscriptions', {
      body: { eventType: 'deploy.*', severityFilter: 'MEDIUM', channel: 'WEBHOOK', target: `${receiver.url}/hooks/deploys` },
    });
    expect(webhook.status).toBe(201);
    expect(webhook.json.subscriptionId).toMatch(/^sub_[0-9A-HJKMNP-TV-Z]{26}$/);
    const secret: string = webhook.json.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const email = await call(dev.apiUrl, 'POST', '/subscriptions', {
      body: { eventType: 'deploy.*', severityFilter: 'HIGH', channel: 'EMAIL', target: 'oncall@example.com' },
    });
    expect(email.status).toBe(201);
    expect(email.json.secret).toBeUndefined();
    const fetched = await call(dev.apiUrl, 'GET', `/subscriptions/${webhook.json.subscriptionId}`);
    expect(fetched.status).toBe(200);
    expect(fetched.json.secret).toBeUndefined();

    const high = await call(dev.apiUrl, 'POST', '/events', {
      body: { eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy <4711> finished & live', details: { service: 'billing' } },
    });
    expect(high.status).toBe(202);
    expect(high.json).toEqual({ eventId: expect.stringMatching(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/), status: 'ACCEPTED' });
    const low = await call(dev.apiUrl, 'POST', '/events', { body: { eventType: 'deploy.started', severity: 'LOW', title: 'Below every filter' } });
    expect(low.status).toBe(202);
    const batch = await call(dev.apiUrl, 'POST', '/events/batch', {
      body: { events: [1, 2].map((n) => ({ eventType: 'deploy.progress', severity: 'MEDIUM', title: `Step ${n}/2` })) },
    });
    expect(batch.status).toBe(202);
    expect(batch.json.events).toEqual([1, 2].map(() => expect.objectContaining({ eventId: expect.stringMatching(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/) })));
    const batchIds: string[] = batch.json.events.map((e: { eventId: string }) => e.eventId);
    const ids = [high.json.eventId as string, low.json.eventId as string, ...batchIds];

    const states = await until(async () => {
      const all = await Promise.all(ids.map((id) => call(dev.apiUrl, 'GET', `/events/${id}`)));
      return all.every((s) => s.status === 200 && s.json.deliveryStatus !== 'IN_PROGRESS') ? all.map((s) => s.json) : undefined;
    }, 'every event to be settled');
    const [highState, lowState, ...batchStates] = states;

    // The HIGH event: webhook and email, each delivered on the first attempt.
    expect(highState.deliveryStatus).toBe('COMPLETED');
    expect(highState.event).toEqual(expect.objectContaining({ eventType: 'deploy.finished', severity: 'HIGH', details: { service: 'billing' } }));
    const byChannel = new Map(highState.notifications.map((n: { channel: string }) => [n.channel, n]));
    expect(byChannel.get('WEBHOOK')).toEqual(expect.objectContaining({
      subscriptionId: webhook.json.subscriptionId, status: 'DELIVERED', attempts: [expect.objectContaining({ outcome: 'DELIVERED', httpStatus: 200 })],
    }));
    expect(byChannel.get('EMAIL')).toEqual(expect.objectContaining({
      subscriptionId: email.json.subscriptionId, status: 'DELIVERED', attempts: [expect.objectContaining({ outcome: 'DELIVERED', messageId: expect.any(String) })],
    }));
    expect(lowState.deliveryStatus).toBe('NO_MATCHING_SUBSCRIPTIONS');
    expect(lowState.notifications).toEqual([]);
    for (const state of batchStates) {
      expect(state.deliveryStatus).toBe('COMPLETED');
      expect(state.notifications).toEqual([expect.objectContaining({ channel: 'WEBHOOK', status: 'DELIVERED', attempts: [expect.objectContaining({ httpStatus: 200 })] })]);
    }

    // The receiver got exactly the three matching events, each signed with the subscription's secret.
    const deliveries = receiver.requests.map((request) => {
      const payload = verify(secret, request as unknown as { headers: Record<string, unknown>; body: string });
      expect(() => verify(`whsec_${Buffer.from('not the secret, not the secret!!').toString('base64')}`, request as never)).toThrow();
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/hooks/deploys');
      expect(request.headers['content-type']).toBe('application/json');
      return { eventId: payload.data.eventId, type: payload.type, title: payload.data.title };
    });
    expect(deliveries.map((d) => d.eventId).sort()).toEqual([high.json.eventId, ...batchIds].sort());
    expect(deliveries.find((d) => d.eventId === high.json.eventId)).toEqual({ eventId: high.json.eventId, type: 'deploy.finished', title: 'Deploy <4711> finished & live' });

    // One email: the HIGH event, to the subscription's address, subject from the title, HTML escaped.
    const sent = await emails(dev.emailViewerUrl);
    expect(sent).toHaveLength(1);
    expect(sent[0].destination.to).toEqual(['oncall@example.com']);
    expect(sent[0].subject).toBe('[HIGH] Deploy <4711> finished & live');
    expect(sent[0].body.html).toContain('Deploy &lt;4711&gt; finished &amp; live');
    expect(sent[0].body.html).not.toContain('<4711>');
    expect(sent[0].messageId).toBe((byChannel.get('EMAIL') as { attempts: { messageId: string }[] }).attempts[0].messageId);
  }, 30_000);

  test('SIGKILL while retries are pending, restart on the same data folder: every accepted event delivered, none twice', async () => {
    dev = await crashAndRestart('standard', dev, dataDir, receivers);
  }, 45_000);

  describe('bad input gets the deployed API\'s answers (4xx problem+json, never a 5xx)', () => {
    const inProcess = {} as Record<'ingest' | 'management', LoadedHandler>;
    const sqsMocks: AwsClientStub<SQSClient>[] = [];

    beforeAll(() => {
      // The deployed functions, in this process, configured as the runtime configures them.
      const env = {
        ...FAKE_AWS_ENV,
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
        QUEUE_URL: 'http://127.0.0.1:9/000000000000/ens-events',
        QUEUE_FIFO: 'false',
        MAX_EVENT_SIZE_BYTES: String(DEFAULT_MAX_EVENT_BYTES),
        EVENTS_TABLE_NAME: 'ens-events',
        SUBSCRIPTIONS_TABLE_NAME: 'ens-subscriptions',
        NOTIFICATIONS_TABLE_NAME: 'ens-notifications',
        ALLOW_PRIVATE_TARGETS: 'true',
      };
      inProcess.ingest = loadHandler('ingest', env);
      inProcess.management = loadHandler('management', env);
      for (const loaded of Object.values(inProcess)) sqsMocks.push(mockClient(loaded.sqs.SQSClient));
    });

    afterAll(() => {
      for (const mock of sqsMocks) mock.restore();
    });

    test('the cases cover every kind asked for', () => {
      expect(new Set(BAD_CASES.map((c) => c.name)).size).toBe(BAD_CASES.length);
      for (const c of BAD_CASES) expect(Boolean(c.handler) !== Boolean(c.gateway)).toBe(true);
      expect(new Set(BAD_CASES.map((c) => c.status))).toEqual(new Set([400, 403, 404, 413, 415]));
    });

    test.each(BAD_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const local = await call(dev.apiUrl, c.method, c.path, { body: c.body, contentType: c.contentType, key: c.key });
      expect(local.status).toBe(c.status);
      expect(local.contentType).toBe('application/problem+json');
      expect(local.json).toEqual(expect.objectContaining({
        type: expect.stringMatching(/^urn:event-notification-service:problem:[a-z-]+$/),
        title: expect.stringMatching(/\S/),
        status: c.status,
        detail: expect.stringMatching(/\S/),
      }));
      if (c.errorPath !== undefined) expect(local.json.errors.map((e: { path: string }) => e.path)).toContain(c.errorPath);

      if (c.gateway) {
        const expected = deployed[c.gateway];
        expect(local.status).toBe(expected.status);
        expect(local.contentType).toBe(expected.contentType);
        expect(local.json).toEqual(expected.body);
      } else {
        const h = c.handler!;
        const body = c.body === undefined || c.body === '' ? undefined : c.body;
        const result = await inProcess[h.name].handler(apiEvent({
          method: c.method,
          resource: h.resource,
          pathParameters: h.pathParameters,
          query: h.query,
          body,
          headers: body !== undefined || c.contentType ? { 'Content-Type': c.contentType ?? 'application/json' } : {},
          apiKeyId: 'local-test-key-id',
        }));
        expect(local.status).toBe(result.statusCode);
        expect(local.contentType).toBe(header(result, 'content-type'));
        expect(local.json).toEqual(JSON.parse(result.body));
      }
      if (c.notAnObject) {
        const validator = deployed.BAD_REQUEST_BODY as { status: number; body: { type: string; title: string; status: number } };
        expect([local.status, local.json.type, local.json.title]).toEqual([validator.status, validator.body.type, validator.body.title]);
      }
    }, 20_000);

    test('none of them reached the queue of the in-process functions', () => {
      expect(sqsMocks).toHaveLength(2);
      for (const mock of sqsMocks) expect(mock.calls()).toHaveLength(0);
    });
  });

  test('SIGTERM stops it cleanly: exit code 0, and the API is gone', async () => {
    const { apiUrl } = dev;
    expect((await call(apiUrl, 'GET', '/subscriptions')).status).toBe(200);
    const exit = await kill(dev, 'SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(dev.stdout()).toContain('SIGTERM: stopping');
    await expect(fetch(`${apiUrl}/subscriptions`, { headers: { 'x-api-key': API_KEY } })).rejects.toThrow();
  }, 20_000);
});

describe('npm run dev -- --fifo: the pipeline as fifo: true deploys it', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-local-runtime-fifo-'));
  const receivers = new ReceiverPool();
  let dev: DevProcess;

  beforeAll(async () => {
    dev = await startDev(dataDir, 'fifo');
  }, 60_000);

  afterAll(async () => {
    await killAllChildren();
    await receivers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('FIFO queues (.fifo names); the functions get QUEUE_FIFO=true and MAX_RECEIVE_COUNT = the events queue\'s maxReceiveCount', async () => {
    expect(dev.stdout()).toMatch(/^\s*Queues\s+ens-events\.fifo, ens-events-dlq\.fifo\s+\(FIFO/m);
    const config = await call(dev.apiUrl, 'GET', '/__local/config', { key: null });
    expect(config.status).toBe(200);
    expect(config.json.queue).toEqual({ name: 'ens-events.fifo', fifo: true, maxReceiveCount: RETRY_SCHEDULE.split(',').length + 5 });
    expect(config.json.functionEnvironment).toEqual(expect.objectContaining({
      QUEUE_URL: expect.stringMatching(/\/ens-events\.fifo$/),
      DEAD_LETTER_QUEUE_URL: expect.stringMatching(/\/ens-events-dlq\.fifo$/),
      QUEUE_FIFO: 'true',
      MAX_RECEIVE_COUNT: String(config.json.queue.maxReceiveCount),
    }));
  });

  test('one ordering key: delivered in the order published, each once, through retries', async () => {
    const tries = new Map<string, number>();
    const order: string[] = [];
    const receiver = await receivers.start({
      responder: (request) => {
        const id = String(request.headers['webhook-id']);
        tries.set(id, (tries.get(id) ?? 0) + 1);
        // Every notification's first attempt fails: its group waits for its retry.
        if (tries.get(id) === 1) return { status: 503 };
        order.push((JSON.parse(request.body) as WebhookPayload).data.title);
        return { status: 200 };
      },
    });
    const subscription = await call(dev.apiUrl, 'POST', '/subscriptions', {
      body: { eventType: 'ordered.*', severityFilter: 'LOW', channel: 'WEBHOOK', target: `${receiver.url}/hooks/ordered` },
    });
    expect(subscription.status).toBe(201);
    const titles = [1, 2, 3, 4, 5].map((n) => `step ${n}`);
    const ids: string[] = [];
    for (const title of titles.slice(0, 2)) {
      const answer = await call(dev.apiUrl, 'POST', '/events', { body: { eventType: 'ordered.step', severity: 'LOW', title, orderingKey: 'deploy-42' } });
      expect(answer.status).toBe(202);
      ids.push(answer.json.eventId);
    }
    const batch = await call(dev.apiUrl, 'POST', '/events/batch', {
      body: { events: titles.slice(2).map((title) => ({ eventType: 'ordered.step', severity: 'LOW', title, orderingKey: 'deploy-42' })) },
    });
    expect(batch.status).toBe(202);
    ids.push(...batch.json.events.map((e: { eventId: string }) => e.eventId));
    await explained(dev, until(async () => {
      const all = await Promise.all(ids.map((id) => call(dev.apiUrl, 'GET', `/events/${id}`)));
      return all.every((s) => s.status === 200 && s.json.deliveryStatus === 'COMPLETED') ? true : undefined;
    }, 'every event of the group to be delivered', 20_000, 100));
    expect(order).toEqual(titles);
    expect([...tries.values()]).toEqual(titles.map(() => 2));
  }, 30_000);

  test('SIGKILL while retries are pending, restart on the same data folder: every accepted event delivered, none twice', async () => {
    dev = await crashAndRestart('fifo', dev, dataDir, receivers);
  }, 45_000);
});
