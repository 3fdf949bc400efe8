import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SLACK_LIMITS, SlackMessage } from '../../lambda/core/channels/slack';
import { DevProcess, explained, killAllChildren, startDev, until } from '../helpers/dev-process';
import { Receiver, ReceiverPool } from '../helpers/receivers';

/*
 * The Slack channel through `npm run dev` (docs/architecture.md "Delivery"): real receivers on
 * 127.0.0.1 stand in for Slack's incoming webhooks (--allow-private-targets) and answer as Slack
 * does: 200 `ok`, 429 with Retry-After, 404 `no_service`.
 */

const KEY = 'slack-test-key-000001';
const receivers = new ReceiverPool();
const folders: string[] = [];
let dev: DevProcess;

beforeAll(async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-slack-'));
  folders.push(dataDir);
  // Retry-After (4 s below) is honoured up to the step after the next (5 s).
  dev = await startDev(['--data-dir', dataDir, '--api-key', KEY, '--allow-private-targets', '--retry-schedule', '0s,1s,5s']);
});

afterAll(async () => {
  await killAllChildren();
  await receivers.closeAll();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

const call = async (method: string, route: string, body?: unknown) => {
  const response = await fetch(dev.apiUrl + route, {
    method,
    headers: { 'x-api-key': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
};

/** Subscribes `receiver` as a Slack hook for `eventType` and waits out the processor's 1 s cache. */
async function subscribeSlack(receiver: Receiver, eventType: string): Promise<string> {
  const answer = await call('POST', '/subscriptions', { eventType, channel: 'SLACK', target: `${receiver.url}/services/T1/B1/x` });
  expect(answer.status).toBe(201);
  expect(answer.json).toMatchObject({ channel: 'SLACK', enabled: true });
  expect(answer.json.secret).toBeUndefined();
  await new Promise((resolve) => setTimeout(resolve, 1200));
  return answer.json.subscriptionId as string;
}

async function publish(eventType: string, title: string, details?: unknown): Promise<string> {
  const answer = await call('POST', '/events', { eventType, severity: 'CRITICAL', title, ...(details === undefined ? {} : { details }) });
  expect(answer.status).toBe(202);
  return answer.json.eventId as string;
}

/** The event's one notification once it is no longer PENDING. */
const settled = (eventId: string) => explained(dev, until(async () => {
  const answer = await call('GET', `/events/${eventId}`);
  const notification = answer.status === 200 ? answer.json.notifications[0] : undefined;
  return notification && notification.status !== 'PENDING' ? notification : undefined;
}, `the notification of ${eventId} to settle`, 30_000, 200));

test('a SLACK subscription receives a Block Kit message, escaped and within Slack\'s limits', async () => {
  const slack = await receivers.start({ responder: () => ({ status: 200, body: 'ok' }) });
  await subscribeSlack(slack, 'slack.ok');
  // Sent as text: the 64-bit id must reach Slack with every digit.
  const posted = await fetch(`${dev.apiUrl}/events`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: '{"eventType":"slack.ok","severity":"CRITICAL","title":"<!channel> Deploy & <https://evil.example|click>",'
      + `"details":{"id":18446744073709551615,"note":"${'x'.repeat(5000)}"}}`,
  });
  expect(posted.status).toBe(202);
  const { eventId } = await posted.json() as { eventId: string };

  const notification = await settled(eventId);
  expect(notification).toMatchObject({ channel: 'SLACK', status: 'DELIVERED', attempts: [{ outcome: 'DELIVERED', httpStatus: 200 }] });
  expect(slack.requests).toHaveLength(1);
  const request = slack.requests[0];
  expect(request.method).toBe('POST');
  expect(request.path).toBe('/services/T1/B1/x');
  expect(request.headers['content-type']).toMatch(/^application\/json/);
  expect(request.headers['webhook-signature']).toBeUndefined();
  const message = JSON.parse(request.body) as SlackMessage;
  expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
  expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '&lt;!channel&gt; Deploy &amp; &lt;https://evil.example|click&gt;' } });
  expect(message.text).toBe('[CRITICAL] &lt;!channel&gt; Deploy &amp; &lt;https://evil.example|click&gt; (slack.ok)');
  const fields = message.blocks[1].type === 'section' ? message.blocks[1].fields!.map((f) => f.text) : [];
  expect(fields).toContain(`*Event id*\n${eventId}`);
  const details = message.blocks[2].type === 'section' ? message.blocks[2].text!.text : '';
  expect(details.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
  expect(details).toContain('"id": 18446744073709551615,');
  expect(details.endsWith('…\n```')).toBe(true);
  expect(request.body).not.toMatch(/<!channel>|<https:/);
});

test('429 with Retry-After is retried after it, then delivered', async () => {
  const slack = await receivers.start({
    responder: (_request, index) => (index === 0
      ? { status: 429, headers: { 'retry-after': '4', 'content-type': 'application/json' }, body: '{"ok":false,"error":"rate_limited"}' }
      : { status: 200, body: 'ok' }),
  });
  await subscribeSlack(slack, 'slack.limited');
  const eventId = await publish('slack.limited', 'rate limited');

  const notification = await settled(eventId);
  expect(notification.status).toBe('DELIVERED');
  expect(notification.attempts).toMatchObject([
    { outcome: 'FAILED', httpStatus: 429, error: 'Slack answered 429 rate_limited' },
    { outcome: 'DELIVERED', httpStatus: 200 },
  ]);
  expect(slack.requests).toHaveLength(2);
  // Without Retry-After the schedule's second step is 1 s ± 20 %; Slack asked for 4 s.
  expect(slack.requests[1].at - slack.requests[0].at).toBeGreaterThanOrEqual(3000);
});

test('404 no_service disables the subscription with Slack\'s reason; later events are not sent', async () => {
  const slack = await receivers.start({ responder: () => ({ status: 404, body: 'no_service' }) });
  const subscriptionId = await subscribeSlack(slack, 'slack.gone');
  const first = await publish('slack.gone', 'first');

  const notification = await settled(first);
  expect(notification).toMatchObject({ status: 'FAILED', reason: 'Slack answered 404 no_service', attempts: [{ httpStatus: 404 }] });
  const subscription = await call('GET', `/subscriptions/${subscriptionId}`);
  expect(subscription.json).toMatchObject({ enabled: false, pausedReason: 'Slack answered 404 no_service' });

  await new Promise((resolve) => setTimeout(resolve, 1200)); // the processor's subscription cache
  const second = await publish('slack.gone', 'second');
  await explained(dev, until(async () => {
    const answer = await call('GET', `/events/${second}`);
    return answer.status === 200 ? answer.json : undefined;
  }, 'the second event to be stored', 30_000, 200));
  expect(slack.requests).toHaveLength(1);
});

test('a SLACK subscription refuses a target that is not a URL', async () => {
  const answer = await call('POST', '/subscriptions', { eventType: 'x', channel: 'SLACK', target: 'hooks.slack.com/services/T1/B1/x' });
  expect(answer.status).toBe(400);
  expect(answer.json.errors).toEqual([{ path: '/target', message: expect.any(String) }]);
});
