import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { DevProcess, explained, killAllChildren, sleep, startDev, until } from '../helpers/dev-process';
import { ReceivedRequest, Receiver, ReceiverPool } from '../helpers/receivers';

/*
 * Secret rotation through `npm run dev` (docs/architecture.md "Delivery") with a short
 * overlap (--secret-rotation-overlap 5s): deliveries during the overlap verify with the old and
 * the new secret (standardwebhooks, as receivers check them), afterwards only with the new one.
 */

const KEY = 'rotation-key-0000001';
const OTHER_KEY = 'rotation-key-0000002';
const OVERLAP_MS = 5000;
const receivers = new ReceiverPool();
const folders: string[] = [];
let dev: DevProcess;
let receiver: Receiver;

beforeAll(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-rotation-'));
  folders.push(dataDir);
  receiver = await receivers.start({ responder: () => ({ status: 204 }) });
  dev = await startDev(['--data-dir', dataDir, '--api-key', KEY, '--api-key', OTHER_KEY, '--allow-private-targets',
    '--retry-schedule', '0s,1s', '--secret-rotation-overlap', `${OVERLAP_MS / 1000}s`]);
});

afterAll(async () => {
  await killAllChildren();
  await receivers.closeAll();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

const call = async (method: string, route: string, body?: unknown, key = KEY) => {
  const response = await fetch(dev.apiUrl + route, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), json: text ? JSON.parse(text) : undefined };
};

/** Publishes an event of `type` and returns the request the receiver got for it. */
async function deliveredRequest(type: string): Promise<ReceivedRequest> {
  const answer = await call('POST', '/events', { eventType: type, severity: 'HIGH', title: type });
  expect(answer.status).toBe(202);
  const eventId = answer.json.eventId as string;
  return explained(dev, until(() => receiver.requests.find((r) => r.body.includes(eventId)), `the delivery of ${eventId}`, 20_000, 50));
}

const verifies = (secret: string, request: ReceivedRequest) => {
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
};

test('during the overlap deliveries verify with both secrets, after it only with the new one', async () => {
  const created = await call('POST', '/subscriptions', { eventType: 'rotation.*', channel: 'WEBHOOK', target: `${receiver.url}/hook` });
  expect(created.status).toBe(201);
  const { subscriptionId, secret: oldSecret } = created.json as { subscriptionId: string; secret: string };
  await sleep(1200); // the processor's subscription cache (1 s locally)
  const before = await deliveredRequest('rotation.before');
  expect(verifies(oldSecret, before)).toBe(true);

  const rotated = await call('POST', `/subscriptions/${subscriptionId}/secret/rotate`);
  expect(rotated.status).toBe(200);
  const newSecret = rotated.json.secret as string;
  expect(newSecret).toMatch(/^whsec_/);
  expect(newSecret).not.toBe(oldSecret);
  const expiresAt = Date.parse(rotated.json.previousSecretExpiresAt);
  expect(expiresAt - Date.now()).toBeLessThanOrEqual(OVERLAP_MS);

  // GET never shows a secret again.
  const shown = await call('GET', `/subscriptions/${subscriptionId}`);
  expect(JSON.stringify(shown.json)).not.toMatch(/whsec_/);

  await sleep(1200); // the processor sees the rotated subscription
  const during = await deliveredRequest('rotation.during');
  expect(during.at).toBeLessThan(expiresAt); // else this test proves nothing: it was too slow
  expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
  expect(verifies(newSecret, during)).toBe(true);
  expect(verifies(oldSecret, during)).toBe(true);

  await sleep(Math.max(0, expiresAt - Date.now()) + 200);
  const after = await deliveredRequest('rotation.after');
  expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
  expect(verifies(newSecret, after)).toBe(true);
  expect(verifies(oldSecret, after)).toBe(false);
});

test('an EMAIL subscription has no secret to rotate (409); another key\'s subscription is 404', async () => {
  const email = await call('POST', '/subscriptions', { eventType: 'x', channel: 'EMAIL', target: 'ops@example.com' });
  const rotatedEmail = await call('POST', `/subscriptions/${email.json.subscriptionId}/secret/rotate`);
  expect(rotatedEmail.status).toBe(409);
  expect(rotatedEmail.contentType).toBe('application/problem+json');

  const webhook = await call('POST', '/subscriptions', { eventType: 'x', channel: 'WEBHOOK', target: `${receiver.url}/other` });
  const foreign = await call('POST', `/subscriptions/${webhook.json.subscriptionId}/secret/rotate`, undefined, OTHER_KEY);
  expect(foreign.status).toBe(404);
  expect(foreign.contentType).toBe('application/problem+json');
  // Without a key API Gateway (the local stand-in) answers 403 before the function.
  const keyless = await fetch(`${dev.apiUrl}/subscriptions/${webhook.json.subscriptionId}/secret/rotate`, { method: 'POST' });
  expect(keyless.status).toBe(403);
});
