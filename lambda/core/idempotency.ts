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

/**
 * How long a claim belongs to the request that made it: longer than the ingest function may run
 * (10 s), so a live request is never overtaken. A claim older than this whose event is not on the
 * queue was left by a request that died; a repeat takes it over and sends the event.
 */
export const IDEMPOTENCY_LEASE_MS = 15_000;

/** The record an earlier request left for a key. */
export interface ExistingClaim {
  readonly status: 'existing';
  readonly eventId: string;
  readonly fingerprint: string;
  readonly enqueued: boolean;
  /** Epoch ms the claim was made or last taken over (0 for records written before this field). */
  readonly claimedAt: number;
}

/** What a claim found: a new key (ours now), or the record an earlier request left. */
export type ClaimResult = { readonly status: 'claimed' } | ExistingClaim;

/** Port: remembers which event id an idempotency key produced. */
export interface IdempotencyStore {
  /** Atomically records `key → eventId` unless the key is already known. */
  claim(key: string, eventId: string, fingerprint: string, expiresAt: number): Promise<ClaimResult>;
  /** The record of a key (a consistent read); undefined when there is none. */
  read(key: string): Promise<ExistingClaim | undefined>;
  /**
   * Takes over a claim whose request died before its event was queued: true when this caller now
   * owns it (the record still had `claimedAt` and was not enqueued), false when another did.
   */
  takeOver(key: string, claimedAt: number, nowMs: number): Promise<boolean>;
  /** Marks the event of a claimed key as on the queue, so repeats need not send it again. */
  markEnqueued(key: string): Promise<void>;
  /**
   * Gives up a claim whose event could not be queued: its lease ends at once, so a repeat takes
   * it over and sends the event under the same id (if the failed send did land after all, the
   * queue then holds one event twice under one id, which the processor deduplicates).
   */
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

export function idempotencyInProgress(): HttpProblem {
  return new HttpProblem(
    409,
    'idempotency-key-in-progress',
    'Request in progress',
    'A request with this Idempotency-Key is still being processed. Retry shortly with the same key and body.',
    undefined,
    { 'retry-after': '1' },
  );
}

export function idempotencyMismatch(): HttpProblem {
  return new HttpProblem(
    422,
    'idempotency-key-reused',
    'Idempotency-Key reused',
    'This Idempotency-Key was already used within 24 hours for a request with a different body.',
  );
}
