import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import * as z from 'zod';
import { SEVERITIES } from './envelope';

/** An inbound source as the construct configures it (INBOUND_SOURCES). */
export const inboundSourceSchema = z.object({
  name: z.string().regex(/^[a-z0-9-]{1,32}$/),
  provider: z.enum(['shopify', 'github', 'stripe', 'standard-webhooks', 'hmac']),
  secretId: z.string().min(1),
  severity: z.enum(SEVERITIES).default('MEDIUM'),
  header: z.string().optional(),
  algorithm: z.enum(['sha256', 'sha512']).optional(),
  encoding: z.enum(['hex', 'base64']).optional(),
  prefix: z.string().optional(),
  eventTypeHeader: z.string().optional(),
  deliveryIdHeader: z.string().optional(),
});
export type InboundSource = z.infer<typeof inboundSourceSchema>;

/** Provider timestamps older or newer than this are refused (replay protection). */
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

/** What a verified delivery says about itself. */
export interface VerifiedDelivery {
  /** The provider's event type (before the source prefix). */
  readonly type: string;
  /** The provider's delivery id, when it sends one: the idempotency key. */
  readonly deliveryId?: string;
  /** The payload, parsed. */
  readonly payload: unknown;
  /** The payload's own JSON text (exact numbers and keys: raw-json.ts). */
  readonly payloadJson: string;
}

/** Why a delivery is refused: `signature` → 401, `payload` → 400 (the signature was fine). */
export class InboundRejection extends Error {
  constructor(public readonly kind: 'signature' | 'payload', message: string) {
    super(message);
    this.name = 'InboundRejection';
  }
}

type Headers = Readonly<Record<string, string | undefined>>;

/** Constant-time comparison of two signatures (different lengths are simply unequal). */
export function signaturesEqual(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && expected.length > 0 && timingSafeEqual(expected, received);
}

function hmac(algorithm: 'sha256' | 'sha512', secret: string, data: string): Buffer {
  return createHmac(algorithm, secret).update(data, 'utf8').digest();
}

function decode(value: string, encoding: 'hex' | 'base64'): Buffer {
  if (encoding === 'hex') return /^[0-9a-fA-F]+$/.test(value) && value.length % 2 === 0 ? Buffer.from(value, 'hex') : Buffer.alloc(0);
  return /^[A-Za-z0-9+/=_-]+$/.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0);
}

function required(headers: Headers, name: string): string {
  const value = headers[name];
  if (!value) throw new InboundRejection('signature', `the ${name} header is missing`);
  return value;
}

function parseJson(raw: string): { payload: unknown; payloadJson: string } {
  try {
    return { payload: JSON.parse(raw), payloadJson: raw };
  } catch {
    throw new InboundRejection('payload', 'the body is not JSON');
  }
}

/** The Standard Webhooks headers, each read as `webhook-<name>` or, when absent, Svix's `svix-<name>` (OpenAPI document too). */
export const STANDARD_WEBHOOK_HEADERS = {
  id: 'The delivery id: repeats with the same id yield the same event',
  timestamp: 'Unix seconds; more than 5 minutes off is refused',
  signature: 'Space-separated `v1,<base64 HMAC-SHA256>` signatures',
} as const;
export const STANDARD_WEBHOOK_HEADER_PREFIXES = ['webhook-', 'svix-'] as const;

/** The Standard Webhooks headers, from `webhook-*` or, when those are absent, Svix's `svix-*` names. */
function standardWebhookHeaders(headers: Headers): Record<string, string> {
  const pick = (name: string) => STANDARD_WEBHOOK_HEADER_PREFIXES.map((prefix) => headers[prefix + name]).find((v) => v !== undefined) ?? '';
  return Object.fromEntries(Object.keys(STANDARD_WEBHOOK_HEADERS).map((name) => [`webhook-${name}`, pick(name)]));
}

/** Verifies one secret; throws InboundRejection('signature') when it does not match. */
function verifyWith(source: InboundSource, secret: string, headers: Headers, raw: string, nowMs: number): VerifiedDelivery {
  switch (source.provider) {
    case 'shopify': {
      const signature = decode(required(headers, 'x-shopify-hmac-sha256'), 'base64');
      if (!signaturesEqual(hmac('sha256', secret, raw), signature)) throw new InboundRejection('signature', 'signature mismatch');
      const type = headers['x-shopify-topic'];
      if (!type) throw new InboundRejection('payload', 'the X-Shopify-Topic header is missing');
      return { type, deliveryId: headers['x-shopify-webhook-id'] ?? headers['x-shopify-event-id'], ...parseJson(raw) };
    }
    case 'github': {
      const header = required(headers, 'x-hub-signature-256');
      const signature = header.startsWith('sha256=') ? decode(header.slice(7), 'hex') : Buffer.alloc(0);
      if (!signaturesEqual(hmac('sha256', secret, raw), signature)) throw new InboundRejection('signature', 'signature mismatch');
      const type = headers['x-github-event'];
      if (!type) throw new InboundRejection('payload', 'the X-GitHub-Event header is missing');
      // GitHub may send application/x-www-form-urlencoded with the JSON in `payload`.
      const form = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      const body = form ? parseJson(new URLSearchParams(raw).get('payload') ?? '') : parseJson(raw);
      return { type, deliveryId: headers['x-github-delivery'], ...body };
    }
    case 'stripe': {
      const parts = required(headers, 'stripe-signature').split(',').map((p) => p.trim().split('='));
      const timestamp = Number(parts.find(([k]) => k === 't')?.[1]);
      const candidates = parts.filter(([k]) => k === 'v1').map(([, v]) => decode(v ?? '', 'hex'));
      if (!Number.isInteger(timestamp) || candidates.length === 0) throw new InboundRejection('signature', 'the Stripe-Signature header is malformed');
      const expected = hmac('sha256', secret, `${timestamp}.${raw}`);
      if (!candidates.some((c) => signaturesEqual(expected, c))) throw new InboundRejection('signature', 'signature mismatch');
      if (Math.abs(nowMs / 1000 - timestamp) > TIMESTAMP_TOLERANCE_SECONDS) throw new InboundRejection('signature', 'the signature timestamp is too old or too new');
      const body = parseJson(raw);
      const payload = body.payload as { type?: unknown; id?: unknown };
      if (typeof payload?.type !== 'string') throw new InboundRejection('payload', 'the Stripe event has no type');
      return { type: payload.type, deliveryId: typeof payload.id === 'string' ? payload.id : undefined, ...body };
    }
    case 'standard-webhooks': {
      // Svix, the spec's origin, sends the same headers named svix-*: accept either spelling.
      const spec = standardWebhookHeaders(headers);
      try {
        // jsonParse: false, so a signed body that is not JSON is a payload problem (400), not a 401.
        new Webhook(secret).verify(raw, spec, { jsonParse: false });
      } catch (error) {
        throw new InboundRejection('signature', error instanceof Error ? error.message : 'signature mismatch');
      }
      const body = parseJson(raw);
      const payload = body.payload as { type?: unknown };
      return { type: typeof payload?.type === 'string' ? payload.type : 'webhook', deliveryId: spec['webhook-id'], ...body };
    }
    case 'hmac': {
      const header = required(headers, (source.header ?? '').toLowerCase());
      const prefix = source.prefix ?? '';
      const value = header.startsWith(prefix) ? header.slice(prefix.length) : '';
      const signature = decode(value, source.encoding ?? 'hex');
      if (!signaturesEqual(hmac(source.algorithm ?? 'sha256', secret, raw), signature)) throw new InboundRejection('signature', 'signature mismatch');
      const body = parseJson(raw);
      const payload = body.payload as { type?: unknown };
      const type = source.eventTypeHeader ? headers[source.eventTypeHeader.toLowerCase()] : typeof payload?.type === 'string' ? payload.type : undefined;
      return { type: type ?? 'webhook', deliveryId: source.deliveryIdHeader ? headers[source.deliveryIdHeader.toLowerCase()] : undefined, ...body };
    }
  }
}

/**
 * Verifies a delivery against each of the source's secrets (current first, then the previous
 * one during a rotation). Throws the first payload problem, else a signature rejection.
 */
export function verifyDelivery(source: InboundSource, secrets: readonly string[], headers: Headers, raw: string, nowMs: number): VerifiedDelivery {
  let last: InboundRejection = new InboundRejection('signature', 'no secret configured');
  for (const secret of secrets) {
    try {
      return verifyWith(source, secret, headers, raw, nowMs);
    } catch (error) {
      if (!(error instanceof InboundRejection)) throw error;
      if (error.kind === 'payload') throw error;
      last = error;
    }
  }
  throw last;
}

/** `shop` + `orders/create` → `shop.orders/create`, within the event-type alphabet and length. */
export function inboundEventType(sourceName: string, type: string): string {
  return `${sourceName}.${type.replace(/[^A-Za-z0-9._:/-]/g, '_')}`.slice(0, 128);
}
