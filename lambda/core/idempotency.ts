import { createHash } from 'node:crypto';
import * as z from 'zod';
import { HttpProblem } from './problem';

/** An `Idempotency-Key` is kept this long: a repeat within it yields the same event id. */
export const IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60;

export const idempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII');

/** What a claim found: a new key (ours now), or the record an earlier request left. */
export type ClaimResult =
  | { readonly status: 'claimed' }
  | { readonly status: 'existing'; readonly eventId: string; readonly fingerprint: string; readonly enqueued: boolean };

/** Port: remembers which event id an idempotency key produced. */
export interface IdempotencyStore {
  /** Atomically records `key → eventId` unless the key is already known. */
  claim(key: string, eventId: string, fingerprint: string, expiresAt: number): Promise<ClaimResult>;
  /** Marks the event of a claimed key as on the queue, so repeats need not send it again. */
  markEnqueued(key: string): Promise<void>;
  /** Forgets a claim whose event could not be queued, so the caller can try again. */
  release(key: string): Promise<void>;
}

/** Idempotency keys are scoped to the caller: two publishers may use the same key. */
export function scopedIdempotencyKey(callerKeyId: string | undefined, key: string): string {
  const digest = createHash('sha256').update(`${callerKeyId ?? '-'}\n${key}`).digest('base64url');
  return `idem_${digest}`;
}

export function fingerprintOf(body: string): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** The header value, validated; undefined when the caller sent none. */
export function parseIdempotencyKeyHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(value);
  if (!parsed.success) {
    throw HttpProblem.badRequest('The Idempotency-Key header is not valid.', [
      { path: '/headers/idempotency-key', message: parsed.error.issues[0]?.message ?? 'invalid' },
    ]);
  }
  return parsed.data;
}

export function idempotencyMismatch(): HttpProblem {
  return new HttpProblem(
    422,
    'idempotency-key-reused',
    'Idempotency-Key reused',
    'This Idempotency-Key was already used within 24 hours for a request with a different body.',
  );
}
