import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openApiDocument } from '../../lambda/openapi/document';
import { DevExitedError, DevProcess, killAllChildren, startDev, until } from '../helpers/dev-process';
import { observe, OpenApiChecker } from '../helpers/openapi';
import { ReceiverPool } from '../helpers/receivers';

/*
 * Endpoint health through `npm run dev` as a user runs it (docs/architecture.md "Endpoint
 * health"): a subscription whose every delivery fails for --disable-after is disabled with its
 * reason, its open notifications end SKIPPED, it gets nothing more; PATCH enabled: true revives it.
 * Every subscriptions answer is checked against the OpenAPI document (health, disabledReason, …).
 */

const KEY = 'health-test-key-0001';
const receivers = new ReceiverPool();
const folders: string[] = [];

afterAll(async () => {
  await killAllChildren();
  await receivers.closeAll();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

const checker = new OpenApiChecker(openApiDocument());

const call = async (dev: DevProcess, method: string, route: string, body?: unknown) => {
  const response = await observe(await fetch(dev.apiUrl + route, {
    method,
    headers: { 'x-api-key': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
  const resource = route.split('?')[0].replace(/^\/subscriptions\/[^/]+/, '/subscriptions/{subscriptionId}').replace(/^\/events\/[^/]+$/, '/events/{eventId}');
  expect(checker.responseErrors(method, resource, response)).toEqual([]);
  return { status: response.status, json: response.text ? JSON.parse(response.text) : undefined };
};

const dataDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-health-'));
  folders.push(dir);
  return dir;
};

test('--disable-after 2s: disabled with the reason, SKIPPED, nothing more sent; PATCH enabled: true revives it', async () => {
  const failing = await receivers.start({ responder: () => ({ status: 500 }) });
  const healthy = await receivers.start();
  const dev = await startDev(['--data-dir', dataDir(), '--api-key', KEY, '--allow-private-targets', '--retry-schedule', '0s,1s,1s,1s,1s,1s,1s',
    '--disable-after', '2s']);
  const subscribe = async (target: string) => {
    const answer = await call(dev, 'POST', '/subscriptions', { eventType: 'health.check', channel: 'WEBHOOK', target });
    expect(answer.status).toBe(201);
    return answer.json.subscriptionId as string;
  };
  const broken = await subscribe(`${failing.url}/hook`);
  await subscribe(`${healthy.url}/hook`);
  await new Promise((resolve) => setTimeout(resolve, 1200)); // the processor's 1 s subscription cache
  const publish = async (title: string) => {
    const answer = await call(dev, 'POST', '/events', { eventType: 'health.check', severity: 'HIGH', title });
    expect(answer.status).toBe(202);
    return answer.json.eventId as string;
  };

  const first = await publish('first');
  const disabled = await until(async () => {
    const sub = (await call(dev, 'GET', `/subscriptions/${broken}`)).json;
    return sub.enabled === false ? sub : undefined;
  }, 'the failing subscription to be disabled', 30_000, 200);
  expect(disabled).toMatchObject({
    disabledReason: expect.stringMatching(/^every delivery failed for 2 s \(since .+\); last error: receiver answered 500$/),
    disabledAt: expect.any(String),
    health: { state: 'closed', consecutiveFailures: expect.any(Number), failingSince: expect.any(String) },
  });
  expect(Date.parse(disabled.disabledAt) - Date.parse(disabled.health.failingSince)).toBeGreaterThanOrEqual(2000);

  // Its notification ends SKIPPED (the healthy one DELIVERED): the event is complete.
  const event = await until(async () => {
    const answer = (await call(dev, 'GET', `/events/${first}`)).json;
    return answer?.deliveryStatus === 'COMPLETED' ? answer : undefined;
  }, 'the first event to be complete', 30_000, 200);
  const mine = (id: string) => event.notifications.find((n: { subscriptionId: string }) => n.subscriptionId === id);
  expect(mine(broken)).toMatchObject({ status: 'SKIPPED' });
  expect(mine(broken).attempts.every((a: { outcome: string }) => a.outcome === 'FAILED')).toBe(true);

  // Disabled: the next event reaches only the healthy subscriber.
  const sent = failing.requests.length;
  const second = await publish('second');
  await until(() => healthy.requests.some((r) => r.body.includes(second)) || undefined, 'the second event at the healthy receiver', 15_000);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(failing.requests).toHaveLength(sent);

  // Fixed and revived: a fresh health record, and deliveries again.
  failing.respond(() => ({ status: 204 }));
  const revived = await call(dev, 'PATCH', `/subscriptions/${broken}`, { enabled: true });
  expect(revived.status).toBe(200);
  expect(revived.json).toMatchObject({ enabled: true, health: { state: 'closed', consecutiveFailures: 0 } });
  expect(revived.json).not.toHaveProperty('disabledReason');
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const third = await publish('third');
  await until(() => failing.requests.some((r) => r.body.includes(third)) || undefined, 'the third event at the revived receiver', 15_000);
  const final = await until(async () => {
    const answer = (await call(dev, 'GET', `/events/${third}`)).json;
    return answer?.deliveryStatus === 'COMPLETED' ? answer : undefined;
  }, 'the third event to be complete', 15_000, 200);
  expect(final.notifications.map((n: { status: string }) => n.status)).toEqual(['DELIVERED', 'DELIVERED']);
}, 90_000);

test('--disable-after: a value that is no duration is a usage error; one the construct refuses fails the start with its message', async () => {
  await expect(startDev(['--data-dir', dataDir(), '--disable-after', 'soon'])).rejects.toMatchObject({
    code: 2, stderr: expect.stringContaining('--disable-after: "soon" is not a duration'),
  } satisfies Partial<DevExitedError>);
  await expect(startDev(['--data-dir', dataDir(), '--disable-after', '0s'])).rejects.toMatchObject({
    code: 1, stderr: expect.stringContaining('disableAfter must be whole seconds between 1 second and 365 days'),
  } satisfies Partial<DevExitedError>);
}, 60_000);

test('--circuit-breaker 2,1m: after two failures in a row the endpoint gets no request; the deliveries wait, pending, and the API shows it open', async () => {
  const down = await receivers.start({ responder: () => ({ status: 503 }) });
  const dev = await startDev(['--data-dir', dataDir(), '--api-key', KEY, '--allow-private-targets', '--retry-schedule', '0s,1s,1s,1s,1s,1s',
    '--circuit-breaker', '2,1m']);
  const created = await call(dev, 'POST', '/subscriptions', { eventType: 'health.breaker', channel: 'WEBHOOK', target: `${down.url}/hook` });
  expect(created.status).toBe(201);
  const id = created.json.subscriptionId as string;
  await new Promise((resolve) => setTimeout(resolve, 1200)); // the processor's 1 s subscription cache
  const events: string[] = [];
  for (let i = 0; i < 4; i++) {
    const answer = await call(dev, 'POST', '/events', { eventType: 'health.breaker', severity: 'HIGH', title: `e${i}` });
    expect(answer.status).toBe(202);
    events.push(answer.json.eventId);
  }
  const open = await until(async () => {
    const sub = (await call(dev, 'GET', `/subscriptions/${id}`)).json;
    return sub.health?.state === 'open' ? sub : undefined;
  }, 'the breaker to open', 20_000, 100);
  expect(open).toMatchObject({ enabled: true, health: { state: 'open', consecutiveFailures: expect.any(Number), openUntil: expect.any(String) } });
  expect(open.health.consecutiveFailures).toBeGreaterThanOrEqual(2);
  // Open for a minute: the retries (1 s apart) are deferred without a request.
  const sent = down.requests.length;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect(down.requests).toHaveLength(sent);
  for (const eventId of events) {
    const event = (await call(dev, 'GET', `/events/${eventId}`)).json;
    expect(event.notifications).toEqual([expect.objectContaining({ subscriptionId: id, status: 'PENDING' })]);
  }
}, 60_000);

test('--circuit-breaker: a value that is not off or failures[,cooldown[,maxCooldown]] is a usage error; one the construct refuses fails the start', async () => {
  await expect(startDev(['--data-dir', dataDir(), '--circuit-breaker', 'sometimes'])).rejects.toMatchObject({
    code: 2, stderr: expect.stringContaining('--circuit-breaker "sometimes": expected off, or failures[,cooldown[,maxCooldown]]'),
  } satisfies Partial<DevExitedError>);
  await expect(startDev(['--data-dir', dataDir(), '--circuit-breaker', '5,10m,5m'])).rejects.toMatchObject({
    code: 1, stderr: expect.stringContaining('circuitBreaker.maxCooldown must be whole seconds from circuitBreaker.cooldown to 1 hour'),
  } satisfies Partial<DevExitedError>);
}, 60_000);
