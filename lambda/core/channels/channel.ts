import type { StoredEvent } from '../stored-event';
import type { Subscription } from '../subscription';

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

export interface TargetPolicy {
  /** Local runtime only: allow http:// and private/loopback webhook targets. */
  readonly allowPrivateTargets: boolean;
}

/** What the processor tells a channel about one attempt. */
export interface DeliveryAttempt {
  /** The notification's id (the `webhook-id`): the same for every attempt of the pair. */
  readonly notificationId: string;
  /** When the attempt started (epoch ms). */
  readonly startedMs: number;
  /** How long one request may take. */
  readonly timeoutMs: number;
}

/**
 * One way of notifying a subscriber (docs/architecture.md "How to add … A channel"). A channel
 * owns everything specific to it: which targets it accepts, whether subscriptions get a signing
 * secret, rendering, sending through its transport port, and judging the outcome. The processor
 * only orchestrates (records, retries, dead letters).
 */
export interface DeliveryChannel {
  /** The name stored in `Subscription.channel` and used as the metrics' `channel` dimension. */
  readonly name: string;
  /** Whether a new subscription gets a signing secret (shown once, at creation). */
  readonly hasSigningSecret: boolean;
  /**
   * Whether it delivers to an endpoint of the subscriber's whose health is tracked: a circuit
   * breaker and `disableAfter` (docs/architecture.md "Endpoint health"). Not for a provider's
   * service such as SES, whose outage is no subscriber's fault.
   */
  readonly tracksEndpointHealth?: boolean;
  /** Why a target is not acceptable for this channel, or undefined when it is. */
  validateTarget(target: string, policy: TargetPolicy): string | undefined;
  /** Renders, sends and judges one attempt. Never throws: failures are results. */
  deliver(event: StoredEvent, subscription: Subscription, attempt: DeliveryAttempt): Promise<DeliveryResult>;
}
