import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DevProcess, explained, kill, killAllChildren, sleep, startDev, until } from '../helpers/dev-process';
import { Receiver, ReceiverPool } from '../helpers/receivers';

/*
 * Payload filters (README "Payload filters") through `npm run dev` as a user runs it: real
 * receivers get only the events their subscription's filter matches, numbers compared as
 * published; bad patterns are 400s at create and PATCH; a PATCHed filter takes effect.
 * Bodies are sent as text, so the big numbers in them reach the service as written.
 */

const KEY = 'filters-key-0000001';
const receivers = new ReceiverPool();
const folders: string[] = [];
let dev: DevProcess;
let receiver: Receiver;

beforeAll(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-filters-'));
  folders.push(dataDir);
  receiver = await receivers.start({ responder: () => ({ status: 204 }) });
  dev = await startDev(['--data-dir', dataDir, '--api-key', KEY, '--allow-private-targets', '--retry-schedule', '0s,1s']);
}, 60_000);

afterAll(async () => {
  if (dev) await kill(dev, 'SIGTERM');
  await killAllChildren();
  await receivers.closeAll();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

async function call(method: string, route: string, body?: string) {
  const response = await fetch(dev.apiUrl + route, {
    method,
    headers: { 'x-api-key': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body,
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), text, json: text ? JSON.parse(text) : undefined };
}

const subscribe = (route: string, filter?: string) =>
  call('POST', '/subscriptions', `{"eventType":"order.*","channel":"WEBHOOK","target":"${receiver.url}${route}"${filter ? `,"filter":${filter}` : ''}}`);

/** The processor caches subscription lists for 1 s locally: wait it out after a change. */
const cacheTime = () => sleep(1200);

/** Publishes an event (JSON text) and waits until every delivery is done; returns the subscriptions it reached. */
async function publish(event: string): Promise<{ eventId: string; reached: string[] }> {
  const answer = await call('POST', '/events', event);
  expect(answer.status).toBe(202);
  const eventId = answer.json.eventId as string;
  const done = await explained(dev, until(async () => {
    const view = await call('GET', `/events/${eventId}`);
    return view.status === 200 && view.json.deliveryStatus === 'COMPLETED' ? view.json : undefined;
  }, `event ${eventId} to be delivered`));
  return { eventId, reached: done.notifications.map((n: { subscriptionId: string }) => n.subscriptionId).sort() };
}

const order = (severity: string, details?: string) =>
  `{"eventType":"order.created","severity":"${severity}","title":"Order"${details ? `,"details":${details}` : ''}}`;

/** The event ids a receiver path got, in order. */
const receivedAt = (route: string) => receiver.requestsTo(route).map((r) => JSON.parse(r.body).data.eventId as string);

const BIG = '{"details":{"amount":[{"numeric":[">",9007199254740992]}],"region":["eu-west-1","eu-central-1"]}}';
const OTHER = '{"severity":[{"anything-but":"LOW"}],"details":{"coupon":[{"exists":false}]}}';

describe('payload filters through the local runtime', () => {
  const ids = { big: '', all: '', other: '' };

  test('a filter is stored and shown exactly as sent', async () => {
    const big = await subscribe('/big', BIG);
    expect(big.status).toBe(201);
    // The response keeps the digits a double would round (…993 → …992 would be a different filter).
    expect(big.text).toContain(`"filter":${BIG}`);
    ids.big = big.json.subscriptionId;
    const all = await subscribe('/all');
    expect(all.status).toBe(201);
    expect(all.json).not.toHaveProperty('filter');
    ids.all = all.json.subscriptionId;
    const other = await subscribe('/other', OTHER);
    expect(other.status).toBe(201);
    ids.other = other.json.subscriptionId;

    const got = await call('GET', `/subscriptions/${ids.big}`);
    expect(got.text).toContain(`"filter":${BIG}`);
    const listed = await call('GET', '/subscriptions');
    expect(listed.text).toContain(`"filter":${BIG}`);
    expect(listed.text).toContain(`"filter":${OTHER}`);
  });

  test('only matching events are delivered, numbers compared as published', async () => {
    await cacheTime();
    const e1 = await publish(order('HIGH', '{"amount":9007199254740993,"region":"eu-west-1"}'));
    const e2 = await publish(order('HIGH', '{"amount":9007199254740992,"region":"eu-west-1"}'));
    const e3 = await publish(order('LOW', '{"amount":1e400,"region":"eu-central-1"}'));
    const e4 = await publish(order('HIGH', '{"amount":5e400,"region":"us-east-1","coupon":"X"}'));
    const e5 = await publish(order('MEDIUM'));

    expect(e1.reached).toEqual([ids.big, ids.all, ids.other].sort());
    expect(e2.reached).toEqual([ids.all, ids.other].sort());
    expect(e3.reached).toEqual([ids.big, ids.all].sort());
    expect(e4.reached).toEqual([ids.all]);
    expect(e5.reached).toEqual([ids.all, ids.other].sort());

    expect(receivedAt('/big')).toEqual([e1.eventId, e3.eventId]);
    expect(receivedAt('/all')).toEqual([e1, e2, e3, e4, e5].map((e) => e.eventId));
    expect(receivedAt('/other')).toEqual([e1.eventId, e2.eventId, e5.eventId]);
    // What was delivered is what was published, digit for digit.
    expect(receiver.requestsTo('/big')[0].body).toContain('"amount":9007199254740993');
    expect(receiver.requestsTo('/big')[1].body).toContain('"amount":1e400');
  });

  test('bad patterns at create: 400 problem+json naming the bad part, nothing created', async () => {
    const cases: [string, string, RegExp][] = [
      ['{"details":{"amount":[{"numeric":[">","100"]}]}}', '/filter/details/amount/0/numeric/1', /must be a number/],
      ['{"details":{"amount":[{"between":[1,2]}]}}', '/filter/details/amount/0/between', /is not an operator/],
      ['{"details":{"amount":[{"numeric":[">",5,"<",1]}]}}', '/filter/details/amount/0/numeric', /empty range/],
      ['{"details":{"amount":[{"numeric":["<",5,">",1]}]}}', '/filter/details/amount/0/numeric/0', /lower bound/],
      ['{"details":{"region":[]}}', '/filter/details/region', /at least one value/],
      ['{"details":{"region":"eu-west-1"}}', '/filter/details/region', /must be a list of values/],
      ['"severity=HIGH"', '/filter', /must be an object/],
      ['[{"severity":["HIGH"]}]', '/filter', /must be an object/],
      ['{}', '/filter', /at least one field/],
      [`{"title":["${'x'.repeat(5000)}"]}`, '/filter', /at most 4096 bytes/],
      ['{"a":{"b":{"c":{"d":{"e":{"f":[1]}}}}}}', '/filter/a/b/c/d/e', /deeper than 5 levels/],
      [`{"n":[${Array.from({ length: 101 }, (_, i) => i).join(',')}]}`, '/filter', /at most 100/],
      ['{"source":["api"]}', '/filter/source', /set by the service/],
      // Only the exact text shows these (the parsed body has lost them).
      ['{"__proto__":{"a":[{"bad":1}]}}', '/filter/__proto__/a/0/bad', /is not an operator/],
      ['{"a":[1],"a":[2]}', '/filter/a', /named twice/],
      ['{"n":[{"numeric":[">",9007199254740993,"<",9007199254740993]}]}', '/filter/n/0/numeric', /empty range/],
    ];
    for (const [filter, pointer, message] of cases) {
      const answer = await subscribe('/bad', filter);
      expect([filter.slice(0, 60), answer.status, answer.type]).toEqual([filter.slice(0, 60), 400, 'application/problem+json']);
      expect(answer.json.errors).toEqual(expect.arrayContaining([{ path: pointer, message: expect.stringMatching(message) }]));
    }
    // With other mistakes, all are reported together.
    const several = await call('POST', '/subscriptions', '{"eventType":"order.*","channel":"PIGEON","target":"x","filter":{"a":[]}}');
    expect(several.status).toBe(400);
    expect(several.json.errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['/channel', '/filter/a']));
    expect((await call('GET', '/subscriptions')).json.items).toHaveLength(3);
  });

  test('PATCH: a bad filter is 400 and changes nothing; a new filter takes effect; null removes it', async () => {
    const bad = await call('PATCH', `/subscriptions/${ids.big}`, '{"filter":{"a":[{"numeric":["<"]}]},"description":"x"}');
    expect(bad.status).toBe(400);
    expect(bad.json.errors).toEqual([{ path: '/filter/a/0/numeric', message: expect.stringMatching(/must be \[operator, number\]/) }]);
    const unchanged = await call('GET', `/subscriptions/${ids.big}`);
    expect(unchanged.text).toContain(`"filter":${BIG}`);
    expect(unchanged.json).not.toHaveProperty('description');

    const us = '{"details":{"region":[{"prefix":"us-"}]}}';
    const patched = await call('PATCH', `/subscriptions/${ids.big}`, `{"filter":${us}}`);
    expect(patched.status).toBe(200);
    expect(patched.text).toContain(`"filter":${us}`);
    await cacheTime();
    const e6 = await publish(order('HIGH', '{"region":"us-east-1"}'));
    const e7 = await publish(order('HIGH', '{"amount":9007199254740993,"region":"eu-west-1"}'));
    expect(e6.reached).toContain(ids.big);
    expect(e7.reached).not.toContain(ids.big);

    // Other changes leave the filter alone.
    const described = await call('PATCH', `/subscriptions/${ids.big}`, '{"description":"US orders"}');
    expect(described.text).toContain(`"filter":${us}`);

    const removed = await call('PATCH', `/subscriptions/${ids.big}`, '{"filter":null}');
    expect(removed.status).toBe(200);
    expect(removed.json).not.toHaveProperty('filter');
    expect((await call('GET', `/subscriptions/${ids.big}`)).json).not.toHaveProperty('filter');
    await cacheTime();
    const e8 = await publish(order('LOW', '{"region":"ap-south-1"}'));
    expect(e8.reached).toContain(ids.big);
    expect(receivedAt('/big').slice(-2)).toEqual([e6.eventId, e8.eventId]);
  });
});
