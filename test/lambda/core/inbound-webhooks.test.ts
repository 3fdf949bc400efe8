import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { GetSecretValueCommandInput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { EVENT_TYPE_PATTERN } from '../../../lambda/core/envelope';
import {
  InboundRejection, InboundSource, inboundEventType, signaturesEqual, TIMESTAMP_TOLERANCE_SECONDS, verifyDelivery,
} from '../../../lambda/core/inbound-webhooks';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { LoadedHandler, loadHandler, SecretsManagerModule, SqsModule } from '../../helpers/handlers';
import { expectProblem, header, jsonBody } from '../../helpers/problems';
import { readQueueBody } from '../../helpers/queue-message';

/*
 * POST /webhooks/{source} through the ingest handler: signatures computed here with each
 * provider's documented algorithm, idempotency records in dynalite, SQS and Secrets Manager
 * mocked (the latter is a managed service with no local counterpart).
 */

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events';
const EVENT_ID = /^evt_[0-9A-HJKMNP-TV-Z]{26}$/;
const MAX_EVENT_SIZE_BYTES = 16 * 1024;

const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/${name}-AbCdEf`;
const hex = (algorithm: string, secret: string, data: string) => createHmac(algorithm, secret).update(data, 'utf8').digest('hex');
const base64 = (algorithm: string, secret: string, data: string) => createHmac(algorithm, secret).update(data, 'utf8').digest('base64');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Standard Webhooks secret (`whsec_` + base64 key); the other providers' secrets are plain strings. */
const standardSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
const plainSecret = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

interface SignOptions {
  readonly secret: string;
  readonly deliveryId: string;
  readonly timestampSec: number;
}

/** One provider as the tests drive it. */
interface ProviderCase {
  readonly label: string;
  readonly source: InboundSource;
  /** Makes a secret of the provider's format (a fresh one per call). */
  readonly newSecret: () => string;
  readonly eventType: string;
  readonly title: string;
  /** Header that carries the signature (as the provider spells it). */
  readonly signatureHeader: string;
  /** Stripe and Standard Webhooks sign a timestamp and refuse stale ones. */
  readonly timestamped: boolean;
  /** The delivery's payload (with fields nobody declared, which must be kept). */
  payload(deliveryId: string): Record<string, unknown>;
  /** The headers the provider sends with `body`. */
  sign(body: string, options: SignOptions): Record<string, string>;
}

const SHOPIFY: ProviderCase = {
  label: 'shopify',
  source: { name: 'shop', provider: 'shopify', secretId: arn('shop'), severity: 'HIGH' },
  newSecret: () => plainSecret('shpss'),
  eventType: 'shop.orders/create',
  title: 'Shopify orders/create',
  signatureHeader: 'X-Shopify-Hmac-Sha256',
  timestamped: false,
  payload: () => ({
    id: 450789469,
    email: 'bob@example.com',
    total_price: '199.00',
    line_items: [{ sku: 'IPOD2008', quantity: 1, properties: [] }],
    some_field_from_a_newer_api_version: { nested: [1, { deep: true }] },
  }),
  sign: (body, o) => ({
    'X-Shopify-Topic': 'orders/create',
    'X-Shopify-Hmac-Sha256': base64('sha256', o.secret, body),
    'X-Shopify-Shop-Domain': 'example.myshopify.com',
    'X-Shopify-API-Version': '2025-01',
    'X-Shopify-Webhook-Id': o.deliveryId,
  }),
};

const GITHUB: ProviderCase = {
  label: 'github',
  source: { name: 'gh', provider: 'github', secretId: arn('gh'), severity: 'LOW' },
  newSecret: () => plainSecret('gh'),
  eventType: 'gh.push',
  title: 'GitHub push',
  signatureHeader: 'X-Hub-Signature-256',
  timestamped: false,
  payload: () => ({
    ref: 'refs/heads/main',
    before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
    after: '0000000000000000000000000000000000000000',
    repository: { id: 1296269, full_name: 'octocat/Hello-World' },
    pusher: { name: 'octocat' },
    x_unknown: 'kept',
  }),
  sign: (body, o) => ({
    'X-GitHub-Event': 'push',
    'X-GitHub-Delivery': o.deliveryId,
    'X-GitHub-Hook-ID': '292430182',
    'X-Hub-Signature-256': `sha256=${hex('sha256', o.secret, body)}`,
    'User-Agent': 'GitHub-Hookshot/044aadd',
  }),
};

const STRIPE: ProviderCase = {
  label: 'stripe',
  source: { name: 'pay', provider: 'stripe', secretId: arn('pay'), severity: 'CRITICAL' },
  newSecret: () => plainSecret('whsec'),
  eventType: 'pay.invoice.paid',
  title: 'Stripe invoice.paid',
  signatureHeader: 'Stripe-Signature',
  timestamped: true,
  // Stripe's delivery id is the event id in the body.
  payload: (deliveryId) => ({
    id: deliveryId,
    object: 'event',
    api_version: '2024-06-20',
    created: 1718000000,
    type: 'invoice.paid',
    livemode: false,
    data: { object: { id: 'in_1PabCdEfGh', object: 'invoice', amount_paid: 2000, currency: 'usd' } },
    request: { id: null, idempotency_key: null },
  }),
  sign: (body, o) => ({ 'Stripe-Signature': `t=${o.timestampSec},v1=${hex('sha256', o.secret, `${o.timestampSec}.${body}`)}` }),
};

const STANDARD: ProviderCase = {
  label: 'standard-webhooks',
  source: { name: 'std', provider: 'standard-webhooks', secretId: arn('std'), severity: 'MEDIUM' },
  newSecret: standardSecret,
  eventType: 'std.user.created',
  title: 'Webhook user.created',
  signatureHeader: 'webhook-signature',
  timestamped: true,
  payload: () => ({
    type: 'user.created',
    timestamp: '2024-06-10T12:00:00.000Z',
    data: { id: 'user_2ZvJ8', email: 'ann@example.com' },
    vendor_extension: { any: 'thing' },
  }),
  // The reference library signs; the ingest function verifies with its own copy.
  sign: (body, o) => ({
    'webhook-id': o.deliveryId,
    'webhook-timestamp': String(o.timestampSec),
    'webhook-signature': new Webhook(o.secret).sign(o.deliveryId, new Date(o.timestampSec * 1000), body),
  }),
};

const HMAC: ProviderCase = {
  label: 'hmac (sha512, base64, prefix, custom headers)',
  source: {
    name: 'ci',
    provider: 'hmac',
    secretId: arn('ci'),
    severity: 'HIGH',
    header: 'X-Signature',
    algorithm: 'sha512',
    encoding: 'base64',
    prefix: 'v1=',
    eventTypeHeader: 'X-Event-Type',
    deliveryIdHeader: 'X-Delivery-Id',
  },
  newSecret: () => plainSecret('ci'),
  eventType: 'ci.build.finished',
  title: 'Webhook build.finished',
  signatureHeader: 'X-Signature',
  timestamped: false,
  payload: () => ({ build: 42, status: 'passed', type: 'ignored-because-the-header-names-the-type', extra: { kept: true } }),
  sign: (body, o) => ({
    'X-Signature': `v1=${base64('sha512', o.secret, body)}`,
    'X-Event-Type': 'build.finished',
    'X-Delivery-Id': o.deliveryId,
  }),
};

const CASES: readonly ProviderCase[] = [SHOPIFY, GITHUB, STRIPE, STANDARD, HMAC];

/** A generic HMAC source with every default: sha256, hex, no prefix, type from the body, no delivery id. */
const PLAIN_HMAC: InboundSource = { name: 'plain', provider: 'hmac', secretId: arn('plain'), severity: 'LOW', header: 'X-Signature' };

interface Delivery {
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly payload: Record<string, unknown>;
  readonly deliveryId: string;
}

interface DeliveryOptions {
  readonly secret: string;
  readonly deliveryId?: string;
  readonly timestampSec?: number;
}

function deliveryFor(c: ProviderCase, options: DeliveryOptions): Delivery {
  const deliveryId = options.deliveryId ?? (c === STRIPE ? `evt_${randomBytes(12).toString('hex')}` : randomUUID());
  const payload = c.payload(deliveryId);
  const body = JSON.stringify(payload);
  const headers = c.sign(body, { secret: options.secret, deliveryId, timestampSec: options.timestampSec ?? nowSeconds() });
  return { body, headers, payload, deliveryId };
}

/** Serves secrets the way Secrets Manager does: by version stage, ResourceNotFound for a missing stage. */
interface StoredSecret {
  current: string;
  previous?: string;
}

function serveSecrets(mock: AwsClientStub<SecretsManagerClient>, sm: SecretsManagerModule, store: Map<string, StoredSecret>): void {
  mock.on(sm.GetSecretValueCommand).callsFake(async (input: GetSecretValueCommandInput) => {
    const stored = store.get(input.SecretId ?? '');
    const value = input.VersionStage === 'AWSCURRENT' ? stored?.current : input.VersionStage === 'AWSPREVIOUS' ? stored?.previous : undefined;
    if (value === undefined) {
      throw new sm.ResourceNotFoundException({
        message: `Secrets Manager can't find the specified secret value for staging label: ${input.VersionStage}`,
        $metadata: { httpStatusCode: 400 },
      });
    }
    return { ARN: input.SecretId, Name: input.SecretId, SecretString: value, VersionStages: [input.VersionStage!], VersionId: randomUUID() };
  });
}

function acceptMessages(mock: AwsClientStub<SQSClient>, sqs: SqsModule): void {
  mock.on(sqs.SendMessageCommand).callsFake(() => ({ MessageId: randomUUID(), MD5OfMessageBody: 'md5' }));
}


let dynamo: LocalDynamo;

function ingestEnv(sources: readonly InboundSource[]): Record<string, string> {
  return {
    ...handlerEnv(dynamo),
    QUEUE_URL,
    QUEUE_FIFO: 'false',
    MAX_EVENT_SIZE_BYTES: String(MAX_EVENT_SIZE_BYTES),
    INBOUND_SOURCES: JSON.stringify(sources),
  };
}

/** One loaded ingest function (its own module copy, so its own secret cache) with both SDKs mocked. */
class Harness {
  public readonly loaded: LoadedHandler;
  public readonly sqsMock: AwsClientStub<SQSClient>;
  public readonly smMock: AwsClientStub<SecretsManagerClient>;

  constructor(sources: readonly InboundSource[], public readonly store: Map<string, StoredSecret>) {
    this.loaded = loadHandler('ingest', ingestEnv(sources));
    this.sqsMock = mockClient(this.loaded.sqs.SQSClient);
    this.smMock = mockClient(this.loaded.secretsManager.SecretsManagerClient);
    this.reset();
  }

  public reset(): void {
    this.sqsMock.reset();
    this.smMock.reset();
    acceptMessages(this.sqsMock, this.loaded.sqs);
    serveSecrets(this.smMock, this.loaded.secretsManager, this.store);
  }

  public restore(): void {
    this.sqsMock.restore();
    this.smMock.restore();
  }

  /** POST /webhooks/{source} as API Gateway passes it: no API key, headers as the sender spelled them. */
  public post(source: string, body: string, headers: Record<string, string>): Promise<APIGatewayProxyResult> {
    return this.loaded.handler(apiEvent({
      method: 'POST', resource: '/webhooks/{source}', pathParameters: { source }, body, headers, apiKeyId: null,
    }));
  }

  public deliver(c: ProviderCase, delivery: Delivery): Promise<APIGatewayProxyResult> {
    return this.post(c.source.name, delivery.body, delivery.headers);
  }

  public sends(): SendMessageCommandInput[] {
    return this.sqsMock.commandCalls(this.loaded.sqs.SendMessageCommand).map((call) => call.args[0].input);
  }

  /** Every GetSecretValue request, as `<secret id> <stage>`. */
  public reads(): string[] {
    return this.smMock.commandCalls(this.loaded.secretsManager.GetSecretValueCommand)
      .map((call) => `${call.args[0].input.SecretId} ${call.args[0].input.VersionStage}`);
  }
}

beforeAll(async () => {
  dynamo = await startDynamo();
});

afterAll(async () => {
  await dynamo.stop();
});

describe('POST /webhooks/{source} through the ingest handler', () => {
  const secrets = new Map<string, string>(CASES.map((c) => [c.source.name, c.newSecret()]));
  secrets.set(PLAIN_HMAC.name, plainSecret('plain'));
  const allSources = [...CASES.map((c) => c.source), PLAIN_HMAC];
  const store = new Map<string, StoredSecret>(allSources.map((s) => [s.secretId, { current: secrets.get(s.name)! }]));
  const secretOf = (c: ProviderCase) => secrets.get(c.source.name)!;
  let h: Harness;

  beforeAll(() => {
    h = new Harness(allSources, store);
  });

  afterAll(() => h.restore());

  beforeEach(() => h.reset());

  describe.each(CASES.map((c) => [c.label, c] as const))('%s', (_label, c) => {
    test('a correctly signed delivery: 202 ACCEPTED and exactly one SendMessage with the event', async () => {
      const delivery = deliveryFor(c, { secret: secretOf(c) });
      const result = await h.deliver(c, delivery);

      expect(result.statusCode).toBe(202);
      expect(header(result, 'content-type')).toBe('application/json');
      expect(header(result, 'idempotent-replayed')).toBeUndefined();
      const body = jsonBody(result);
      expect(body).toEqual({ eventId: expect.stringMatching(EVENT_ID), status: 'ACCEPTED' });

      expect(h.sqsMock.calls()).toHaveLength(1);
      const [sent] = h.sends();
      expect(sent.QueueUrl).toBe(QUEUE_URL);
      expect(readQueueBody(sent.MessageBody!)).toEqual({
        v: 2,
        eventId: body.eventId,
        receivedAt: expect.any(String),
        source: `webhook:${c.source.name}`,
        event: {
          eventType: c.eventType,
          severity: c.source.severity,
          title: c.title,
          details: delivery.payload,
        },
      });
      // The secret is read by ARN, never taken from the environment.
      expect(h.reads().every((r) => r.startsWith(`${c.source.secretId} `))).toBe(true);
    });

    test('signed with another secret: 401 problem+json, nothing queued, no secret in the answer', async () => {
      const result = await h.deliver(c, deliveryFor(c, { secret: c.newSecret() }));
      const problem = expectProblem(result, 401, 'invalid-signature');
      expect(problem.detail).toMatch(/signature/i);
      expect(result.body).not.toContain(secretOf(c));
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('without the signature header: 401, nothing queued', async () => {
      const delivery = deliveryFor(c, { secret: secretOf(c) });
      const headers = { ...delivery.headers };
      expect(headers[c.signatureHeader]).toBeDefined();
      delete headers[c.signatureHeader];
      expectProblem(await h.post(c.source.name, delivery.body, headers), 401, 'invalid-signature');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('the body changed after signing: 401, nothing queued', async () => {
      const delivery = deliveryFor(c, { secret: secretOf(c) });
      const tampered = JSON.stringify({ ...delivery.payload, injected: 'by a man in the middle' });
      expectProblem(await h.post(c.source.name, tampered, delivery.headers), 401, 'invalid-signature');
      // One changed byte is enough.
      const flipped = delivery.body.replace(/.$/, ' ');
      expect(flipped).not.toBe(delivery.body);
      expectProblem(await h.post(c.source.name, flipped, delivery.headers), 401, 'invalid-signature');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('a signature value that is not even well-formed: 401', async () => {
      const delivery = deliveryFor(c, { secret: secretOf(c) });
      for (const garbage of ['', 'x', '%%%%', 'sha256=zz', 't=abc,v1=', 'v1,']) {
        const result = await h.post(c.source.name, delivery.body, { ...delivery.headers, [c.signatureHeader]: garbage });
        expectProblem(result, 401, 'invalid-signature');
      }
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('the same delivery id twice: the same eventId, one SendMessage, the repeat flagged as replayed', async () => {
      const first = deliveryFor(c, { secret: secretOf(c) });
      // A provider retry carries the same id and body; time-stamped schemes sign it afresh.
      const retry = deliveryFor(c, { secret: secretOf(c), deliveryId: first.deliveryId, timestampSec: nowSeconds() + 1 });
      expect(retry.body).toBe(first.body);

      const a = await h.deliver(c, first);
      const b = await h.deliver(c, retry);

      expect(a.statusCode).toBe(202);
      expect(b.statusCode).toBe(202);
      expect(jsonBody(b).eventId).toBe(jsonBody(a).eventId);
      expect(header(b, 'idempotent-replayed')).toBe('true');
      expect(h.sends()).toHaveLength(1);

      // A different delivery is a different event.
      const other = await h.deliver(c, deliveryFor(c, { secret: secretOf(c) }));
      expect(other.statusCode).toBe(202);
      expect(jsonBody(other).eventId).not.toBe(jsonBody(a).eventId);
      expect(h.sends()).toHaveLength(2);
    });

    test('a signed body that is not JSON: 400 (the signature was fine), nothing queued', async () => {
      const body = 'this is not JSON {';
      const headers = c.sign(body, { secret: secretOf(c), deliveryId: randomUUID(), timestampSec: nowSeconds() });
      const problem = expectProblem(await h.post(c.source.name, body, headers), 400, 'invalid-request');
      expect(problem.detail).toMatch(/JSON/);
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('no x-api-key is needed and none is recorded', async () => {
      const delivery = deliveryFor(c, { secret: secretOf(c) });
      const event = apiEvent({
        method: 'POST',
        resource: '/webhooks/{source}',
        pathParameters: { source: c.source.name },
        body: delivery.body,
        headers: delivery.headers,
        apiKeyId: null,
      });
      expect(Object.keys(event.headers).map((k) => k.toLowerCase())).not.toContain('x-api-key');
      expect(event.requestContext.identity.apiKeyId).toBeNull();
      const result = await h.loaded.handler(event);
      expect(result.statusCode).toBe(202);
      expect(readQueueBody(h.sends()[0].MessageBody!)).not.toHaveProperty('publisherKeyId');
    });

    if (c.timestamped) {
      test(`a timestamp older than ${TIMESTAMP_TOLERANCE_SECONDS / 60} minutes (or as far in the future): 401, nothing queued`, async () => {
        const now = nowSeconds();
        for (const timestampSec of [now - TIMESTAMP_TOLERANCE_SECONDS - 60, now - 3600, now + TIMESTAMP_TOLERANCE_SECONDS + 60]) {
          const problem = expectProblem(await h.deliver(c, deliveryFor(c, { secret: secretOf(c), timestampSec })), 401, 'invalid-signature');
          expect(problem.detail).toMatch(/too old|too new/);
        }
        expect(h.sqsMock.calls()).toHaveLength(0);
        // ... while 4 minutes old is still fine.
        expect((await h.deliver(c, deliveryFor(c, { secret: secretOf(c), timestampSec: now - 240 }))).statusCode).toBe(202);
      });

      test('a stale timestamp cannot be refreshed by the attacker: re-stamping breaks the signature', async () => {
        const stale = deliveryFor(c, { secret: secretOf(c), timestampSec: nowSeconds() - 3600 });
        const fresh = String(nowSeconds());
        const headers: Record<string, string> = c === STRIPE
          ? { 'Stripe-Signature': stale.headers['Stripe-Signature'].replace(/^t=\d+/, `t=${fresh}`) }
          : { ...stale.headers, 'webhook-timestamp': fresh };
        expectProblem(await h.post(c.source.name, stale.body, headers), 401, 'invalid-signature');
        expect(h.sqsMock.calls()).toHaveLength(0);
      });
    }
  });

  describe('provider specifics', () => {
    test('shopify: the digest must be base64 (the same digest in hex is refused)', async () => {
      const delivery = deliveryFor(SHOPIFY, { secret: secretOf(SHOPIFY) });
      const asHex = hex('sha256', secretOf(SHOPIFY), delivery.body);
      expectProblem(await h.post('shop', delivery.body, { ...delivery.headers, 'X-Shopify-Hmac-Sha256': asHex }), 401, 'invalid-signature');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('shopify: a signed delivery without X-Shopify-Topic is 400, not queued', async () => {
      const delivery = deliveryFor(SHOPIFY, { secret: secretOf(SHOPIFY) });
      const headers = { ...delivery.headers };
      delete headers['X-Shopify-Topic'];
      expectProblem(await h.post('shop', delivery.body, headers), 400, 'invalid-request');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('github: a form-encoded delivery (payload=<json>) is verified on the raw form body and unpacked', async () => {
      const payload = { ...GITHUB.payload(''), zen: 'Design for failure & keep it simple + small.' };
      const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
      const headers = {
        ...GITHUB.sign(body, { secret: secretOf(GITHUB), deliveryId: randomUUID(), timestampSec: nowSeconds() }),
        'Content-Type': 'application/x-www-form-urlencoded',
      };
      const result = await h.post('gh', body, headers);
      expect(result.statusCode).toBe(202);
      expect(readQueueBody(h.sends()[0].MessageBody!).event).toMatchObject({ eventType: 'gh.push', details: payload });

      // Signed over the JSON instead of the form body: refused.
      const wrong = { ...headers, 'X-Hub-Signature-256': `sha256=${hex('sha256', secretOf(GITHUB), JSON.stringify(payload))}` };
      expectProblem(await h.post('gh', body, wrong), 401, 'invalid-signature');
      expect(h.sends()).toHaveLength(1);
    });

    test('github: only X-Hub-Signature-256 counts (a SHA-1 X-Hub-Signature alone, or no sha256= prefix, is 401)', async () => {
      const delivery = deliveryFor(GITHUB, { secret: secretOf(GITHUB) });
      const withoutSha256 = { ...delivery.headers };
      delete withoutSha256['X-Hub-Signature-256'];
      const sha1 = { ...withoutSha256, 'X-Hub-Signature': `sha1=${hex('sha1', secretOf(GITHUB), delivery.body)}` };
      expectProblem(await h.post('gh', delivery.body, sha1), 401, 'invalid-signature');
      const bare = { ...delivery.headers, 'X-Hub-Signature-256': hex('sha256', secretOf(GITHUB), delivery.body) };
      expectProblem(await h.post('gh', delivery.body, bare), 401, 'invalid-signature');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('stripe: any of several v1 signatures may match (Stripe sends one per active secret); v0 is ignored', async () => {
      const t = nowSeconds();
      const payload = STRIPE.payload(`evt_${randomBytes(12).toString('hex')}`);
      const body = JSON.stringify(payload);
      const good = hex('sha256', secretOf(STRIPE), `${t}.${body}`);
      const other = hex('sha256', 'whsec_other', `${t}.${body}`);
      const accepted = await h.post('pay', body, { 'Stripe-Signature': `t=${t},v1=${other},v1=${good},v0=${other}` });
      expect(accepted.statusCode).toBe(202);
      expect(h.sends()).toHaveLength(1);

      const v0Only = await h.post('pay', body, { 'Stripe-Signature': `t=${t},v0=${good}` });
      expectProblem(v0Only, 401, 'invalid-signature');
      expect(h.sends()).toHaveLength(1);
    });

    test('stripe: a signed event without a type is 400', async () => {
      const t = nowSeconds();
      const body = JSON.stringify({ id: 'evt_untyped', object: 'event' });
      const result = await h.post('pay', body, { 'Stripe-Signature': `t=${t},v1=${hex('sha256', secretOf(STRIPE), `${t}.${body}`)}` });
      expectProblem(result, 400, 'invalid-request');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('standard webhooks: the id and timestamp are signed too (changing webhook-id breaks it)', async () => {
      const delivery = deliveryFor(STANDARD, { secret: secretOf(STANDARD) });
      const result = await h.post('std', delivery.body, { ...delivery.headers, 'webhook-id': `${delivery.deliveryId}-2` });
      expectProblem(result, 401, 'invalid-signature');
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('standard webhooks: a payload without a type becomes <source>.webhook', async () => {
      const body = JSON.stringify({ data: { id: 1 } });
      const id = `msg_${randomUUID()}`;
      const t = nowSeconds();
      const result = await h.post('std', body, {
        'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': new Webhook(secretOf(STANDARD)).sign(id, new Date(t * 1000), body),
      });
      expect(result.statusCode).toBe(202);
      expect(readQueueBody(h.sends()[0].MessageBody!).event).toMatchObject({ eventType: 'std.webhook', details: { data: { id: 1 } } });
    });

    test('standard webhooks: Svix\'s header names (svix-id, svix-timestamp, svix-signature) are accepted too, and checked as strictly', async () => {
      const body = JSON.stringify({ type: 'user.created', data: { id: 2 } });
      const id = `msg_${randomUUID()}`;
      const t = nowSeconds();
      const signature = new Webhook(secretOf(STANDARD)).sign(id, new Date(t * 1000), body);
      const result = await h.post('std', body, { 'svix-id': id, 'svix-timestamp': String(t), 'svix-signature': signature });
      expect(result.statusCode).toBe(202);
      expect(readQueueBody(h.sends()[0].MessageBody!).event).toMatchObject({ eventType: 'std.user.created', details: { data: { id: 2 } } });
      // The delivery id is the idempotency key under either spelling: the same delivery again is one event.
      const again = await h.post('std', body, { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': signature });
      expect(jsonBody(again).eventId).toBe(jsonBody(result).eventId);
      const forged = await h.post('std', body, { 'svix-id': id, 'svix-timestamp': String(t), 'svix-signature': signature.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) });
      expectProblem(forged, 401, 'invalid-signature');
    });

    test('hmac: the configured algorithm, encoding and prefix are all required', async () => {
      const delivery = deliveryFor(HMAC, { secret: secretOf(HMAC) });
      const variants = [
        `v1=${base64('sha256', secretOf(HMAC), delivery.body)}`, // wrong algorithm
        `v1=${hex('sha512', secretOf(HMAC), delivery.body)}`, // wrong encoding
        base64('sha512', secretOf(HMAC), delivery.body), // no prefix
        `v2=${base64('sha512', secretOf(HMAC), delivery.body)}`, // wrong prefix
      ];
      for (const signature of variants) {
        expectProblem(await h.post('ci', delivery.body, { ...delivery.headers, 'X-Signature': signature }), 401, 'invalid-signature');
      }
      expect(h.sqsMock.calls()).toHaveLength(0);
      expect((await h.deliver(HMAC, delivery)).statusCode).toBe(202);
    });

    test('hmac: the event type header is sanitized into the event-type alphabet', async () => {
      const delivery = deliveryFor(HMAC, { secret: secretOf(HMAC) });
      const result = await h.post('ci', delivery.body, { ...delivery.headers, 'X-Event-Type': 'build finished!<script>' });
      expect(result.statusCode).toBe(202);
      const { eventType } = readQueueBody(h.sends()[0].MessageBody!).event;
      expect(eventType).toBe('ci.build_finished__script_');
      expect(eventType).toMatch(EVENT_TYPE_PATTERN);
    });

    test('hmac defaults (sha256, hex, no prefix): type from the body, else "webhook"; no delivery id, so no deduplication', async () => {
      const secret = secrets.get('plain')!;
      const typed = JSON.stringify({ type: 'thing.happened', n: 1 });
      const untyped = JSON.stringify([1, 2, 3]);
      const a = await h.post('plain', typed, { 'X-Signature': hex('sha256', secret, typed) });
      const b = await h.post('plain', typed, { 'X-Signature': hex('sha256', secret, typed) });
      const c = await h.post('plain', untyped, { 'X-Signature': hex('sha256', secret, untyped) });
      expect([a.statusCode, b.statusCode, c.statusCode]).toEqual([202, 202, 202]);
      expect(jsonBody(a).eventId).not.toBe(jsonBody(b).eventId);
      const events = h.sends().map((s) => readQueueBody(s.MessageBody!).event);
      expect(events).toEqual([
        expect.objectContaining({ eventType: 'plain.thing.happened', severity: 'LOW', details: { type: 'thing.happened', n: 1 } }),
        expect.objectContaining({ eventType: 'plain.thing.happened' }),
        // A payload that is not an object is wrapped, since details must be an object.
        expect.objectContaining({ eventType: 'plain.webhook', details: { payload: [1, 2, 3] } }),
      ]);
    });
  });

  describe('routing, size and idempotency scope', () => {
    test('an unknown source: 404 problem, no secret read, nothing queued', async () => {
      const delivery = deliveryFor(SHOPIFY, { secret: secretOf(SHOPIFY) });
      const problem = expectProblem(await h.post('nope', delivery.body, delivery.headers), 404, 'not-found');
      expect(problem.detail).toContain('nope');
      // A source name is matched exactly.
      expectProblem(await h.post('SHOP', delivery.body, delivery.headers), 404, 'not-found');
      expect(h.smMock.calls()).toHaveLength(0);
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test(`a body of MAX_EVENT_SIZE_BYTES (${MAX_EVENT_SIZE_BYTES}) is accepted; one byte more is 413 before any secret is read`, async () => {
      const secret = secrets.get('plain')!;
      const sized = (bytes: number, filler: string) => {
        const empty = JSON.stringify({ type: 'big', pad: '' });
        const fillerBytes = Buffer.byteLength(filler);
        const body = JSON.stringify({ type: 'big', pad: filler.repeat(Math.floor((bytes - empty.length) / fillerBytes)) });
        return body + ' '.repeat(bytes - Buffer.byteLength(body)); // trailing whitespace is still JSON
      };
      const atLimit = sized(MAX_EVENT_SIZE_BYTES, 'a');
      expect(Buffer.byteLength(atLimit)).toBe(MAX_EVENT_SIZE_BYTES);
      expect((await h.post('plain', atLimit, { 'X-Signature': hex('sha256', secret, atLimit) })).statusCode).toBe(202);
      expect(h.sends()).toHaveLength(1);
      h.reset();

      const over = sized(MAX_EVENT_SIZE_BYTES + 1, 'a');
      const problem = expectProblem(await h.post('plain', over, { 'X-Signature': hex('sha256', secret, over) }), 413, 'payload-too-large');
      expect(problem.detail).toContain(String(MAX_EVENT_SIZE_BYTES));
      // Bytes, not characters: 2-byte characters overflow at half the length.
      const wide = sized(MAX_EVENT_SIZE_BYTES + 2, 'é');
      expect(wide.length).toBeLessThan(MAX_EVENT_SIZE_BYTES);
      expectProblem(await h.post('plain', wide, { 'X-Signature': hex('sha256', secret, wide) }), 413, 'payload-too-large');
      // Unsigned oversized bodies are refused without touching Secrets Manager.
      expect(h.smMock.calls()).toHaveLength(0);
      expect(h.sqsMock.calls()).toHaveLength(0);
    });

    test('the same delivery id at two sources is two events (keys are scoped to the source)', async () => {
      const id = randomUUID();
      const shop = await h.deliver(SHOPIFY, deliveryFor(SHOPIFY, { secret: secretOf(SHOPIFY), deliveryId: id }));
      const gh = await h.deliver(GITHUB, deliveryFor(GITHUB, { secret: secretOf(GITHUB), deliveryId: id }));
      expect([shop.statusCode, gh.statusCode]).toEqual([202, 202]);
      expect(jsonBody(shop).eventId).not.toBe(jsonBody(gh).eventId);
      expect(h.sends()).toHaveLength(2);
    });

    test('a bad signature never claims the delivery id: the genuine delivery with that id is still accepted', async () => {
      const genuine = deliveryFor(SHOPIFY, { secret: secretOf(SHOPIFY) });
      const forged = deliveryFor(SHOPIFY, { secret: SHOPIFY.newSecret(), deliveryId: genuine.deliveryId });
      expectProblem(await h.deliver(SHOPIFY, forged), 401, 'invalid-signature');
      const result = await h.deliver(SHOPIFY, genuine);
      expect(result.statusCode).toBe(202);
      expect(header(result, 'idempotent-replayed')).toBeUndefined();
      expect(h.sends()).toHaveLength(1);
    });

    test('the same delivery id with a different body: 422, not a second event', async () => {
      const first = deliveryFor(HMAC, { secret: secretOf(HMAC) });
      expect((await h.deliver(HMAC, first)).statusCode).toBe(202);
      const changedBody = JSON.stringify({ ...first.payload, status: 'failed' });
      const second = await h.post('ci', changedBody, HMAC.sign(changedBody, { secret: secretOf(HMAC), deliveryId: first.deliveryId, timestampSec: 0 }));
      expectProblem(second, 422, 'idempotency-key-reused');
      expect(h.sends()).toHaveLength(1);
    });

    test('an SQS failure: 503 problem (the provider retries), and the retry is accepted under the same delivery id', async () => {
      h.sqsMock.on(h.loaded.sqs.SendMessageCommand).rejectsOnce(Object.assign(new Error('internal'), { name: 'InternalError' }));
      const delivery = deliveryFor(GITHUB, { secret: secretOf(GITHUB) });
      expectProblem(await h.deliver(GITHUB, delivery), 503, 'queue-unavailable');
      const retry = await h.deliver(GITHUB, delivery);
      expect(retry.statusCode).toBe(202);
      expect(h.sends()).toHaveLength(2); // the failed attempt and the retry
    });
  });
});

describe('secret rotation and refresh (Secrets Manager mocked, Date controlled)', () => {
  // Only Date is faked: dynalite, the SDK and jest keep their real timers. The ingest function
  // captures Date.now when it loads, so every harness here is loaded after the fake clock is on.
  const start = Date.now();
  const OLD = plainSecret('old');
  const NEW = plainSecret('new');
  const sources = [SHOPIFY.source];
  const id = SHOPIFY.source.secretId;
  let store: Map<string, StoredSecret>;
  let h: Harness;

  const shopify = (secret: string, deliveryId?: string) => h.deliver(SHOPIFY, deliveryFor(SHOPIFY, { secret, deliveryId }));
  const rotate = () => store.set(id, { current: NEW, previous: OLD });
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);

  beforeAll(() => {
    jest.useFakeTimers({
      now: start,
      doNotFake: [
        'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback',
        'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout',
      ],
    });
  });

  afterAll(() => jest.useRealTimers());

  beforeEach(() => {
    jest.setSystemTime(start);
    store = new Map([[id, { current: OLD }]]);
    h = new Harness(sources, store);
  });

  afterEach(() => h.restore());

  test('the clock is controlled: Date is fake, timers are real', () => {
    expect(Date.now()).toBe(start);
    advance(1234);
    expect(Date.now()).toBe(start + 1234);
  });

  test('a cold start reads AWSCURRENT and AWSPREVIOUS once; deliveries use the cache for five minutes, then it is read again', async () => {
    expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads().sort()).toEqual([`${id} AWSCURRENT`, `${id} AWSPREVIOUS`]);
    advance(5 * 60_000 - 1);
    for (let i = 0; i < 3; i++) expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(2);
    // Older than five minutes: read again (a revoked secret stops working), then cached again.
    advance(1);
    for (let i = 0; i < 3; i++) expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(4);
  });

  test('a routine re-read that fails keeps the cached secrets (Secrets Manager briefly down)', async () => {
    expect((await shopify(OLD)).statusCode).toBe(202);
    store.clear(); // every GetSecretValue now fails
    advance(6 * 60_000);
    expect((await shopify(OLD)).statusCode).toBe(202);
  });

  test('a container that starts during a rotation accepts deliveries signed with either secret', async () => {
    rotate();
    expect((await shopify(NEW)).statusCode).toBe(202);
    expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(2);
    expect(h.sends()).toHaveLength(2);
  });

  test('rotated after the cache was filled: the old secret still works without a read, the new one triggers exactly one refresh', async () => {
    expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(2);
    rotate();
    advance(4 * 60_000);

    expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(2);

    expect((await shopify(NEW)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(4);
    expect(h.reads().slice(2).sort()).toEqual([`${id} AWSCURRENT`, `${id} AWSPREVIOUS`]);

    // Both are now cached: no more reads for either.
    expect((await shopify(OLD)).statusCode).toBe(202);
    expect((await shopify(NEW)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(4);
    expect(h.sends()).toHaveLength(5);
  });

  test('AWSPREVIOUS removed: a new container refuses the old secret; a warm one drops it at its next refresh', async () => {
    rotate();
    expect((await shopify(OLD)).statusCode).toBe(202);
    store.set(id, { current: NEW });
    advance(60_000);
    // The next failed verification forces the refresh that drops OLD.
    expectProblem(await shopify(plainSecret('attacker')), 401, 'invalid-signature');
    expect(h.reads()).toHaveLength(4);
    expectProblem(await shopify(OLD), 401, 'invalid-signature');
    expect((await shopify(NEW)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(4);

    const cold = new Harness(sources, store);
    try {
      expectProblem(await cold.deliver(SHOPIFY, deliveryFor(SHOPIFY, { secret: OLD })), 401, 'invalid-signature');
      expect((await cold.deliver(SHOPIFY, deliveryFor(SHOPIFY, { secret: NEW }))).statusCode).toBe(202);
      expect(cold.reads()).toHaveLength(2);
    } finally {
      cold.restore();
    }
  });

  test('a new secret within a minute of the last read is refused (no re-read); the sender\'s retry after the minute is accepted', async () => {
    expect((await shopify(OLD)).statusCode).toBe(202);
    rotate();
    const retried = deliveryFor(SHOPIFY, { secret: NEW });

    advance(59_999);
    expectProblem(await h.deliver(SHOPIFY, retried), 401, 'invalid-signature');
    expect(h.reads()).toHaveLength(2);
    expect(h.sends()).toHaveLength(1);

    advance(1); // exactly one minute after the read
    const result = await h.deliver(SHOPIFY, retried);
    expect(result.statusCode).toBe(202);
    expect(header(result, 'idempotent-replayed')).toBeUndefined(); // the refused attempt claimed nothing
    expect(h.reads()).toHaveLength(4);
    expect(h.sends()).toHaveLength(2);
  });

  test('a burst of bad signatures re-reads Secrets Manager at most once a minute', async () => {
    expect((await shopify(OLD)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(2);
    const forged = () => shopify(plainSecret('attacker'));

    // Within the first minute after the read: no re-read at all.
    for (let i = 0; i < 20; i++) expect((await forged()).statusCode).toBe(401);
    expect(h.reads()).toHaveLength(2);

    // A minute later: the first bad delivery refreshes once, the rest of the burst uses that read.
    advance(60_000);
    for (let i = 0; i < 25; i++) {
      expect((await forged()).statusCode).toBe(401);
      advance(1000);
    }
    expect(h.reads()).toHaveLength(4);

    // Another minute after that refresh (25 s have passed): one more.
    advance(35_000);
    for (let i = 0; i < 25; i++) expect((await forged()).statusCode).toBe(401);
    expect(h.reads()).toHaveLength(6);
    expect(h.sqsMock.calls()).toHaveLength(1);
  });

  test('Secrets Manager unavailable at a cold start: 500 problem (the provider retries), nothing queued, not 401', async () => {
    h.smMock.on(h.loaded.secretsManager.GetSecretValueCommand).rejects(
      new h.loaded.secretsManager.InternalServiceError({ message: 'internal', $metadata: { httpStatusCode: 500 } }),
    );
    const delivery = deliveryFor(SHOPIFY, { secret: OLD });
    expectProblem(await h.deliver(SHOPIFY, delivery), 500, 'internal-error');
    expect(h.sqsMock.calls()).toHaveLength(0);

    // A failed read is not cached: once Secrets Manager is back, the retry is accepted.
    h.reset();
    expect((await h.deliver(SHOPIFY, delivery)).statusCode).toBe(202);
    expect(h.reads()).toHaveLength(2);
  });
});

describe('lambda/core/inbound-webhooks', () => {
  const headersOf = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  const rejection = (fn: () => unknown): InboundRejection => {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(InboundRejection);
      return error as InboundRejection;
    }
    throw new Error('expected an InboundRejection, but nothing was thrown');
  };

  describe('signaturesEqual', () => {
    test('equal bytes are equal; one different byte is not', () => {
      const a = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
      const b = Buffer.from(a);
      expect(signaturesEqual(a, b)).toBe(true);
      b[b.length - 1] = b[b.length - 1] === 0 ? 1 : 0;
      expect(signaturesEqual(a, b)).toBe(false);
    });

    test('different lengths are unequal (false, not a RangeError from timingSafeEqual)', () => {
      const a = Buffer.from('abcdef', 'hex');
      expect(() => signaturesEqual(a, Buffer.from('abcdef00', 'hex'))).not.toThrow();
      expect(signaturesEqual(a, Buffer.from('abcdef00', 'hex'))).toBe(false);
      expect(signaturesEqual(a, Buffer.from('abcd', 'hex'))).toBe(false);
      expect(signaturesEqual(a, Buffer.alloc(0))).toBe(false);
    });

    test('two empty signatures are not a match', () => {
      expect(signaturesEqual(Buffer.alloc(0), Buffer.alloc(0))).toBe(false);
    });
  });

  describe('inboundEventType', () => {
    test('prefixes the source name', () => {
      expect(inboundEventType('shop', 'orders/create')).toBe('shop.orders/create');
      expect(inboundEventType('pay', 'invoice.paid')).toBe('pay.invoice.paid');
      expect(inboundEventType('gh', 'pull_request')).toBe('gh.pull_request');
      expect(inboundEventType('x', 'a:b-c/d.e_f')).toBe('x.a:b-c/d.e_f');
    });

    test('replaces every character outside [A-Za-z0-9._:/-] with _', () => {
      expect(inboundEventType('ci', 'build finished!')).toBe('ci.build_finished_');
      expect(inboundEventType('ci', 'a\nb\tc"d\'e<f>g')).toBe('ci.a_b_c_d_e_f_g');
      expect(inboundEventType('ci', 'über*✓')).toBe('ci._ber__');
      for (const type of ['héllo wörld', '\u0000\u001f', '🚀 launch', 'a?b#c&d=e', '*']) {
        expect(inboundEventType('src', type)).toMatch(EVENT_TYPE_PATTERN);
      }
    });

    test('is cut to 128 characters', () => {
      const long = inboundEventType('a-32-character-source-name-xxxxx', 'y'.repeat(500));
      expect(long).toHaveLength(128);
      expect(long).toMatch(EVENT_TYPE_PATTERN);
      expect(long.startsWith('a-32-character-source-name-xxxxx.yyy')).toBe(true);
      expect(inboundEventType('s', 'z'.repeat(126))).toHaveLength(128);
      expect(inboundEventType('s', 'z'.repeat(127))).toHaveLength(128);
    });
  });

  describe('verifyDelivery', () => {
    const secret = 'whsec_unit';
    const stripe: InboundSource = { name: 'pay', provider: 'stripe', secretId: 'arn', severity: 'MEDIUM' };
    const stripeHeaders = (body: string, t: number, key = secret) => ({ 'stripe-signature': `t=${t},v1=${hex('sha256', key, `${t}.${body}`)}` });
    const body = JSON.stringify({ id: 'evt_1', type: 'charge.succeeded' });

    test('tries each secret in turn (current, then previous)', () => {
      const t = 1_700_000_000;
      const headers = stripeHeaders(body, t, 'previous');
      expect(verifyDelivery(stripe, ['current', 'previous'], headers, body, t * 1000)).toEqual({
        type: 'charge.succeeded', deliveryId: 'evt_1', payload: JSON.parse(body), payloadJson: body,
      });
      expect(rejection(() => verifyDelivery(stripe, ['current', 'other'], headers, body, t * 1000)).kind).toBe('signature');
      expect(rejection(() => verifyDelivery(stripe, [], headers, body, t * 1000)).kind).toBe('signature');
    });

    test('Stripe tolerance is exactly 5 minutes either way, measured against the given clock', () => {
      const t = 1_700_000_000;
      const headers = stripeHeaders(body, t);
      for (const nowMs of [t * 1000, (t + 300) * 1000, (t - 300) * 1000]) {
        expect(verifyDelivery(stripe, [secret], headers, body, nowMs).type).toBe('charge.succeeded');
      }
      for (const nowMs of [(t + 300) * 1000 + 1, (t - 300) * 1000 - 1]) {
        const error = rejection(() => verifyDelivery(stripe, [secret], headers, body, nowMs));
        expect(error.kind).toBe('signature');
        expect(error.message).toMatch(/too old or too new/);
      }
    });

    test('a payload problem under a matching secret is reported as such, not masked as a signature failure', () => {
      const t = 1_700_000_000;
      const raw = 'not json';
      const error = rejection(() => verifyDelivery(stripe, ['wrong', secret], stripeHeaders(raw, t), raw, t * 1000));
      expect(error.kind).toBe('payload');
    });

    test('a malformed Stripe-Signature is a signature rejection', () => {
      for (const value of ['', 'v1=abc', 't=now,v1=abcd', 't=1700000000', 't=1700000000,v0=abcd']) {
        const error = rejection(() => verifyDelivery(stripe, [secret], { 'stripe-signature': value }, body, 1_700_000_000_000));
        expect(error.kind).toBe('signature');
      }
    });

    test('header names are expected in lower case, as the HTTP adapter delivers them', () => {
      const shop: InboundSource = { name: 'shop', provider: 'shopify', secretId: 'arn', severity: 'MEDIUM' };
      const signed = SHOPIFY.sign(body, { secret, deliveryId: 'd-1', timestampSec: 0 });
      expect(verifyDelivery(shop, [secret], headersOf(signed), body, Date.now())).toMatchObject({ type: 'orders/create', deliveryId: 'd-1' });
      expect(rejection(() => verifyDelivery(shop, [secret], signed, body, Date.now())).kind).toBe('signature');
    });

    test('generic HMAC: hex signatures of odd length or with non-hex characters never match', () => {
      const source: InboundSource = { name: 'h', provider: 'hmac', secretId: 'arn', severity: 'MEDIUM', header: 'X-Sig' };
      const good = hex('sha256', secret, body);
      expect(verifyDelivery(source, [secret], { 'x-sig': good }, body, 0).type).toBe('charge.succeeded');
      expect(verifyDelivery(source, [secret], { 'x-sig': good.toUpperCase() }, body, 0).type).toBe('charge.succeeded');
      for (const bad of [good.slice(1), `${good}0`, `${good.slice(0, -1)}g`, `${good} `]) {
        expect(rejection(() => verifyDelivery(source, [secret], { 'x-sig': bad }, body, 0)).kind).toBe('signature');
      }
    });
  });
});
