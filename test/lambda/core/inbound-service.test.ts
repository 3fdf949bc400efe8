import { createHmac } from 'node:crypto';
import { HttpRequest } from '../../../lambda/core/http';
import { InboundWebhookService } from '../../../lambda/core/inbound-service';
import { IngestService } from '../../../lambda/core/ingest';
import { HttpProblem } from '../../../lambda/core/problem';
import { QueuedEvent } from '../../../lambda/core/queue-message';

/** InboundWebhookService with in-memory ports: the limits that apply before anything is queued. */
describe('inbound deliveries: limits', () => {
  const secret = 'shpss_test_secret';
  const sent: QueuedEvent[] = [];
  const ingest = new IngestService({
    queue: { send: async (messages) => { sent.push(...messages); return messages.map(() => ({ ok: true as const })); } },
    idempotency: {
      claim: async () => ({ status: 'claimed' as const }),
      read: async () => undefined,
      takeOver: async () => false,
      markEnqueued: async () => undefined,
      release: async () => undefined,
    },
  }, { maxEventSizeBytes: 256 * 1024 });
  const service = new InboundWebhookService(
    [{ name: 'shop', provider: 'shopify', secretId: 'arn:secret', severity: 'MEDIUM' }],
    { secrets: async () => [secret] },
    ingest,
    { maxEventSizeBytes: 256 * 1024 },
  );
  const signed = (body: string): HttpRequest => ({
    method: 'POST',
    route: '/webhooks/{source}',
    pathParameters: { source: 'shop' },
    queryParameters: {},
    callerKeyId: undefined,
    body,
    headers: {
      'content-type': 'application/json',
      'x-shopify-topic': 'orders/create',
      'x-shopify-hmac-sha256': createHmac('sha256', secret).update(body).digest('base64'),
    },
  });
  const nested = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

  beforeEach(() => { sent.length = 0; });

  test('a signed payload nested deeper than events may be is a 400 and nothing is queued', async () => {
    await expect(service.receive(signed(nested(40)))).rejects.toMatchObject({ status: 400 });
    await expect(service.receive(signed(nested(10_000)))).rejects.toBeInstanceOf(HttpProblem);
    expect(sent).toHaveLength(0);
  });

  test('a signed payload within the nesting limit is queued as shop.orders/create', async () => {
    const answer = await service.receive(signed(nested(20)));
    expect(answer.statusCode).toBe(202);
    expect(sent.map((m) => [m.source, m.event.eventType])).toEqual([['webhook:shop', 'shop.orders/create']]);
  });
});
