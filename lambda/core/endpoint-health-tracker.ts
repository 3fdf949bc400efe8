import type { DeliveryResult } from './channels';
import {
  admission, BreakerPolicy, classifyOutcome, dueForDisabling, EndpointHealth, HealthOp, healthOf, isPristine, laterHealth, nextCooldownSeconds,
} from './endpoint-health';
import type { Subscription } from './subscription';

/** Port: the subscriptions' health, each change one atomic write (DynamoDB: one UpdateItem). */
export interface EndpointHealthStore {
  /** Applies the change: the stored health after it, or undefined when its condition failed or the subscription is gone. */
  apply(subscriptionId: string, op: HealthOp): Promise<EndpointHealth | undefined>;
  /** Disables the subscription if it is enabled and still failing since `failingSince`: true if this call disabled it. */
  disable(subscriptionId: string, change: { readonly reason: string; readonly nowMs: number; readonly failingSince: string }): Promise<boolean>;
}

export interface EndpointHealthOptions {
  readonly policy: BreakerPolicy;
  readonly disableAfterMs: number;
  /** How long a probe may take (a request's time-out and a margin): the lease of the one probe. */
  readonly probeLeaseMs: number;
  readonly now: () => number;
  /** Whether the subscription's channel delivers to an endpoint of the subscriber's, whose health is tracked. */
  readonly tracks: (subscription: Subscription) => boolean;
  /** This processor disabled the subscription (count it, log it). */
  readonly onDisabled: (subscription: Subscription, reason: string) => void;
  /** A health write failed: the delivery's own records go on regardless. */
  readonly onError: (message: string, attributes: Record<string, unknown>) => void;
}

/** Whether a delivery may go now: send (maybe as the breaker's one probe), or not before `untilMs`. */
export type Gate =
  | { readonly send: true; readonly probe?: { readonly leaseUntil: string } }
  | { readonly send: false; readonly untilMs: number; readonly reason: string };

const SEND: Gate = { send: true };

/**
 * The processor's side of endpoint health (docs/architecture.md "Endpoint health"): decides per
 * delivery from the state read with the subscriptions (or this container's own later writes),
 * records outcomes with one atomic write per state change, claims the one probe of a half-open
 * breaker, and disables subscriptions that have failed for `disableAfter`. A success on a
 * pristine endpoint writes nothing.
 */
export class EndpointHealthTracker {
  /** What this container wrote last per subscription (newer than a cached item until the cache refreshes). */
  private readonly known = new Map<string, EndpointHealth>();
  /** Subscriptions this container disabled, with when. */
  private readonly disabledAt = new Map<string, number>();
  /** Probes in flight from this container: its other deliveries to the endpoint wait for the verdict. */
  private readonly probing = new Map<string, { readonly done: Promise<void>; readonly release: () => void }>();
  /** Probes another processor holds: until when, and the state this container had seen. */
  private readonly heldElsewhere = new Map<string, { readonly untilMs: number; readonly seenAt: number | undefined }>();

  constructor(private readonly store: EndpointHealthStore | undefined, private readonly options: EndpointHealthOptions) {}

  /** The subscription's health: the cached item's, or this container's own later write. */
  public healthOf(subscription: Subscription): EndpointHealth {
    return laterHealth(healthOf(subscription), this.known.get(subscription.subscriptionId));
  }

  /** Drops the subscriptions this container disabled since their items were read (the cache lags). */
  public withoutDisabled(subscriptions: Subscription[]): Subscription[] {
    return subscriptions.filter((s) => !this.isDisabledHere(s));
  }

  /**
   * Whether a delivery may go now. In a half-open breaker the first delivery claims the probe (a
   * conditional write); this container's other deliveries to it wait for its verdict, others'
   * are not sent until the probe's lease ends. Undefined: it waited for a probe and
   * `hasTime()` says a request could no longer finish before the deadline.
   */
  public async admit(subscription: Subscription, hasTime: () => boolean): Promise<Gate | undefined> {
    if (!this.store || !this.options.tracks(subscription)) return SEND;
    const id = subscription.subscriptionId;
    for (;;) {
      const local = this.probing.get(id);
      if (local) {
        await local.done;
        if (!hasTime()) return undefined;
        continue;
      }
      const now = this.options.now();
      if (this.isDisabledHere(subscription)) return { send: false, untilMs: now, reason: 'the subscription was disabled' };
      if (this.options.policy.failureThreshold === 0) return SEND; // no breaker
      const health = this.healthOf(subscription);
      const elsewhere = this.heldElsewhere.get(id);
      if (elsewhere && elsewhere.untilMs > now && elsewhere.seenAt === health.healthAt) {
        return { send: false, untilMs: elsewhere.untilMs, reason: 'the endpoint\'s circuit breaker is half-open and another delivery is probing it' };
      }
      const decision = admission(health, now);
      if (decision.kind === 'send') return SEND;
      if (decision.kind === 'defer') return { send: false, untilMs: decision.untilMs, reason: decision.reason };
      return this.claimProbe(subscription, health, now);
    }
  }

  /** Records what a sent delivery came to: a write only when the state changes. */
  public async record(subscription: Subscription, result: DeliveryResult, gate: Gate): Promise<void> {
    if (!this.store || !this.options.tracks(subscription) || !gate.send) return;
    const id = subscription.subscriptionId;
    const { policy } = this.options;
    try {
      const now = this.options.now();
      const before = this.healthOf(subscription);
      const outcome = classifyOutcome(result);
      let after: EndpointHealth | undefined = before;
      if (outcome === 'success') {
        if (gate.probe || !isPristine(before)) after = await this.apply(id, { kind: 'success', nowMs: now });
      } else if (outcome === 'other-failure') {
        const changes = gate.probe || !!before.healthFailures || before.healthOpenUntil !== undefined || before.healthFailingSince === undefined;
        if (changes) after = await this.apply(id, { kind: 'other-failure', nowMs: now });
      } else if (gate.probe) {
        // The probe failed: open again, for twice as long.
        const cooldownSeconds = nextCooldownSeconds(before, policy);
        after = await this.apply(id, { kind: 'open', nowMs: now, untilMs: now + cooldownSeconds * 1000, cooldownSeconds, ifProbeUntil: gate.probe.leaseUntil })
          ?? await this.apply(id, { kind: 'failure', nowMs: now });
      } else {
        after = await this.apply(id, { kind: 'failure', nowMs: now });
        // The first processor whose failure reaches the threshold opens the breaker (if another
        // did meanwhile, this one learns it with its next failure's answer).
        if (policy.failureThreshold > 0 && after && (after.healthFailures ?? 0) >= policy.failureThreshold && after.healthOpenUntil === undefined) {
          const cooldownSeconds = policy.baseCooldownSeconds;
          after = await this.apply(id, { kind: 'open', nowMs: now, untilMs: now + cooldownSeconds * 1000, cooldownSeconds }) ?? after;
        }
      }
      if (outcome !== 'success' && after && dueForDisabling(after, now, this.options.disableAfterMs)) {
        await this.disable(subscription, after.healthFailingSince!, result, now);
      }
    } catch (error) {
      this.options.onError('Endpoint health not recorded', { subscriptionId: id, error: error instanceof Error ? error.message : String(error) });
    } finally {
      if (gate.probe) this.endProbe(id);
    }
  }

  private async claimProbe(subscription: Subscription, health: EndpointHealth, now: number): Promise<Gate> {
    const id = subscription.subscriptionId;
    // Registered before the write, so this container's other deliveries to the endpoint wait.
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.probing.set(id, { done, release });
    const leaseUntilMs = now + this.options.probeLeaseMs;
    let claimed: EndpointHealth | undefined;
    try {
      claimed = await this.apply(id, { kind: 'claim-probe', nowMs: now, leaseUntilMs, ifOpenUntil: health.healthOpenUntil! });
    } catch (error) {
      this.options.onError('Probe not claimed', { subscriptionId: id, error: error instanceof Error ? error.message : String(error) });
    }
    if (claimed?.healthProbeUntil === undefined) {
      this.endProbe(id);
      this.heldElsewhere.set(id, { untilMs: leaseUntilMs, seenAt: health.healthAt });
      return { send: false, untilMs: leaseUntilMs, reason: 'the endpoint\'s circuit breaker is half-open and another delivery is probing it' };
    }
    return { send: true, probe: { leaseUntil: claimed.healthProbeUntil } };
  }

  private endProbe(id: string): void {
    const probe = this.probing.get(id);
    this.probing.delete(id);
    probe?.release();
  }

  private async apply(id: string, op: HealthOp): Promise<EndpointHealth | undefined> {
    const after = await this.store!.apply(id, op);
    if (after) this.known.set(id, laterHealth(after, this.known.get(id)));
    return after;
  }

  private async disable(subscription: Subscription, failingSince: string, result: DeliveryResult, now: number): Promise<void> {
    const reason = (`every delivery failed for ${describeDuration(this.options.disableAfterMs)} (since ${failingSince}); `
      + `last error: ${result.error ?? 'failed'}`).slice(0, 300);
    if (await this.store!.disable(subscription.subscriptionId, { reason, nowMs: now, failingSince })) {
      this.disabledAt.set(subscription.subscriptionId, now);
      this.options.onDisabled(subscription, reason);
    }
  }

  private isDisabledHere(subscription: Subscription): boolean {
    const at = this.disabledAt.get(subscription.subscriptionId);
    // A revival (PATCH enabled: true) after it resets the health with a later time.
    return at !== undefined && at >= (subscription.healthAt ?? 0);
  }
}

/** `5 days`, `30 s`: for the reason stored on a disabled subscription. */
export function describeDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 86400 === 0) return `${s / 86400} day${s === 86400 ? '' : 's'}`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
