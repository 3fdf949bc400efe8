import { EventEnvelope, eventEnvelopeSchema } from './envelope';
import { byteLength, HttpRequest, HttpResponse, jsonResponse } from './http';
import { fingerprintOf, scopedIdempotencyKey } from './idempotency';
import { InboundRejection, InboundSource, inboundEventType, verifyDelivery } from './inbound-webhooks';
import { AcceptedEvent, IngestService, requireShallowNesting } from './ingest';
import { HttpProblem, zodFieldErrors } from './problem';
import { compactJson, joinObjects } from './raw-json';

/** Port: the signing secrets of a source, current first, then the previous one if any. */
export interface SecretSource {
  /** `refresh` asks for a fresh read (after a failed verification: the secret may have rotated). */
  secrets(secretId: string, refresh: boolean): Promise<string[]>;
}

const PROVIDER_TITLES: Record<InboundSource['provider'], string> = {
  'shopify': 'Shopify', 'github': 'GitHub', 'stripe': 'Stripe', 'standard-webhooks': 'Webhook', 'hmac': 'Webhook',
};

/**
 * `POST /webhooks/{source}`: verifies the provider's signature on the raw body, turns the
 * delivery into an event (type prefixed with the source name, the provider's delivery id as the
 * idempotency key) and queues it. 401 for any signature problem, and nothing is queued.
 */
export class InboundWebhookService {
  private readonly sources: Map<string, InboundSource>;

  constructor(
    sources: readonly InboundSource[],
    private readonly secretSource: SecretSource,
    private readonly ingest: IngestService,
    private readonly config: { readonly maxEventSizeBytes: number },
    private readonly now: () => number = Date.now,
  ) {
    this.sources = new Map(sources.map((s) => [s.name, s]));
  }

  public async receive(request: HttpRequest): Promise<HttpResponse> {
    const name = request.pathParameters.source ?? '';
    const source = this.sources.get(name);
    if (!source) throw HttpProblem.notFound(`No inbound webhook source is named "${name.slice(0, 64)}".`);
    const raw = request.body ?? '';
    if (byteLength(raw) > this.config.maxEventSizeBytes) {
      throw new HttpProblem(413, 'payload-too-large', 'Payload too large', `The delivery is larger than ${this.config.maxEventSizeBytes} bytes.`);
    }

    const delivery = await this.verify(source, request, raw);
    const isObject = typeof delivery.payload === 'object' && delivery.payload !== null && !Array.isArray(delivery.payload);
    const details = isObject ? delivery.payload as Record<string, unknown> : { payload: delivery.payload };
    const payloadJson = compactJson(delivery.payloadJson);
    const header = {
      eventType: inboundEventType(source.name, delivery.type),
      severity: source.severity,
      title: `${PROVIDER_TITLES[source.provider]} ${delivery.type}`.slice(0, 256),
    };
    const candidate = { ...header, details };
    // The provider's payload travels as its own text: 64-bit order ids keep every digit.
    const eventJson = joinObjects(JSON.stringify(header), `{"details":${isObject ? payloadJson : `{"payload":${payloadJson}}`}}`);
    requireShallowNesting(candidate, '/details');
    const parsed = eventEnvelopeSchema.safeParse(candidate);
    if (!parsed.success) throw HttpProblem.badRequest('The delivery cannot be turned into an event.', zodFieldErrors(parsed.error));
    const envelope: EventEnvelope = parsed.data;

    const key = delivery.deliveryId ? scopedIdempotencyKey(`webhook:${source.name}`, delivery.deliveryId.slice(0, 255)) : undefined;
    const outcome = await this.ingest.acceptVerified(envelope, eventJson, fingerprintOf(raw), key, `webhook:${source.name}`);
    if (!outcome.accepted) throw outcome.problem;
    return jsonResponse(202, { eventId: outcome.eventId, status: 'ACCEPTED' } satisfies AcceptedEvent, outcome.replayed ? { 'idempotent-replayed': 'true' } : {});
  }

  private async verify(source: InboundSource, request: HttpRequest, raw: string) {
    const attempt = (secrets: string[]) => verifyDelivery(source, secrets, request.headers, raw, this.now());
    try {
      try {
        return attempt(await this.secretSource.secrets(source.secretId, false));
      } catch (error) {
        if (!(error instanceof InboundRejection) || error.kind !== 'signature') throw error;
        // The secret may have been rotated since we read it: read it again (rate-limited) and retry.
        return attempt(await this.secretSource.secrets(source.secretId, true));
      }
    } catch (error) {
      if (error instanceof InboundRejection) {
        if (error.kind === 'payload') throw HttpProblem.badRequest(`The delivery is signed but not usable: ${error.message}.`);
        throw new HttpProblem(401, 'invalid-signature', 'Invalid signature', `The delivery's signature could not be verified: ${error.message}.`);
      }
      throw error;
    }
  }
}
