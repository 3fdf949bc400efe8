/**
 * SQS hides a message for at most 12 hours counted from when it was received, and the processor
 * asks only after its deliveries (up to its time limit, at most 10 minutes: src/functions/sizing.ts):
 * keep a quarter of an hour spare, or ChangeMessageVisibility is refused and the retry comes back
 * after the queue's own timeout.
 */
export const MAX_DELAY_SECONDS = 12 * 60 * 60 - 15 * 60;
const JITTER = 0.2;

/** A delay with ±20 % jitter, so retries of many events do not arrive at a receiver together. */
export function withJitter(seconds: number, random: () => number = Math.random): number {
  return seconds * (1 - JITTER + 2 * JITTER * random());
}

/**
 * Seconds to wait before the next attempt, after `attemptsMade` attempts (≥ 1), or undefined
 * when the schedule is used up. `schedule[i]` is the delay before attempt i + 1. A receiver's
 * `Retry-After` lengthens the wait, but never beyond the step after the next one.
 */
export function nextDelaySeconds(
  schedule: readonly number[],
  attemptsMade: number,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number | undefined {
  if (attemptsMade < 1 || attemptsMade >= schedule.length) return undefined;
  let delay = withJitter(schedule[attemptsMade], random);
  if (retryAfterSeconds !== undefined && retryAfterSeconds > delay) {
    const cap = schedule[attemptsMade + 1] ?? schedule[attemptsMade];
    delay = Math.max(delay, Math.min(retryAfterSeconds, cap));
  }
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.round(delay)));
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into seconds from now. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}
