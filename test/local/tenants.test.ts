import { createHmac, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DevProcess, kill, killAllChildren, startDev, until } from '../helpers/dev-process';
import { Receiver, ReceiverPool } from '../helpers/receivers';

/*
 * Tenants (docs/architecture.md "Tenants") through `npm run dev` as a user runs it, in both isolation modes: what
 * each API key may see and receive through every route, with events from the API, from an
 * inbound webhook source and sent straight to the queue (grantPublish). Key A is the runtime's
 * first --api-key, the service's own key: inbound and queue events belong to it.
 */

const KEY_A = 'tenant-a-key-000001';
const KEY_B = 'tenant-b-key-000002';
const KEY_C = 'tenant-c-key-000003';
const SHOP_SECRET = 'shpss_tenants_test_secret';

const receivers = new ReceiverPool();
const folders: string[] = [];

afterAll(async () => {
  await killAllChildren();
  await receivers.closeAll();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

interface Tenants {
  readonly dev: DevProcess;
  readonly receiver: Receiver;
  readonly subscriptions: Record<'a' | 'b', string>;
  readonly events: Record<'fromA' | 'fromB' | 'inbound' | 'queue', string>;
}

const call = async (dev: DevProcess, key: string, method: string, route: string, body?: unknown) => {
  const response = await fetch(dev.apiUrl + route, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: text ? JSON.parse(text) : undefined };
};

/** Starts the runtime, subscribes A and B to everything, and publishes one event each way. */
async function setUp(isolation: 'shared' | 'api-key'): Promise<Tenants> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `ens-tenants-${isolation}-`));
  folders.push(dataDir);
  const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
  const dev = await startDev(['--data-dir', dataDir, '--api-key', KEY_A, '--api-key', KEY_B, '--api-key', KEY_C, '--allow-private-targets',
    '--retry-schedule', '0s,1s', '--isolation', isolation, '--inbound', `shop=shopify:${SHOP_SECRET}`]);
  const subscribe = async (key: string, path_: string) => {
    const answer = await call(dev, key, 'POST', '/subscriptions', { eventType: '*', channel: 'WEBHOOK', target: `${receiver.url}${path_}` });
    expect(answer.status).toBe(201);
    return answer.json.subscriptionId as string;
  };
  const subscriptions = { a: await subscribe(KEY_A, '/a'), b: await subscribe(KEY_B, '/b') };
  // A new subscription may take the processor's cache time (1 s locally) to take effect.
  await new Promise((resolve) => setTimeout(resolve, 1200));

  const publish = async (key: string, title: string) => {
    const answer = await call(dev, key, 'POST', '/events', { eventType: 'tenant.update', severity: 'HIGH', title, details: { secret: `${title}-${randomUUID()}` } });
    expect(answer.status).toBe(202);
    return answer.json.eventId as string;
  };
  const fromA = await publish(KEY_A, 'from-a');
  const fromB = await publish(KEY_B, 'from-b');

  const body = '{"id":18446744073709551615,"note":"from-shop"}';
  const inboundAnswer = await fetch(`${dev.apiUrl}/webhooks/shop`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-shopify-topic': 'orders/create',
      'x-shopify-webhook-id': randomUUID(),
      'x-shopify-hmac-sha256': createHmac('sha256', SHOP_SECRET).update(body).digest('base64'),
    },
    body,
  });
  expect(inboundAnswer.status).toBe(202);
  const inbound = ((await inboundAnswer.json()) as { eventId: string }).eventId;

  // grantPublish code sends a bare envelope straight to the events queue.
  const config = (await (await fetch(`${dev.apiUrl}/__local/config`)).json()) as { queueUrl: string; sqsEndpoint: string; region: string };
  const sqs = new SQSClient({ endpoint: config.sqsEndpoint, region: config.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await sqs.send(new SendMessageCommand({ QueueUrl: config.queueUrl, MessageBody: JSON.stringify({ eventType: 'tenant.update', severity: 'HIGH', title: 'from-queue' }) }));
  sqs.destroy();
  // Its id is derived from the SQS message id; find it through the receiver once delivered.
  const queueDelivery = await until(() => receiver.requests.find((r) => JSON.parse(r.body).data.title === 'from-queue'), 'the queue event to be delivered');
  const queue = JSON.parse(queueDelivery.body).data.eventId as string;

  // Everything has reached its final state.
  for (const id of [fromA, fromB, inbound, queue]) {
    await until(async () => {
      for (const key of [KEY_A, KEY_B]) {
        const answer = await call(dev, key, 'GET', `/events/${id}`);
        if (answer.status === 200 && answer.json.deliveryStatus === 'COMPLETED') return true;
      }
      return undefined;
    }, `event ${id} to complete`);
  }
  return { dev, receiver, subscriptions, events: { fromA, fromB, inbound, queue } };
}

const titlesAt = (t: Tenants, route: string) =>
  t.receiver.requests.filter((r) => r.path === route).map((r) => JSON.parse(r.body).data.title as string).sort();

describe.each(['shared', 'api-key'] as const)('tenants, --isolation %s', (isolation) => {
  let t: Tenants;

  beforeAll(async () => {
    t = await setUp(isolation);
  }, 90_000);

  afterAll(async () => {
    if (t) await kill(t.dev, 'SIGTERM');
  });

  test('who receives what', () => {
    const everything = ['Shopify orders/create', 'from-a', 'from-b', 'from-queue'];
    if (isolation === 'shared') {
      expect(titlesAt(t, '/a')).toEqual(everything);
      expect(titlesAt(t, '/b')).toEqual(everything);
    } else {
      // A is the service's own key: its own events, the inbound source's and the queue's.
      expect(titlesAt(t, '/a')).toEqual(['Shopify orders/create', 'from-a', 'from-queue']);
      expect(titlesAt(t, '/b')).toEqual(['from-b']);
      expect(t.receiver.requests.filter((r) => r.path === '/a').map((r) => r.body).join()).not.toContain('from-b');
    }
  });

  test('GET /events/{eventId}: the publisher and the keys it reached, each seeing only its own notifications; anyone else 404', async () => {
    const view = async (key: string, id: string) => call(t.dev, key, 'GET', `/events/${id}`);
    const ownIds = (answer: { json: any }) => answer.json.notifications.map((n: { subscriptionId: string }) => n.subscriptionId);

    // B's event, seen by B: only B's notification; A's existence at most as a count.
    const bOwn = await view(KEY_B, t.events.fromB);
    expect(bOwn.status).toBe(200);
    expect(ownIds(bOwn)).toEqual([t.subscriptions.b]);
    expect(bOwn.text).not.toContain(t.subscriptions.a);
    expect(bOwn.text).not.toContain('/a');
    expect(bOwn.json.otherNotifications.count).toBe(isolation === 'shared' ? 1 : 0);

    const bByA = await view(KEY_A, t.events.fromB);
    const missing = await view(KEY_A, `evt_${'0'.repeat(26)}`);
    if (isolation === 'shared') {
      // A's subscription received it: A may read it, with only its own notification.
      expect(bByA.status).toBe(200);
      expect(ownIds(bByA)).toEqual([t.subscriptions.a]);
      expect(bByA.text).not.toContain(t.subscriptions.b);
    } else {
      expect(bByA.status).toBe(404);
      expect(bByA.json.title).toBe(missing.json.title);
    }
    // C neither published nor received anything.
    for (const id of Object.values(t.events)) expect((await view(KEY_C, id)).status).toBe(404);
    // The inbound and queue events belong to A (the service's own key).
    for (const id of [t.events.inbound, t.events.queue]) {
      expect((await view(KEY_A, id)).status).toBe(200);
      expect((await view(KEY_B, id)).status).toBe(isolation === 'shared' ? 200 : 404);
    }
  });

  test('subscriptions: each key lists, reads and changes only its own', async () => {
    const listA = await call(t.dev, KEY_A, 'GET', '/subscriptions');
    expect(listA.json.items.map((s: { subscriptionId: string }) => s.subscriptionId)).toEqual([t.subscriptions.a]);
    expect((await call(t.dev, KEY_A, 'GET', `/subscriptions/${t.subscriptions.b}`)).status).toBe(404);
    expect((await call(t.dev, KEY_A, 'PATCH', `/subscriptions/${t.subscriptions.b}`, { enabled: false })).status).toBe(404);
    expect((await call(t.dev, KEY_A, 'DELETE', `/subscriptions/${t.subscriptions.b}`)).status).toBe(404);
    expect((await call(t.dev, KEY_B, 'GET', `/subscriptions/${t.subscriptions.b}`)).json.enabled).toBe(true);
  });
});
