import fc from 'fast-check';
import { encodeTime } from 'ulid';
import { escapeHtml, renderEmail, subjectLine } from '../lambda/core/channels/email';
import { judgeWebhookResponse } from '../lambda/core/channels/webhook';
import { ConcurrencyLimit } from '../lambda/core/concurrency';
import { Severity, SEVERITIES } from '../lambda/core/envelope';
import { deterministicId, isId } from '../lambda/core/ids';
import { candidatePatterns, SubscriptionIndex, SubscriptionMatcher, subscriptionMatches } from '../lambda/core/matching';
import { MAX_DELAY_SECONDS, nextDelaySeconds, parseRetryAfter, withJitter } from '../lambda/core/retry-policy';
import { StoredEvent } from '../lambda/core/stored-event';
import { Subscription } from '../lambda/core/subscription';

const RANK: Record<Severity, number> = { LOW: 0, MEDIUM: 1, HIGH: 2, CRITICAL: 3 };
const DEFAULT_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

function subscription(fields: Partial<Subscription> = {}): Subscription {
  return {
    subscriptionId: 'sub_01JD000000000000000000000A',
    ownerKeyId: 'key-1',
    eventType: '*',
    severityFilter: 'LOW',
    channel: 'WEBHOOK',
    target: 'https://example.com/hook',
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...fields,
  };
}

/** Event types over a small alphabet of segments, so patterns and types often meet. */
const segment = fc.constantFrom('a', 'b', 'deploy', 'x-1', 'v2:beta');
const segments = fc.array(segment, { minLength: 1, maxLength: 4 });
const eventType = segments.map((s) => s.join('.'));
const pattern = fc.oneof(
  fc.constant('*'),
  eventType,
  segments.map((s) => `${s.join('.')}.*`),
);
const severity = fc.constantFrom(...SEVERITIES);

/** The reference rule, on segments: `p.*` matches a type with more segments that begins with p's. */
function patternMatchesType(p: string, type: string): boolean {
  if (p === '*' || p === type) return true;
  if (!p.endsWith('.*')) return false;
  const prefix = p.slice(0, -2).split('.');
  const parts = type.split('.');
  return parts.length > prefix.length && prefix.every((s, i) => parts[i] === s);
}

describe('subscriptionMatches / candidatePatterns', () => {
  test('a subscription matches iff its pattern, minimum severity and enabled flag all agree', () => {
    fc.assert(fc.property(eventType, pattern, severity, severity, fc.boolean(), (type, p, eventSeverity, filter, enabled) => {
      const expected = patternMatchesType(p, type) && RANK[eventSeverity] >= RANK[filter] && enabled;
      expect(subscriptionMatches(subscription({ eventType: p, severityFilter: filter, enabled }), type, eventSeverity)).toBe(expected);
    }), { numRuns: 2000 });
  });

  test('every pattern that can match a type is among its candidate patterns, and every candidate matches', () => {
    fc.assert(fc.property(eventType, pattern, (type, p) => {
      const candidates = candidatePatterns(type);
      expect(new Set(candidates).size).toBe(candidates.length);
      for (const c of candidates) expect(patternMatchesType(c, type)).toBe(true);
      if (subscriptionMatches(subscription({ eventType: p }), type, 'CRITICAL')) expect(candidates).toContain(p);
    }), { numRuns: 2000 });
  });

  test('with any valid event type, every prefix.* cut at a dot matches and is a candidate', () => {
    const anyType = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,40}$/);
    fc.assert(fc.property(anyType, fc.nat(), (type, pick) => {
      const dots = [...type].flatMap((c, i) => (c === '.' ? [i] : []));
      const candidates = candidatePatterns(type);
      expect(candidates).toContain(type);
      expect(candidates).toContain('*');
      if (dots.length === 0) return;
      const p = `${type.slice(0, dots[pick % dots.length])}.*`;
      expect(subscriptionMatches(subscription({ eventType: p }), type, 'LOW')).toBe(true);
      expect(candidates).toContain(p);
    }), { numRuns: 1000 });
  });

  test('examples', () => {
    expect(candidatePatterns('a.b.c')).toEqual(['a.b.c', '*', 'a.*', 'a.b.*']);
    expect(candidatePatterns('deploy')).toEqual(['deploy', '*']);
    const match = (p: string, type: string) => subscriptionMatches(subscription({ eventType: p }), type, 'LOW');
    expect(match('deploy.*', 'deploy.finished')).toBe(true);
    expect(match('deploy.*', 'deploy')).toBe(false);
    expect(match('deploy.*', 'deployment.finished')).toBe(false);
    expect(match('deploy.finished', 'deploy.finished.late')).toBe(false);
    expect(subscriptionMatches(subscription({ severityFilter: 'HIGH' }), 'x', 'MEDIUM')).toBe(false);
    expect(subscriptionMatches(subscription({ severityFilter: 'HIGH' }), 'x', 'HIGH')).toBe(true);
    expect(subscriptionMatches(subscription({ enabled: false }), 'x', 'CRITICAL')).toBe(false);
  });
});

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

describe('deterministicId', () => {
  const time = fc.integer({ min: 0, max: 2 ** 48 - 1 });

  test('the same time and seed give the same valid, ULID-shaped id carrying that time', () => {
    fc.assert(fc.property(time, fc.string(), (t, seed) => {
      const id = deterministicId('ntf', t, seed);
      expect(deterministicId('ntf', t, seed)).toBe(id);
      expect(isId('ntf', id)).toBe(true);
      expect(id.slice(4, 14)).toBe(encodeTime(t, 10));
    }));
  });

  test('different seeds give different ids; a later time sorts later whatever the seeds', () => {
    fc.assert(fc.property(time, time, fc.string(), fc.string(), (t1, t2, s1, s2) => {
      if (s1 !== s2) expect(deterministicId('evt', t1, s1)).not.toBe(deterministicId('evt', t1, s2));
      const [a, b] = [deterministicId('evt', t1, s1), deterministicId('evt', t2, s2)];
      if (t1 < t2) expect(a < b).toBe(true);
      if (t1 > t2) expect(a > b).toBe(true);
    }));
  });
});

describe('email content', () => {
  const allowedTags = /<!doctype html>|<\/?(?:html|body|h2|h3|table|tr|td|pre)>|<th align="left">|<\/th>/g;
  const text = fc.string({ unit: 'binary', maxLength: 300 });

  test('escapeHtml leaves no markup characters and round-trips', () => {
    const unescape = (s: string) => s.replace(/&lt;|&gt;|&quot;|&#39;|&amp;/g, (e) => ({ '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' })[e]!);
    fc.assert(fc.property(text, (s) => {
      const escaped = escapeHtml(s);
      expect(escaped).not.toMatch(/[<>"']/);
      expect(escaped).not.toMatch(/&(?!(?:lt|gt|quot|#39|amp);)/);
      expect(unescape(escaped)).toBe(s);
    }));
    expect(escapeHtml('<a href="x">\'&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('subjectLine: no CR, LF or control characters, at most 200 characters, severity first', () => {
    fc.assert(fc.property(severity, text, (sev, title) => {
      const subject = subjectLine(sev, title);
      expect(subject).not.toMatch(/[\r\n\u0000-\u001f\u007f]/);
      expect(subject.length).toBeLessThanOrEqual(200);
      expect(subject.startsWith(`[${sev}] `)).toBe(true);
    }));
    expect(subjectLine('HIGH', 'Deploy\r\nBcc: victim@example.com')).toBe('[HIGH] Deploy Bcc: victim@example.com');
  });

  test('renderEmail escapes every user value in the HTML part', () => {
    fc.assert(fc.property(text, fc.dictionary(fc.string({ maxLength: 10 }), text, { maxKeys: 3 }), text, (title, details, extra) => {
      const envelope = { eventType: 'deploy.finished', severity: 'HIGH' as const, title: title || '-', details: { ...details, extra } };
      const event: StoredEvent = {
        eventId: 'evt_01JD0000000000000000000000',
        eventJson: JSON.stringify(envelope),
        event: envelope,
        eventType: 'deploy.finished',
        receivedAt: '2025-01-01T00:00:00.000Z',
        source: 'api',
        status: 'ACCEPTED',
        expiresAt: 0,
      };
      const email = renderEmail(event);
      expect(email.html.replace(allowedTags, '')).not.toMatch(/[<>]/);
      expect(email.html).toContain(`<h2>${escapeHtml(title || '-')}</h2>`);
      expect(email.text).toContain(title || '-');
      expect(email.subject).not.toMatch(/[\r\n]/);
    }), { numRuns: 300 });
  });
});

describe('SubscriptionMatcher cache', () => {
  function fakeIndex(byPattern: Record<string, Subscription[]>) {
    const calls: string[] = [];
    let failNext: string | undefined;
    const index: SubscriptionIndex = {
      byPattern: async (p) => {
        calls.push(p);
        if (failNext === p) {
          failNext = undefined;
          throw new Error('ProvisionedThroughputExceededException');
        }
        return byPattern[p] ?? [];
      },
    };
    return { index, calls, failOnce: (p: string) => (failNext = p) };
  }
  const exact = subscription({ subscriptionId: 'sub_1', eventType: 'deploy.finished' });
  const all = subscription({ subscriptionId: 'sub_2', eventType: '*', severityFilter: 'CRITICAL' });
  const prefix = subscription({ subscriptionId: 'sub_3', eventType: 'deploy.*' });

  test('within the TTL a second match makes no index call; after it, it does', async () => {
    let now = 1_000_000;
    const { index, calls } = fakeIndex({ 'deploy.finished': [exact], '*': [all], 'deploy.*': [prefix] });
    const matcher = new SubscriptionMatcher(index, 30_000, () => now);

    expect((await matcher.match('deploy.finished', 'HIGH')).map((s) => s.subscriptionId)).toEqual(['sub_1', 'sub_3']);
    expect(calls.sort()).toEqual(['*', 'deploy.*', 'deploy.finished']);
    now += 29_999;
    expect((await matcher.match('deploy.finished', 'CRITICAL')).map((s) => s.subscriptionId).sort()).toEqual(['sub_1', 'sub_2', 'sub_3']);
    expect(calls).toHaveLength(3);
    // Another type shares the cached `*` and `deploy.*` lists.
    await matcher.match('deploy.started', 'LOW');
    expect(calls).toHaveLength(4);
    now += 2;
    await matcher.match('deploy.finished', 'HIGH');
    expect(calls).toHaveLength(7);
  });

  test('concurrent matches share one lookup per pattern', async () => {
    const { index, calls } = fakeIndex({});
    const matcher = new SubscriptionMatcher(index, 30_000, () => 0);
    await Promise.all([matcher.match('a.b', 'LOW'), matcher.match('a.b', 'LOW'), matcher.match('a.b', 'HIGH')]);
    expect(calls.sort()).toEqual(['*', 'a.*', 'a.b']);
  });

  test('a failed lookup is not cached', async () => {
    const { index, calls, failOnce } = fakeIndex({ '*': [all] });
    const matcher = new SubscriptionMatcher(index, 30_000, () => 0);
    failOnce('*');
    await expect(matcher.match('deploy.finished', 'CRITICAL')).rejects.toThrow('ProvisionedThroughputExceededException');
    expect((await matcher.match('deploy.finished', 'CRITICAL')).map((s) => s.subscriptionId)).toEqual(['sub_2']);
    // Only `*` was asked again; the two lists that had loaded stay cached.
    expect(calls.filter((p) => p === '*')).toHaveLength(2);
    expect(calls).toHaveLength(4);
  });
});

describe('ConcurrencyLimit', () => {
  const hop = () => new Promise<void>((resolve) => setImmediate(resolve));

  test('never runs more than its limit at once, reaches it, and returns every result', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.nat({ max: 4 }), { maxLength: 30 }), async (limit, hops) => {
      const gate = new ConcurrencyLimit(limit);
      let active = 0;
      let max = 0;
      const results = await Promise.all(hops.map((n, i) => gate.run(async () => {
        active++;
        max = Math.max(max, active);
        for (let k = 0; k <= n; k++) await hop();
        active--;
        return i;
      })));
      expect(results).toEqual(hops.map((_, i) => i));
      expect(max).toBeLessThanOrEqual(limit);
      expect(max).toBe(Math.min(limit, hops.length));
      expect(active).toBe(0);
    }), { numRuns: 100 });
  });

  test('a failing task frees its slot', async () => {
    const gate = new ConcurrencyLimit(1);
    await expect(gate.run(async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    await expect(gate.run(async () => 'next')).resolves.toBe('next');
  });

  test('rejects a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new ConcurrencyLimit(bad)).toThrow(/positive integer/);
  });
});
