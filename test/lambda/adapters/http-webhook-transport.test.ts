import { HttpWebhookTransport } from '../../../lambda/adapters/http-webhook-transport';
import { ReceiverPool } from '../../helpers/receivers';

/* The start of a receiver's answer reaches the channels (Slack says why in it: `no_service`). */

const receivers = new ReceiverPool();
const transport = new HttpWebhookTransport({ allowPrivateTargets: true });

afterAll(async () => {
  transport.close();
  await receivers.closeAll();
});

const post = (url: string) => transport.post({ url, headers: { 'content-type': 'application/json' }, body: '{}', timeoutMs: 5000 });

test('the status, Retry-After and the start of the body are returned', async () => {
  const receiver = await receivers.start({ responder: () => ({ status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' }) });
  await expect(post(receiver.url)).resolves.toEqual({ status: 429, retryAfter: '7', body: 'rate_limited' });
});

test('only the first 512 bytes of a long body are kept', async () => {
  const receiver = await receivers.start({ responder: () => ({ status: 400, body: 'é'.repeat(100_000) }) });
  const response = await post(receiver.url);
  expect(response.status).toBe(400);
  expect(Buffer.byteLength(response.body ?? '')).toBeLessThanOrEqual(512);
  expect(response.body?.startsWith('é'.repeat(255))).toBe(true);
  // The connection stays usable for the next request.
  await expect(post(receiver.url)).resolves.toMatchObject({ status: 400 });
});

test('an empty answer has an empty body', async () => {
  const receiver = await receivers.start();
  await expect(post(receiver.url)).resolves.toEqual({ status: 204, retryAfter: undefined, body: '' });
});
