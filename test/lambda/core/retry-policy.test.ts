import fc from 'fast-check';
import { judgeWebhookResponse } from '../../../lambda/core/channels/webhook';
import { MAX_DELAY_SECONDS, nextDelaySeconds, parseRetryAfter, withJitter } from '../../../lambda/core/retry-policy';

const DEFAULT_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

describe('retry policy', () => {
  const schedule = fc.array(fc.nat({ max: 60_000 }), { minLength: 1, maxLength: 10 });
  const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  test('withJitter stays within ±20 %', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), random, (seconds, r) => {
      const jittered = withJitter(seconds, () => r);
      expect(jittered).toBeGreaterThanOrEqual(seconds * 0.8 - 1e-9);
      expect(jittered).toBeLessThanOrEqual(seconds * 1.2 + 1e-9);
    }));
  });

  test('the delay is the scheduled step ±20 % (rounded), at most 12 h, and undefined after the last step', () => {
    fc.assert(fc.property(schedule, fc.integer({ min: -1, max: 12 }), random, (steps, attemptsMade, r) => {
      const delay = nextDelaySeconds(steps, attemptsMade, undefined, () => r);
      if (attemptsMade < 1 || attemptsMade >= steps.length) {
        expect(delay).toBeUndefined();
        return;
      }
      const step = steps[attemptsMade];
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(Math.min(MAX_DELAY_SECONDS, Math.round(step * 0.8)));
      expect(delay).toBeLessThanOrEqual(Math.min(MAX_DELAY_SECONDS, Math.round(step * 1.2)));
      expect(delay).toBeLessThanOrEqual(43_200);
    }), { numRuns: 2000 });
  });

  test('an 11-12 h step plus +20 % jitter stays a quarter of an hour inside SQS\'s 12-hour visibility limit', () => {
    for (const step of [11 * 3600, 12 * 3600]) {
      const delay = nextDelaySeconds([0, step], 1, undefined, () => 1)!;
      expect(delay).toBe(12 * 3600 - 15 * 60);
      expect(delay + 150).toBeLessThan(43_200); // the processor's longest run before it asks
    }
  });

  test('Retry-After lengthens the delay up to the following step, never beyond it and never shortens it', () => {
    fc.assert(fc.property(schedule, fc.integer({ min: 1, max: 9 }), fc.nat({ max: 200_000 }), random, (steps, attemptsMade, retryAfter, r) => {
      fc.pre(attemptsMade < steps.length);
      const plain = nextDelaySeconds(steps, attemptsMade, undefined, () => r)!;
      const delay = nextDelaySeconds(steps, attemptsMade, retryAfter, () => r)!;
      const following = steps[attemptsMade + 1] ?? steps[attemptsMade];
      expect(delay).toBeGreaterThanOrEqual(plain);
      expect(delay).toBeLessThanOrEqual(Math.max(plain, Math.min(MAX_DELAY_SECONDS, following)));
      // Honoured as far as the following step allows.
      expect(delay).toBeGreaterThanOrEqual(Math.min(retryAfter, following, MAX_DELAY_SECONDS));
      expect(delay).toBeLessThanOrEqual(MAX_DELAY_SECONDS);
    }), { numRuns: 2000 });
  });

  test('the default schedule without jitter', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => nextDelaySeconds(DEFAULT_SCHEDULE, n, undefined, () => 0.5));
    expect(delays).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000, undefined]);
    // 429 with Retry-After: 120 after the second attempt (next step 300 s): 300 s is kept.
    expect(nextDelaySeconds(DEFAULT_SCHEDULE, 2, 120, () => 0.5)).toBe(300);
    // After the first attempt (5 s), Retry-After: 120 is honoured (the following step is 300 s)...
    expect(nextDelaySeconds(DEFAULT_SCHEDULE, 1, 120, () => 0.5)).toBe(120);
    // ...and Retry-After: 86400 is cut to that following step.
    expect(nextDelaySeconds(DEFAULT_SCHEDULE, 1, 86_400, () => 0.5)).toBe(300);
  });

  test('parseRetryAfter reads seconds and HTTP dates', () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0);
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 7 ', now)).toBe(7);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30);
    expect(parseRetryAfter('Wed, 01 Jan 2025 12:01:30 GMT', now)).toBe(90);
    expect(parseRetryAfter(new Date(now - 60_000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    fc.assert(fc.property(fc.nat({ max: 10_000_000 }), (seconds) => {
      expect(parseRetryAfter(String(seconds), now)).toBe(seconds);
      expect(parseRetryAfter(new Date(now + seconds * 1000).toUTCString(), now)).toBe(seconds);
    }));
  });

  test('receivers\' answers: 2xx delivered, 410 disables, 3xx and 5xx retried, Retry-After on 429/503 only', () => {
    const now = Date.UTC(2025, 0, 1);
    expect(judgeWebhookResponse({ status: 204 }, now)).toEqual({ ok: true, retryable: false, httpStatus: 204 });
    expect(judgeWebhookResponse({ status: 410 }, now)).toMatchObject({ ok: false, retryable: false, disableSubscription: true });
    expect(judgeWebhookResponse({ status: 301 }, now)).toMatchObject({ ok: false, retryable: true, error: expect.stringContaining('not followed') });
    expect(judgeWebhookResponse({ status: 503, retryAfter: '9' }, now)).toMatchObject({ retryable: true, retryAfterSeconds: 9 });
    expect(judgeWebhookResponse({ status: 429, retryAfter: '9' }, now)).toMatchObject({ retryable: true, retryAfterSeconds: 9 });
    expect(judgeWebhookResponse({ status: 500, retryAfter: '9' }, now).retryAfterSeconds).toBeUndefined();
    expect(judgeWebhookResponse({ status: 400 }, now)).toMatchObject({ ok: false, retryable: true });
  });
});
