import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { joinObjects, stringifyWithRaw } from '../../raw-json';
import type { StoredEvent } from '../../stored-event';

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
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

/**
 * Standard Webhooks headers: `webhook-id` stable across retries, timestamp of this attempt. With
 * `previousSecret` (a rotation's overlap) the signature header carries both signatures,
 * `v1,<new> v1,<old>` (the spec allows several, space-separated): a receiver verifying with
 * either secret accepts the delivery.
 */
export function signedWebhookHeaders(secret: string, webhookId: string, at: Date, body: string, previousSecret?: string): Record<string, string> {
  const signature = [secret, ...(previousSecret ? [previousSecret] : [])]
    .map((key) => new Webhook(key).sign(webhookId, at, body))
    .join(' ');
  return {
    'content-type': 'application/json',
    'user-agent': 'event-notification-service',
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

/** The replaced secret while its overlap lasts at `atMs`, else undefined. */
export function previousSecretAt(subscription: { previousSecret?: string; previousSecretExpiresAt?: string }, atMs: number): string | undefined {
  const { previousSecret, previousSecretExpiresAt } = subscription;
  if (!previousSecret || !previousSecretExpiresAt) return undefined;
  return Date.parse(previousSecretExpiresAt) > atMs ? previousSecret : undefined;
}
