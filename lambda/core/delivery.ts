import { Webhook } from 'standardwebhooks';
import { EmailContent } from './email-content';
import { joinObjects, stringifyWithRaw } from './raw-json';
import { parseRetryAfter } from './retry-policy';
import { StoredEvent } from './stored-event';

/** What one delivery attempt came to. */
export interface DeliveryResult {
  readonly ok: boolean;
  /** A failure worth another attempt (network, timeout, 5xx, 429, …). */
  readonly retryable: boolean;
  readonly httpStatus?: number;
  readonly messageId?: string;
  readonly retryAfterSeconds?: number;
  readonly error?: string;
  /** 410 Gone: the receiver asks never to be called again. */
  readonly disableSubscription?: boolean;
}

export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}

export interface WebhookResponse {
  readonly status: number;
  readonly retryAfter?: string;
}

/** The target resolved to an address webhooks may not reach (SSRF guard); nothing was sent. */
export class ForbiddenTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenTargetError';
  }
}

/** Port: sends one webhook request. Throws on network errors and time-outs; follows no redirects. */
export interface WebhookTransport {
  post(request: WebhookRequest): Promise<WebhookResponse>;
}

/** Port: sends one email; resolves to the provider's message id. */
export interface EmailTransport {
  send(to: string, content: EmailContent): Promise<string>;
}

/**
 * The webhook body (docs/architecture.md "Delivery"): `data` is the service's fields followed by
 * the publisher's envelope exactly as sent (raw-json.ts). Publishers cannot send the service's
 * field names (envelope.ts SERVICE_FIELDS), so nothing in `data` is said twice. Built from stored
 * values only, so it is identical on every retry.
 */
export function webhookBody(event: StoredEvent): string {
  const service = JSON.stringify({ eventId: event.eventId, receivedAt: event.receivedAt, source: event.source });
  return stringifyWithRaw({ type: event.eventType, timestamp: event.receivedAt }, 'data', joinObjects(service, event.eventJson));
}

/** Standard Webhooks headers: `webhook-id` stable across retries, timestamp of this attempt. */
export function signedWebhookHeaders(secret: string, webhookId: string, at: Date, body: string): Record<string, string> {
  const signature = new Webhook(secret).sign(webhookId, at, body);
  return {
    'content-type': 'application/json',
    'user-agent': 'event-notification-service',
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

/** Judges a receiver's answer: 2xx delivered; 410 disables; 3xx and everything else retries. */
export function judgeWebhookResponse(response: WebhookResponse, nowMs: number): DeliveryResult {
  const status = response.status;
  if (status >= 200 && status < 300) return { ok: true, retryable: false, httpStatus: status };
  if (status === 410) return { ok: false, retryable: false, httpStatus: status, disableSubscription: true, error: 'receiver answered 410 Gone' };
  const retryAfterSeconds = status === 429 || status === 503 ? parseRetryAfter(response.retryAfter, nowMs) : undefined;
  const error = status >= 300 && status < 400 ? `redirect ${status} not followed` : `receiver answered ${status}`;
  return { ok: false, retryable: true, httpStatus: status, error, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
}

/** A transport failure: refused targets are final, network errors and time-outs are retried. */
export function judgeWebhookError(error: unknown): DeliveryResult {
  if (error instanceof ForbiddenTargetError) return { ok: false, retryable: false, error: error.message };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { ok: false, retryable: true, error: message.slice(0, 300) };
}
