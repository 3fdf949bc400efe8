import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { main } from '../../cli/main';
import { DevProcess, explained, killAllChildren, sleep, startDev, until } from '../helpers/dev-process';
import { Receiver, ReceiverPool } from '../helpers/receivers';

/*
 * A fan-out to 1,000 subscriptions through `npm run dev` as a user runs it (docs/architecture.md
 * "Fan-out"): ten API keys with 100 webhook subscriptions each (the default per-key limit), one
 * event, a real receiver that verifies every signature and counts distinct webhook-ids. The
 * 10,000-subscription case is for the benchmark (`npm run bench -- --fan-out 10000`).
 */

const KEYS = Array.from({ length: 10 }, (_, i) => `fan-out-key-${String(i).padStart(4, '0')}`);
const PER_KEY = 100;
const K = KEYS.length * PER_KEY;

const receivers = new ReceiverPool();
const folders: string[] = [];

afterAll(async () => {
  await killAllChildren();
  await receivers.closeAll();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

const call = async (dev: DevProcess, key: string, method: string, route: string, body?: unknown) => {
  const response = await fetch(dev.apiUrl + route, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
};

/** Distinct webhook-ids the receiver got, each verified against the secret of the subscription its path names. */
function verifiedIds(receiver: Receiver, secrets: ReadonlyMap<string, string>, eventId: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const request of receiver.requests) {
    const secret = secrets.get(request.path);
    if (!secret) throw new Error(`a request to ${request.path}, which no subscription names`);
    const payload = new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as { data: { eventId: string } };
    if (payload.data.eventId !== eventId) throw new Error(`${request.path} got event ${payload.data.eventId}, not ${eventId}`);
    const id = String(request.headers['webhook-id']);
    ids.set(id, (ids.get(id) ?? 0) + 1);
  }
  return ids;
}

test.each([
  ['standard queue: through 14 follow-up messages', false],
  ['FIFO queue: from the event\'s own message (it keeps the order of its key)', true],
])('one event to 1,000 webhook subscriptions, each gets it exactly once; GET /events/{id} accounts for all — %s', async (_name, fifo) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-fan-out-'));
  folders.push(dataDir);
  const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
  const dev = await startDev(['--data-dir', dataDir, ...KEYS.flatMap((k) => ['--api-key', k]), '--allow-private-targets', '--retry-schedule', '0s,1s,2s',
    ...(fifo ? ['--fifo'] : [])]);

  // 100 subscriptions per key, the keys in parallel.
  const secrets = new Map<string, string>();
  await Promise.all(KEYS.map(async (key, k) => {
    for (let i = 0; i < PER_KEY; i++) {
      const hook = `/hooks/${k}/${i}`;
      const created = await call(dev, key, 'POST', '/subscriptions', { eventType: 'release.*', channel: 'WEBHOOK', target: `${receiver.url}${hook}` });
      expect(created.status).toBe(201);
      secrets.set(hook, created.json.secret);
    }
  }));
  expect(secrets.size).toBe(K);
  await sleep(1200); // the processor's subscription cache (1 s locally)

  const published = await call(dev, KEYS[0], 'POST', '/events', { eventType: 'release.published', severity: 'HIGH', title: 'Release 7' });
  expect(published.status).toBe(202);
  const eventId: string = published.json.eventId;

  await explained(dev, until(() => (new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size >= K ? true : undefined),
    `${K} distinct webhook-ids`, 45_000, 100));
  // Everything is on record once GET /events/{id} says so; anything sent twice would have arrived by then.
  const view = await explained(dev, until(async () => {
    const answer = await call(dev, KEYS[0], 'GET', `/events/${eventId}`);
    return answer.status === 200 && answer.json.deliveryStatus === 'COMPLETED' ? answer.json : undefined;
  }, 'deliveryStatus COMPLETED', 15_000, 200));

  const ids = verifiedIds(receiver, secrets, eventId);
  expect(ids.size).toBe(K);
  expect([...ids.values()].filter((n) => n !== 1)).toEqual([]);
  expect(receiver.requests).toHaveLength(K);
  // The publisher's key sees its 100 notifications in full and the other 900 as counts.
  expect(view.notifications).toHaveLength(PER_KEY);
  expect(view.notifications.every((n: { status: string; notificationId: string }) => n.status === 'DELIVERED' && ids.has(n.notificationId))).toBe(true);
  expect(view.otherNotifications).toEqual({ count: K - PER_KEY, byStatus: { DELIVERED: K - PER_KEY } });

  // Standard: the event went through follow-up messages, its own, then 14 parts of at most 75. FIFO: its own only.
  const puts = fs.readFileSync(path.join(dataDir, 'queues.log'), 'utf8').split('\n').filter(Boolean)
    .map((line) => JSON.parse(line)).filter((e) => e.op === 'put').map((e) => JSON.parse(e.m.body))
    .filter((m) => m.eventId === eventId);
  const parts = puts.filter((m) => m.fanOut).map((m) => m.fanOut.subscriptionIds.length);
  expect(puts).toHaveLength(fifo ? 1 : 1 + 14);
  expect(parts.every((n: number) => n <= 75)).toBe(true);
  expect(parts.reduce((a: number, b: number) => a + b, 0)).toBe(fifo ? 0 : K);
}, 90_000);

/** The queue log's messages of `eventId` on the events queue: put, and whether deleted since. */
function queuedMessages(dataDir: string, eventId: string): { body: any; deleted: boolean }[] {
  const entries = fs.readFileSync(path.join(dataDir, 'queues.log'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const deleted = new Set(entries.filter((e) => e.op === 'del').map((e) => e.id));
  return entries.filter((e) => e.op === 'put' && e.m.queue === 'ens-events')
    .map((e) => ({ id: e.m.id, body: JSON.parse(e.m.body) }))
    .filter((m) => m.body.eventId === eventId)
    .map((m) => ({ body: m.body, deleted: deleted.has(m.id) }));
}

test('a follow-up that failed for good is dead-lettered as itself; a DLQ redrive retries only its failed subscription, an event replay sends nothing twice', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-fan-out-dlq-'));
  folders.push(dataDir);
  const broken = '/hooks/1/7';
  let fixed = false;
  const receiver = await receivers.start({ responder: (r) => ({ status: r.path === broken && !fixed ? 500 : 200 }) });
  const keys = KEYS.slice(0, 2);
  const dev = await startDev(['--data-dir', dataDir, ...keys.flatMap((k) => ['--api-key', k]), '--allow-private-targets', '--retry-schedule', '0s']);
  const replay = async (...args: string[]) => {
    const lines: string[] = [];
    const code = await main(['replay', ...args, '--local', dev.apiUrl], { line: (text) => lines.push(text), progress: () => undefined });
    return { code, lines };
  };
  const secrets = new Map<string, string>();
  for (const [k, key] of keys.entries()) {
    for (let i = 0; i < PER_KEY; i++) {
      const hook = `/hooks/${k}/${i}`;
      const created = await call(dev, key, 'POST', '/subscriptions', { eventType: 'release.*', channel: 'WEBHOOK', target: `${receiver.url}${hook}` });
      expect(created.status).toBe(201);
      secrets.set(hook, created.json.secret);
    }
  }
  await sleep(1200);
  const published = await call(dev, keys[0], 'POST', '/events', { eventType: 'release.published', severity: 'HIGH', title: 'Release 8' });
  const eventId: string = published.json.eventId;
  const delivered = () => receiver.requests.filter((r) => r.path !== broken || fixed).length;

  // 200 subscriptions: 3 follow-ups; the one holding the broken receiver ends in the DLQ, with its part and the reason.
  const listed = await explained(dev, until(async () => {
    const result = await replay('dlq', 'list');
    return result.lines.some((l) => l.includes(eventId)) ? result : undefined;
  }, 'the failed follow-up in the DLQ', 30_000, 250));
  expect(listed.lines[0]).toMatch(/^1 message/);
  expect(listed.lines[1]).toMatch(new RegExp(`^${eventId}  release\\.published  part [123]/3  received .*delivery failed: sub_\\w+: receiver answered 500`));
  await until(() => (delivered() >= 2 * PER_KEY - 1 ? true : undefined), '199 deliveries');
  const view = await until(async () => {
    const answer = await call(dev, keys[1], 'GET', `/events/${eventId}`);
    return answer.json?.deliveryStatus === 'PARTIALLY_FAILED' ? answer.json : undefined;
  }, 'PARTIALLY_FAILED');
  const failed = view.notifications.find((n: { status: string }) => n.status === 'FAILED');
  expect(failed.reason).toContain('receiver answered 500');

  // The receiver is fixed; the DLQ goes back to the queue: only the failed subscription gets the event.
  fixed = true;
  expect((await replay('dlq', 'redrive')).code).toBe(0);
  await explained(dev, until(async () => ((await call(dev, keys[0], 'GET', `/events/${eventId}`)).json?.deliveryStatus === 'COMPLETED' ? true : undefined),
    'COMPLETED after the redrive', 20_000, 200));
  const toBroken = receiver.requests.filter((r) => r.path === broken);
  expect(toBroken).toHaveLength(2);
  expect(toBroken[1].headers['webhook-id']).toBe(failed.notificationId);

  // Replaying the whole event splits it again into redrive follow-ups: everything is delivered, so nothing is sent.
  expect((await replay('event', eventId)).code).toBe(0);
  await explained(dev, until(() => {
    // The dead-letter copy moved back by the redrive, and the replay's 3 follow-ups: all processed.
    const redriven = queuedMessages(dataDir, eventId).filter((m) => m.body.redrive && m.body.fanOut);
    return redriven.length === 1 + 3 && redriven.every((m) => m.deleted) ? true : undefined;
  }, 'the replay\'s follow-ups processed', 20_000, 200));
  await sleep(300);
  // Every webhook-id answered 200 exactly once (the broken receiver's first, failed attempt aside).
  const ids = verifiedIds({ ...receiver, requests: receiver.requests.filter((r) => r !== toBroken[0]) } as Receiver, secrets, eventId);
  expect(ids.size).toBe(2 * PER_KEY);
  expect([...ids.values()].filter((n) => n !== 1)).toEqual([]);
  expect(receiver.requests).toHaveLength(2 * PER_KEY + 1); // and the one failed attempt
}, 90_000);
