import * as z from 'zod';
import type { DeliveryResult } from './channels';

/**
 * Endpoint health (docs/architecture.md "Endpoint health"), the pure part: a circuit breaker per
 * subscription and the clock that disables a subscription whose deliveries have all failed for
 * `disableAfter`. No I/O and no clock of its own: every function takes the time.
 *
 * The state lives on the subscription item as top-level attributes, so that the processor can
 * change it with one atomic UpdateItem per transition (`HealthOp`, applied by `applyHealthOp`
 * here and by the DynamoDB adapter alike) and the matcher reads it with the subscriptions it
 * loads anyway: no read per event, no write while an endpoint is healthy.
 */
export interface EndpointHealth {
  /** Failures of the endpoint in a row (time-outs, connection errors, 5xx); any answer resets it. */
  readonly healthFailures?: number;
  /** When the current run of failed deliveries began (any failure; a success clears it), ISO-8601. */
  readonly healthFailingSince?: string;
  /** The breaker is open until then (ISO-8601); absent while it is closed. */
  readonly healthOpenUntil?: string;
  /** The cool-down that opened it, seconds: each failed probe doubles it. */
  readonly healthCooldownSeconds?: number;
  /** A processor holds the one probe until then (ISO-8601). */
  readonly healthProbeUntil?: string;
  /** Epoch ms of the last change: of two copies (a cached item, a processor's own write), the later wins. */
  readonly healthAt?: number;
}

/** The attributes of `EndpointHealth`: removed together when a subscription is revived. */
export const HEALTH_ATTRIBUTES = [
  'healthFailures', 'healthFailingSince', 'healthOpenUntil', 'healthCooldownSeconds', 'healthProbeUntil', 'healthAt',
] as const satisfies readonly (keyof EndpointHealth)[];

export interface BreakerPolicy {
  /** Endpoint failures in a row that open the breaker; 0: no breaker (failures still count for disabling). */
  readonly failureThreshold: number;
  /** The first cool-down, seconds. */
  readonly baseCooldownSeconds: number;
  /** Cool-downs double after each failed probe, up to this, seconds. */
  readonly maxCooldownSeconds: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = { failureThreshold: 5, baseCooldownSeconds: 30, maxCooldownSeconds: 15 * 60 };

/** Default of the construct's `disableAfter`: 5 days. */
export const DEFAULT_DISABLE_AFTER_SECONDS = 5 * 24 * 3600;

export type BreakerState = 'closed' | 'open' | 'half-open';

/** closed: deliveries go; open: none until `healthOpenUntil`; half-open: the cool-down is over, the next delivery probes. */
export function breakerState(health: EndpointHealth, nowMs: number): BreakerState {
  const openUntil = timeOf(health.healthOpenUntil);
  if (openUntil === undefined) return 'closed';
  return openUntil > nowMs ? 'open' : 'half-open';
}

/** What may happen to a delivery now. */
export type Admission =
  | { readonly kind: 'send' }
  /** Half-open and nobody probing: this delivery may be the probe, once it has claimed it. */
  | { readonly kind: 'probe' }
  /** Not sent; due again at `untilMs`. */
  | { readonly kind: 'defer'; readonly untilMs: number; readonly reason: string };

export function admission(health: EndpointHealth, nowMs: number): Admission {
  const state = breakerState(health, nowMs);
  if (state === 'closed') return { kind: 'send' };
  const openUntil = timeOf(health.healthOpenUntil)!;
  if (state === 'open') {
    return {
      kind: 'defer',
      untilMs: openUntil,
      reason: `the endpoint's circuit breaker is open until ${health.healthOpenUntil} after ${health.healthFailures ?? 0} failures in a row`,
    };
  }
  const probeUntil = timeOf(health.healthProbeUntil);
  if (probeUntil !== undefined && probeUntil > nowMs) {
    return { kind: 'defer', untilMs: probeUntil, reason: 'the endpoint\'s circuit breaker is half-open and another delivery is probing it' };
  }
  return { kind: 'probe' };
}

/**
 * How an attempt counts. `endpoint-failure` (a time-out, a connection error, a 5xx: the endpoint
 * is down or hanging) counts towards the breaker; `other-failure` (the endpoint answered, but not
 * with a 2xx: a 3xx, 4xx, 429 or a 503 with `Retry-After`, which says when to come back and is
 * honoured by the schedule; or the target was refused) shows it is up, so it ends a run of
 * endpoint failures, yet the delivery failed: both keep `healthFailingSince` for `disableAfter`.
 */
export type HealthOutcome = 'success' | 'endpoint-failure' | 'other-failure';

export function classifyOutcome(result: DeliveryResult): HealthOutcome {
  if (result.ok) return 'success';
  if (result.retryable && (result.httpStatus === undefined || (result.httpStatus >= 500 && result.retryAfterSeconds === undefined))) return 'endpoint-failure';
  return 'other-failure';
}

/** Nothing to remember: the state a healthy endpoint keeps (and costs no write to keep). */
export function isPristine(health: EndpointHealth): boolean {
  return !health.healthFailures && health.healthFailingSince === undefined && health.healthOpenUntil === undefined
    && health.healthProbeUntil === undefined;
}

/** The cool-down after a failed probe: twice the last one, within the policy's bounds. */
export function nextCooldownSeconds(health: EndpointHealth, policy: BreakerPolicy): number {
  const last = health.healthCooldownSeconds ?? policy.baseCooldownSeconds / 2;
  return Math.min(policy.maxCooldownSeconds, Math.max(policy.baseCooldownSeconds, last * 2));
}

/** Whether every delivery has failed for `disableAfterMs`: the subscription is to be disabled. */
export function dueForDisabling(health: EndpointHealth, nowMs: number, disableAfterMs: number): boolean {
  const since = timeOf(health.healthFailingSince);
  return since !== undefined && nowMs - since >= disableAfterMs;
}

/**
 * One atomic change of the stored state. `open` and `claim-probe` are conditional (they return
 * nothing when the condition fails); the others always apply.
 */
export type HealthOp =
  /** An endpoint failure: one more in a row; the failing clock starts if it is not running. */
  | { readonly kind: 'failure'; readonly nowMs: number }
  /** An answer that was not a success: the run of endpoint failures ends (and the breaker closes); the failing clock runs on. */
  | { readonly kind: 'other-failure'; readonly nowMs: number }
  /** A success: back to nothing. */
  | { readonly kind: 'success'; readonly nowMs: number }
  /**
   * Opens the breaker until `untilMs`. Without `ifProbeUntil`: only if it is not open (the first
   * processor to reach the threshold opens it). With it: only if that probe lease is still held
   * (a failed probe reopens it), counting the probe's failure.
   */
  | { readonly kind: 'open'; readonly nowMs: number; readonly untilMs: number; readonly cooldownSeconds: number; readonly ifProbeUntil?: string }
  /** Takes the one probe of a half-open breaker until `leaseUntilMs`, if the breaker is still the one seen (`ifOpenUntil`) and nobody holds it. */
  | { readonly kind: 'claim-probe'; readonly nowMs: number; readonly leaseUntilMs: number; readonly ifOpenUntil: string };

/** The reference semantics of a `HealthOp` (the DynamoDB adapter applies the same): the state after, or undefined when its condition fails. */
export function applyHealthOp(health: EndpointHealth, op: HealthOp): EndpointHealth | undefined {
  const at = op.nowMs;
  const iso = new Date(op.nowMs).toISOString();
  const breakerClosed = (h: EndpointHealth) => {
    const { healthOpenUntil: _o, healthCooldownSeconds: _c, healthProbeUntil: _p, ...rest } = h;
    return rest;
  };
  switch (op.kind) {
    case 'failure':
      return { ...health, healthFailures: (health.healthFailures ?? 0) + 1, healthFailingSince: health.healthFailingSince ?? iso, healthAt: at };
    case 'other-failure':
      return { ...breakerClosed(health), healthFailures: 0, healthFailingSince: health.healthFailingSince ?? iso, healthAt: at };
    case 'success':
      return { healthFailures: 0, healthAt: at };
    case 'open': {
      if (op.ifProbeUntil !== undefined ? health.healthProbeUntil !== op.ifProbeUntil : health.healthOpenUntil !== undefined) return undefined;
      const { healthProbeUntil: _p, ...rest } = health;
      return {
        ...rest,
        ...(op.ifProbeUntil !== undefined ? { healthFailures: (health.healthFailures ?? 0) + 1 } : {}),
        healthOpenUntil: new Date(op.untilMs).toISOString(),
        healthCooldownSeconds: op.cooldownSeconds,
        healthAt: at,
      };
    }
    case 'claim-probe': {
      const probeUntil = timeOf(health.healthProbeUntil);
      const openUntil = timeOf(health.healthOpenUntil);
      if (health.healthOpenUntil !== op.ifOpenUntil || openUntil === undefined || openUntil > op.nowMs) return undefined;
      if (probeUntil !== undefined && probeUntil > op.nowMs) return undefined;
      return { ...health, healthProbeUntil: new Date(op.leaseUntilMs).toISOString(), healthAt: at };
    }
  }
}

/** The later of two copies of a subscription's health (a cached item, a processor's own write). */
export function laterHealth(a: EndpointHealth, b: EndpointHealth | undefined): EndpointHealth {
  if (!b) return a;
  return (b.healthAt ?? 0) > (a.healthAt ?? 0) ? b : a;
}

/** Only the health attributes of an item. */
export function healthOf(item: EndpointHealth): EndpointHealth {
  const health: Record<string, unknown> = {};
  for (const name of HEALTH_ATTRIBUTES) if (item[name] !== undefined) health[name] = item[name];
  return health as EndpointHealth;
}

/** The health as `GET /subscriptions/{id}` shows it (also the OpenAPI document's). */
export const healthViewSchema = z.object({
  state: z.enum(['closed', 'open', 'half-open'] satisfies BreakerState[])
    .meta({ description: 'The circuit breaker: closed (sent), open (held back until openUntil), half-open (the next delivery probes)' }),
  consecutiveFailures: z.number().int().min(0).meta({ description: 'Failures of the endpoint in a row (time-outs, connection errors, 5xx)' }),
  openUntil: z.iso.datetime().optional(),
  /** Every delivery since then has failed (`disableAfter` counts from here). */
  failingSince: z.iso.datetime().optional().meta({ description: 'Every delivery since then has failed; disableAfter counts from here' }),
}).meta({ description: 'The endpoint\'s health, present once a delivery failed' });
export type HealthView = z.infer<typeof healthViewSchema>;

export function healthView(health: EndpointHealth, nowMs: number): HealthView {
  return {
    state: breakerState(health, nowMs),
    consecutiveFailures: health.healthFailures ?? 0,
    ...(health.healthOpenUntil !== undefined ? { openUntil: health.healthOpenUntil } : {}),
    ...(health.healthFailingSince !== undefined ? { failingSince: health.healthFailingSince } : {}),
  };
}

/**
 * An item for the API: the health attributes folded into `health`, present once the subscription
 * has a health record (its first failed delivery); a subscription without one is closed with no
 * failures.
 */
export function withHealthView<T extends object>(item: T, nowMs: number): Omit<T, keyof EndpointHealth> & { health?: HealthView } {
  const health = item as EndpointHealth;
  const rest = { ...item } as Record<string, unknown>;
  for (const name of HEALTH_ATTRIBUTES) delete rest[name];
  return { ...(rest as Omit<T, keyof EndpointHealth>), ...(health.healthAt !== undefined ? { health: healthView(health, nowMs) } : {}) };
}

function timeOf(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}
