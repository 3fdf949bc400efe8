import fc from 'fast-check';
import type { DeliveryResult } from '../../../lambda/core/channels';
import { KeyedConcurrencyLimit } from '../../../lambda/core/concurrency';
import {
  admission, applyHealthOp, BreakerPolicy, breakerState, classifyOutcome, EndpointHealth, HealthOp, HealthOutcome, healthView, isPristine,
  laterHealth, nextCooldownSeconds, withHealthView,
} from '../../../lambda/core/endpoint-health';
import { EndpointHealthStore, EndpointHealthTracker, Gate } from '../../../lambda/core/endpoint-health-tracker';
import { Subscription } from '../../../lambda/core/subscription';

const POLICY: BreakerPolicy = { failureThreshold: 3, baseCooldownSeconds: 30, maxCooldownSeconds: 240 };
const T0 = Date.parse('2026-11-24T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const RESULTS: Record<HealthOutcome, DeliveryResult> = {
  'success': { ok: true, retryable: false, httpStatus: 204 },
  'endpoint-failure': { ok: false, retryable: true, error: 'TimeoutError: no answer within 15000 ms' },
  'other-failure': { ok: false, retryable: true, httpStatus: 404, error: 'receiver answered 404' },
};

/** The store as DynamoDB keeps it, in memory: `applyHealthOp` is the reference semantics the adapter follows. */
class MemoryHealthStore implements EndpointHealthStore {
  public health: EndpointHealth = {};
  public enabled = true;
  public disabledReason?: string;
  public readonly ops: HealthOp[] = [];
  public disables = 0;

  public async apply(_id: string, op: HealthOp): Promise<EndpointHealth | undefined> {
    this.ops.push(op);
    const next = applyHealthOp(this.health, op);
    if (next) this.health = next;
    return next;
  }

  public async disable(_id: string, change: { reason: string; nowMs: number; failingSince: string }): Promise<boolean> {
    this.disables++;
    if (!this.enabled || this.health.healthFailingSince !== change.failingSince) return false;
    this.enabled = false;
    this.disabledReason = change.reason;
    this.health = { ...this.health, healthAt: change.nowMs };
    return true;
  }
}

function subscription(health: EndpointHealth = {}): Subscription {
  return {
    subscriptionId: 'sub_01JDX0000000000000000000AA',
    ownerKeyId: 'key',
    eventType: 'deploy.finished',
    severityFilter: 'LOW',
    channel: 'WEBHOOK',
    target: 'https://hooks.example.com/a',
    enabled: true,
    createdAt: iso(T0),
    updatedAt: iso(T0),
    ...health,
  };
}

function tracker(store: MemoryHealthStore | undefined, clock: { now: number }, disableAfterMs = Number.POSITIVE_INFINITY, policy = POLICY) {
  const disabled: string[] = [];
  const errors: string[] = [];
  const t = new EndpointHealthTracker(store, {
    policy,
    disableAfterMs,
    probeLeaseMs: 18_000,
    now: () => clock.now,
    tracks: (s) => s.channel === 'WEBHOOK',
    onDisabled: (_s, reason) => disabled.push(reason),
    onError: (message) => errors.push(message),
  });
  return { t, disabled, errors };
}

describe('the breaker state machine (pure)', () => {
  test('closed → open after the threshold, half-open when the cool-down is over, one probe at a time', () => {
    let h: EndpointHealth = {};
    for (let i = 0; i < 3; i++) h = applyHealthOp(h, { kind: 'failure', nowMs: T0 + i })!;
    expect(h).toMatchObject({ healthFailures: 3, healthFailingSince: iso(T0) });
    expect(breakerState(h, T0 + 3)).toBe('closed');
    h = applyHealthOp(h, { kind: 'open', nowMs: T0 + 3, untilMs: T0 + 30_003, cooldownSeconds: 30 })!;
    expect(breakerState(h, T0 + 30_002)).toBe('open');
    expect(admission(h, T0 + 30_002)).toEqual({ kind: 'defer', untilMs: T0 + 30_003, reason: expect.stringContaining('open until') });
    expect(breakerState(h, T0 + 30_003)).toBe('half-open');
    expect(admission(h, T0 + 30_003)).toEqual({ kind: 'probe' });
    // A second opening does not apply over an open breaker.
    expect(applyHealthOp(h, { kind: 'open', nowMs: T0 + 4, untilMs: T0 + 99_999, cooldownSeconds: 30 })).toBeUndefined();

    const claim: HealthOp = { kind: 'claim-probe', nowMs: T0 + 31_000, leaseUntilMs: T0 + 49_000, ifOpenUntil: h.healthOpenUntil! };
    const probing = applyHealthOp(h, claim)!;
    expect(probing.healthProbeUntil).toBe(iso(T0 + 49_000));
    expect(applyHealthOp(probing, { ...claim, nowMs: T0 + 32_000 })).toBeUndefined();
    expect(admission(probing, T0 + 32_000)).toMatchObject({ kind: 'defer', untilMs: T0 + 49_000 });
    // A lease that ran out (its processor died) may be taken over.
    expect(applyHealthOp(probing, { ...claim, nowMs: T0 + 49_000, leaseUntilMs: T0 + 67_000 })?.healthProbeUntil).toBe(iso(T0 + 67_000));
    // Not before the cool-down is over, and not on a breaker that changed meanwhile.
    expect(applyHealthOp(h, { ...claim, nowMs: T0 + 1000 })).toBeUndefined();
    expect(applyHealthOp(h, { ...claim, ifOpenUntil: iso(T0) })).toBeUndefined();

    // The probe fails: open again for twice as long, counted; only with the lease held.
    const reopen: HealthOp = { kind: 'open', nowMs: T0 + 33_000, untilMs: T0 + 93_000, cooldownSeconds: 60, ifProbeUntil: probing.healthProbeUntil };
    expect(applyHealthOp(probing, reopen)).toMatchObject({ healthFailures: 4, healthCooldownSeconds: 60, healthOpenUntil: iso(T0 + 93_000) });
    expect(applyHealthOp(probing, reopen)?.healthProbeUntil).toBeUndefined();
    expect(applyHealthOp(h, reopen)).toBeUndefined();

    // Any success: back to nothing but the time.
    expect(applyHealthOp(probing, { kind: 'success', nowMs: T0 + 40_000 })).toEqual({ healthFailures: 0, healthAt: T0 + 40_000 });
    // An answer that is no success closes the breaker; the failing clock runs on.
    expect(applyHealthOp(probing, { kind: 'other-failure', nowMs: T0 + 40_000 })).toEqual({
      healthFailures: 0, healthFailingSince: iso(T0), healthAt: T0 + 40_000,
    });
  });

  test('outcomes: time-outs, connection errors and 5xx count against the endpoint; any answer shows it is up', () => {
    expect(classifyOutcome({ ok: true, retryable: false, httpStatus: 200 })).toBe('success');
    expect(classifyOutcome({ ok: false, retryable: true, error: 'ECONNREFUSED' })).toBe('endpoint-failure');
    expect(classifyOutcome({ ok: false, retryable: true, httpStatus: 503 })).toBe('endpoint-failure');
    expect(classifyOutcome({ ok: false, retryable: true, httpStatus: 500 })).toBe('endpoint-failure');
    expect(classifyOutcome({ ok: false, retryable: true, httpStatus: 429 })).toBe('other-failure');
    // Back-pressure, not an outage: the receiver says when to come back, and the schedule honours it.
    expect(classifyOutcome({ ok: false, retryable: true, httpStatus: 503, retryAfterSeconds: 1 })).toBe('other-failure');
    expect(classifyOutcome({ ok: false, retryable: true, httpStatus: 404 })).toBe('other-failure');
    expect(classifyOutcome({ ok: false, retryable: true, httpStatus: 302 })).toBe('other-failure');
    expect(classifyOutcome({ ok: false, retryable: false, error: 'refused target address 10.0.0.1' })).toBe('other-failure');
  });

  test('cool-downs double from the base up to the cap', () => {
    fc.assert(fc.property(fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }), (last) => {
      const next = nextCooldownSeconds(last === undefined ? {} : { healthCooldownSeconds: last }, POLICY);
      const doubled = last === undefined ? POLICY.baseCooldownSeconds : Math.max(POLICY.baseCooldownSeconds, 2 * last);
      expect(next).toBe(Math.min(POLICY.maxCooldownSeconds, doubled));
    }));
  });

  test('the later copy wins; the API view folds the attributes into `health`, absent until there is a record', () => {
    expect(laterHealth({ healthAt: 5, healthFailures: 1 }, { healthAt: 4 })).toEqual({ healthAt: 5, healthFailures: 1 });
    expect(laterHealth({ healthAt: 5 }, { healthAt: 6, healthFailures: 2 })).toEqual({ healthAt: 6, healthFailures: 2 });
    expect(laterHealth({}, undefined)).toEqual({});

    const open = { healthFailures: 5, healthFailingSince: iso(T0), healthOpenUntil: iso(T0 + 30_000), healthCooldownSeconds: 30, healthAt: T0 };
    expect(withHealthView({ subscriptionId: 's', ...open }, T0 + 1)).toEqual({
      subscriptionId: 's', health: { state: 'open', consecutiveFailures: 5, openUntil: iso(T0 + 30_000), failingSince: iso(T0) },
    });
    expect(healthView(open, T0 + 30_000).state).toBe('half-open');
    expect(withHealthView({ subscriptionId: 's' }, T0)).toEqual({ subscriptionId: 's' });
    expect(withHealthView({ subscriptionId: 's', healthFailures: 0, healthAt: T0 }, T0)).toEqual({
      subscriptionId: 's', health: { state: 'closed', consecutiveFailures: 0 },
    });
  });
});

/** An independent model of the breaker, to check the tracker against. */
interface Model {
  state: 'closed' | 'open';
  run: number;
  cooldownSeconds: number;
  openUntil: number;
  failingSince?: number;
  disabled: boolean;
}

describe('EndpointHealthTracker against a model (fast-check)', () => {
  const step = fc.record({
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1000, max: 300_000 })),
    outcome: fc.constantFrom<HealthOutcome>('success', 'endpoint-failure', 'endpoint-failure', 'other-failure'),
  });

  test('no request while open, one probe when the cool-down is over, doubling cool-downs, disabling after disableAfter', async () => {
    const disableAfter = fc.integer({ min: 60_000, max: 3_600_000 });
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 60 }), disableAfter, async (steps, disableAfterMs) => {
      const store = new MemoryHealthStore();
      const clock = { now: T0 };
      const { t, disabled } = tracker(store, clock, disableAfterMs);
      // The matcher's copy never refreshes here: the tracker must go by its own writes.
      const stale = subscription();
      const model: Model = { state: 'closed', run: 0, cooldownSeconds: 0, openUntil: 0, disabled: false };
      for (const { advanceMs, outcome } of steps) {
        clock.now += advanceMs;
        const now = clock.now;
        const gate = await t.admit(stale, () => true);
        if (model.disabled) {
          expect(gate?.send).toBe(false);
          continue;
        }
        if (model.state === 'open' && now < model.openUntil) {
          expect(gate).toEqual({ send: false, untilMs: model.openUntil, reason: expect.any(String) });
          continue;
        }
        const probe = model.state === 'open';
        expect(gate?.send).toBe(true);
        expect(!!(gate as Extract<Gate, { send: true }>).probe).toBe(probe);
        await t.record(stale, RESULTS[outcome], gate!);

        if (outcome === 'success') model.failingSince = undefined;
        else model.failingSince ??= now;
        if (outcome === 'endpoint-failure') {
          model.run++;
          if (probe) {
            model.cooldownSeconds = Math.min(POLICY.maxCooldownSeconds, model.cooldownSeconds * 2);
            model.openUntil = now + model.cooldownSeconds * 1000;
          } else if (model.run >= POLICY.failureThreshold && model.state === 'closed') {
            model.state = 'open';
            model.cooldownSeconds = POLICY.baseCooldownSeconds;
            model.openUntil = now + model.cooldownSeconds * 1000;
          }
        } else {
          model.state = 'closed';
          model.run = 0;
        }
        if (outcome !== 'success' && now - model.failingSince! >= disableAfterMs) model.disabled = true;

        const h = store.health;
        expect(breakerState(h, now)).toBe(model.state === 'closed' ? 'closed' : 'open');
        expect(h.healthFailures ?? 0).toBe(model.run);
        if (model.state === 'open') expect(h.healthOpenUntil).toBe(iso(model.openUntil));
        expect(h.healthFailingSince).toBe(model.failingSince === undefined ? undefined : iso(model.failingSince));
        expect(store.enabled).toBe(!model.disabled);
        expect(disabled).toHaveLength(model.disabled ? 1 : 0);
      }
    }), { numRuns: 300 });
  });

  test('a healthy endpoint costs no write: successes on a pristine state write nothing', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 50 }), async (gaps) => {
      const store = new MemoryHealthStore();
      const clock = { now: T0 };
      const { t } = tracker(store, clock);
      for (const gap of gaps) {
        clock.now += gap;
        const gate = await t.admit(subscription(), () => true);
        expect(gate).toEqual({ send: true });
        await t.record(subscription(), RESULTS.success, gate!);
      }
      expect(store.ops).toEqual([]);
    }));
  });

  test('after a failure, one write records it and one write (on the next success) forgets it', async () => {
    const store = new MemoryHealthStore();
    const clock = { now: T0 };
    const { t } = tracker(store, clock);
    for (const outcome of ['endpoint-failure', 'success', 'success', 'other-failure', 'other-failure', 'success'] as const) {
      clock.now += 1000;
      await t.record(subscription(), RESULTS[outcome], { send: true });
    }
    expect(store.ops.map((op) => op.kind)).toEqual(['failure', 'success', 'other-failure', 'success']);
    expect(isPristine(store.health)).toBe(true);
  });

  test('the probe: concurrent deliveries of a container wait for its verdict; a failed probe leaves them unsent', async () => {
    for (const verdict of ['success', 'endpoint-failure'] as const) {
      const store = new MemoryHealthStore();
      store.health = { healthFailures: 3, healthFailingSince: iso(T0), healthOpenUntil: iso(T0 + 30_000), healthCooldownSeconds: 30, healthAt: T0 };
      const clock = { now: T0 + 30_000 };
      const { t } = tracker(store, clock);
      const cached = subscription(store.health);
      const gates = [t.admit(cached, () => true), t.admit(cached, () => true), t.admit(cached, () => true)];
      const first = await gates[0];
      expect(first).toEqual({ send: true, probe: { leaseUntil: iso(T0 + 48_000) } });
      clock.now += 200;
      await t.record(cached, RESULTS[verdict], first!);
      const rest = await Promise.all(gates.slice(1));
      if (verdict === 'success') expect(rest).toEqual([{ send: true }, { send: true }]);
      else expect(rest.map((g) => g?.send)).toEqual([false, false]);
      expect(store.ops.filter((op) => op.kind === 'claim-probe')).toHaveLength(1);
    }
  });

  test('a probe another processor holds: not sent until its lease ends; a probe that could not finish in time is not waited for', async () => {
    const store = new MemoryHealthStore();
    const open = { healthFailures: 3, healthOpenUntil: iso(T0 + 30_000), healthCooldownSeconds: 30, healthAt: T0 };
    store.health = { ...open, healthProbeUntil: iso(T0 + 40_000) }; // claimed elsewhere after our copy was read
    const clock = { now: T0 + 31_000 };
    const { t } = tracker(store, clock);
    expect(await t.admit(subscription(open), () => true)).toEqual({ send: false, untilMs: T0 + 49_000, reason: expect.stringContaining('probing') });
    // And again without another write, until the lease this container assumed is over.
    expect(await t.admit(subscription(open), () => true)).toMatchObject({ send: false, untilMs: T0 + 49_000 });
    expect(store.ops).toHaveLength(1);

    const fresh = new MemoryHealthStore();
    fresh.health = open;
    const local = tracker(fresh, clock).t;
    const probe = await local.admit(subscription(open), () => true);
    const waiting = local.admit(subscription(open), () => false);
    await local.record(subscription(open), RESULTS.success, probe!);
    expect(await waiting).toBeUndefined();
  });

  test('without a store, or for a channel whose health is not tracked, everything is sent and nothing written', async () => {
    const clock = { now: T0 };
    const open = subscription({ healthFailures: 9, healthOpenUntil: iso(T0 + 60_000), healthAt: T0 });
    expect(await tracker(undefined, clock).t.admit(open, () => true)).toEqual({ send: true });
    const store = new MemoryHealthStore();
    const { t } = tracker(store, clock);
    const email = { ...open, channel: 'EMAIL' as const, target: 'ops@example.com' };
    expect(await t.admit(email, () => true)).toEqual({ send: true });
    await t.record(email, RESULTS['endpoint-failure'], { send: true });
    expect(store.ops).toEqual([]);
  });

  test('failureThreshold 0: no breaker (even over a state left open), failures still count towards disableAfter', async () => {
    const store = new MemoryHealthStore();
    store.health = { healthFailures: 9, healthOpenUntil: iso(T0 + 60_000), healthCooldownSeconds: 60, healthAt: T0 };
    const clock = { now: T0 };
    const { t, disabled } = tracker(store, clock, 10_000, { ...POLICY, failureThreshold: 0 });
    // Every second a failure, all sent, until disableAfter (10 s) has passed since the first.
    for (let i = 0; i <= 10; i++) {
      const gate = await t.admit(subscription(), () => true);
      expect(gate).toEqual({ send: true });
      await t.record(subscription(), RESULTS['endpoint-failure'], gate!);
      clock.now += 1000;
    }
    expect(store.ops.map((op) => op.kind)).toEqual(Array(11).fill('failure'));
    expect(disabled).toHaveLength(1);
    expect(await t.admit(subscription(), () => true)).toMatchObject({ send: false, reason: 'the subscription was disabled' });
  });

  test('a store that fails does not fail the delivery: it is reported', async () => {
    const clock = { now: T0 };
    const failing: EndpointHealthStore = { apply: async () => { throw new Error('throttled'); }, disable: async () => false };
    const errors: string[] = [];
    const t = new EndpointHealthTracker(failing, {
      policy: POLICY,
      disableAfterMs: 1,
      probeLeaseMs: 1000,
      now: () => clock.now,
      tracks: () => true,
      onDisabled: () => undefined,
      onError: (message) => errors.push(message),
    });
    await expect(t.record(subscription(), RESULTS['endpoint-failure'], { send: true })).resolves.toBeUndefined();
    expect(errors).toEqual(['Endpoint health not recorded']);
  });

  test('a subscription this container disabled is dropped from matching until a revival dated later', async () => {
    const store = new MemoryHealthStore();
    const clock = { now: T0 };
    const { t, disabled } = tracker(store, clock, 1000);
    await t.record(subscription(), RESULTS['endpoint-failure'], { send: true });
    clock.now += 1000;
    await t.record(subscription(), RESULTS['endpoint-failure'], { send: true });
    expect(disabled).toEqual([expect.stringMatching(/^every delivery failed for 1 s \(since 2026-11-24T12:00:00.000Z\); last error: TimeoutError/)]);
    expect(t.withoutDisabled([subscription()])).toEqual([]);
    expect(t.withoutDisabled([subscription({ healthFailures: 0, healthAt: clock.now + 1 })])).toHaveLength(1);
  });
});

describe('KeyedConcurrencyLimit', () => {
  test('at most `limit` tasks per key at once; other keys never wait', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), async (keys, limit) => {
      const slots = new KeyedConcurrencyLimit(limit);
      const running = new Map<string, number>();
      const most = new Map<string, number>();
      await Promise.all(keys.map((key, i) => slots.run(key, async () => {
        running.set(key, (running.get(key) ?? 0) + 1);
        most.set(key, Math.max(most.get(key) ?? 0, running.get(key)!));
        await new Promise((resolve) => setTimeout(resolve, i % 3));
        running.set(key, running.get(key)! - 1);
      })));
      for (const [key, n] of most) expect(n).toBeLessThanOrEqual(Math.min(limit, keys.filter((k) => k === key).length));
    }), { numRuns: 50 });
  });
});
