import { channelRegistry, ChannelRegistry, DeliveryResult } from './channels';
import type { EmailTransport } from './channels/email';
import type { WebhookTransport } from './channels/webhook';
import { ConcurrencyLimit, KeyedConcurrencyLimit } from './concurrency';
import { BreakerPolicy, DEFAULT_BREAKER_POLICY } from './endpoint-health';
import { EndpointHealthStore, EndpointHealthTracker, Gate } from './endpoint-health-tracker';
import { FanOut, PartRecords } from './fan-out';
import { deterministicId, timeOfId } from './ids';
import { SubscriptionMatcher } from './matching';
import { Attempt, NotificationRecord, NotificationStore } from './notification';
import { messageGroupOf, parseQueueMessage, QueuedEvent, QueuedEventText, queueMessageBody, QueueRecord } from './queue-message';
import { EventQueue } from './queued-event';
import { nextDelaySeconds } from './retry-policy';
import { SchemaValidator } from './schema-validator';
import { EventNotStorableError, EventStore, StoredEvent } from './stored-event';
import { Subscription } from './subscription';
import type { IsolationMode } from '../../src/contract';

/** Port: what the processor may do with its queue messages besides acknowledging them. */
export interface QueueControl {
  /** Hides the message for `delaySeconds`; it comes back for the next attempt. */
  retryLater(receiptHandle: string, delaySeconds: number): Promise<void>;
  /** Copies a message body to the dead-letter queue with the reason attached. */
  deadLetter(body: string, reason: string, eventId: string | undefined, groupKey: string): Promise<void>;
}

/** Port: pausing a subscription whose receiver answered 410 Gone. */
export interface SubscriptionPauser {
  disable(subscriptionId: string, reason: string): Promise<void>;
}

/** Port: counters (CloudWatch EMF in AWS). */
export interface ProcessorMetrics {
  count(
    name: 'EventsAccepted' | 'EventsRejected' | 'DeliveriesSucceeded' | 'DeliveriesFailed' | 'DeliveriesRetried' | 'DeliveriesDeferred' | 'SubscriptionsDisabled',
    value: number, channel?: string,
  ): void;
  /** DeliveryLatency: from the event's receivedAt to the end of the attempt that delivered it (ms). */
  latency?(channel: string, milliseconds: number): void;
}

/** Port: structured logs (ids only, never secrets or bodies). */
export interface ProcessorLog {
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
}

export interface ProcessorConfig {
  /** Delay before each attempt, seconds; index 0 is the first attempt. */
  readonly retryScheduleSeconds: readonly number[];
  readonly webhookTimeoutMs: number;
  readonly retentionSeconds: number;
  /** Deliveries in flight at once across a batch. */
  readonly maxConcurrentDeliveries: number;
  /**
   * The events queue's maxReceiveCount: on that receive the processor finishes the message
   * itself (closing what is still pending, dead-lettering it with the reason) instead of leaving
   * it to SQS's redrive, which would move it without a reason and leave notifications PENDING.
   */
  readonly maxReceiveCount?: number;
  /** API_KEY: an event reaches only subscriptions of the key that published it. */
  readonly isolation?: IsolationMode;
  /** The publisher of events sent straight to the queue (grantPublish), if any. */
  readonly queuePublisherKeyId?: string;
  /** The publisher of each inbound source's events (`webhook:<name>` → key id). */
  readonly inboundOwnerKeyIds?: ReadonlyMap<string, string>;
  /** Endpoint health (with `ProcessorDependencies.health`): the breaker's policy and when a failing subscription is disabled. */
  readonly endpointHealth?: { readonly disableAfterSeconds: number; readonly breaker?: BreakerPolicy };
  /** Subscriptions per follow-up message of a large fan-out (fan-out.ts); undefined: never split. */
  readonly fanOutSize?: number;
}

export interface ProcessorDependencies {
  readonly events: EventStore;
  readonly notifications: NotificationStore;
  readonly matcher: SubscriptionMatcher;
  readonly schemas: SchemaValidator;
  readonly webhooks: WebhookTransport;
  /** Absent when the email channel is off: email notifications are then FAILED with that reason. */
  readonly email?: EmailTransport;
  readonly queue: QueueControl;
  /** The events queue, for follow-up messages of a large fan-out (none: never split). */
  readonly followUps?: EventQueue;
  /** A follow-up's records by key range (none: it reads all of the event's and keeps its part's). */
  readonly partRecords?: PartRecords;
  readonly pauser: SubscriptionPauser;
  /** Where endpoint health is kept (the Subscriptions table); without it no breaker and no disabling. */
  readonly health?: EndpointHealthStore;
  readonly metrics: ProcessorMetrics;
  readonly log: ProcessorLog;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Time kept free before the function's deadline, beyond one webhook time-out. */
const DEADLINE_MARGIN_MS = 3000;

/** Attempts kept on a notification record (the schedule has at most 20 steps). */
const MAX_KEPT_ATTEMPTS = 30;

/** Thrown for a record that must come back later (its visibility was already set). */
export class RetryLaterError extends Error {
  constructor(public readonly eventId: string, public readonly delaySeconds: number) {
    super(`event ${eventId}: notifications pending, next attempt in ${delaySeconds} s`);
    this.name = 'RetryLaterError';
  }
}

/**
 * The processor's work for one queue message (docs/architecture.md "Delivery"): deep validation, idempotent
 * storage, matching, concurrent delivery, records of every attempt, retries on the schedule,
 * and the dead-letter queue for what cannot be delivered.
 */
export class EventProcessor {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly limit: ConcurrencyLimit;
  private readonly channels: ChannelRegistry;
  private readonly health: EndpointHealthTracker;
  /** Per subscription, at most as many deliveries in flight as it takes to open its breaker. */
  private readonly endpointSlots: KeyedConcurrencyLimit;
  private readonly fanOut: FanOut;

  constructor(private readonly deps: ProcessorDependencies, private readonly config: ProcessorConfig) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.limit = new ConcurrencyLimit(config.maxConcurrentDeliveries);
    this.fanOut = new FanOut({ queue: deps.followUps, records: deps.partRecords, size: config.fanOutSize, log: deps.log });
    this.channels = channelRegistry({ webhook: deps.webhooks, email: deps.email }, () => this.now());
    const breaker = config.endpointHealth?.breaker ?? DEFAULT_BREAKER_POLICY;
    this.endpointSlots = new KeyedConcurrencyLimit(breaker.failureThreshold || DEFAULT_BREAKER_POLICY.failureThreshold);
    this.health = new EndpointHealthTracker(deps.health, {
      policy: breaker,
      disableAfterMs: (config.endpointHealth?.disableAfterSeconds ?? Number.POSITIVE_INFINITY) * 1000,
      probeLeaseMs: config.webhookTimeoutMs + DEADLINE_MARGIN_MS,
      now: () => this.now(),
      tracks: (s) => this.channels.get(s.channel)?.tracksEndpointHealth === true,
      onDisabled: (s, reason) => {
        this.deps.metrics.count('SubscriptionsDisabled', 1, s.channel);
        this.deps.log.warn('Subscription disabled: every delivery failed for disableAfter', { subscriptionId: s.subscriptionId, reason });
      },
      onError: (message, attributes) => this.deps.log.warn(message, attributes),
    });
  }

  /**
   * Resolves when the message is done with (delete it); throws to keep it on the queue.
   * `deadlineMs` is when the function will be stopped: no delivery starts that could not finish
   * before it; those wait for the next round instead of being cut off mid-request.
   */
  public async process(record: QueueRecord, deadlineMs: number = Number.POSITIVE_INFINITY): Promise<void> {
    try {
      await this.processOnce(record, deadlineMs);
    } catch (error) {
      if (error instanceof RetryLaterError || !this.isLastReceive(record)) throw error;
      // The last receive failed too: SQS would now move the message without a word. Say why.
      const reason = `processing failed on receive ${record.receiveCount} of ${this.config.maxReceiveCount}: ${describe(error)}`;
      this.deps.log.warn('Message dead-lettered after its last receive', { messageId: record.messageId, reason });
      await this.deps.queue.deadLetter(record.body, reason.slice(0, 1000), undefined, 'failed');
    }
  }

  /**
   * Events that arrived without an API key (an inbound source's) belong to the key named for
   * their source: it may read them and, with Isolation.API_KEY, only its subscriptions get them.
   */
  private withPublisher<T extends QueuedEventText>(message: T): T {
    if (message.publisherKeyId) return message;
    const owner = this.config.inboundOwnerKeyIds?.get(message.source);
    return owner ? { ...message, publisherKeyId: owner } : message;
  }

  private isLastReceive(record: QueueRecord): boolean {
    return this.config.maxReceiveCount !== undefined && record.receiveCount >= this.config.maxReceiveCount;
  }

  /** One round: parse → plan → deliver → settle, then the settlement's effects. */
  private async processOnce(record: QueueRecord, deadlineMs: number): Promise<void> {
    const parsed = await this.parse(record);
    if (!parsed) return;
    const { message, event, subscriptions, existing, redrive } = parsed;
    const plan = planRound(subscriptions, existing, redrive);
    const { results, deferred } = await this.deliverDue(event, plan, redrive, deadlineMs);
    const last = this.isLastReceive(record);
    const settlement = settleRound({ event, plan, results, deferred, last, receiveCount: record.receiveCount });

    if (settlement.save.length > 0) await this.deps.notifications.saveAll(settlement.save);
    for (const { record: r, subscription, notSent } of settlement.results) {
      this.deps.log.info('Notification attempt', {
        eventId: r.eventId,
        subscriptionId: r.subscriptionId,
        channel: r.channel,
        status: r.status,
        attempt: r.attempts.length,
        httpStatus: r.attempts[r.attempts.length - 1]?.httpStatus,
      });
      if (r.status === 'DELIVERED') {
        this.deps.metrics.count('DeliveriesSucceeded', 1, subscription.channel);
        const latency = deliveryLatencyMs(event, r);
        if (latency !== undefined) this.deps.metrics.latency?.(subscription.channel, latency);
      }
      if (r.status === 'PENDING') this.deps.metrics.count(notSent ? 'DeliveriesDeferred' : 'DeliveriesRetried', 1, subscription.channel);
      if (r.status === 'FAILED') this.deps.metrics.count('DeliveriesFailed', 1, subscription.channel);
    }
    for (const r of settlement.closed) this.deps.metrics.count('DeliveriesFailed', 1, r.channel);
    await this.pauseGone(settlement.results);

    if (settlement.deadLetterReason !== undefined) {
      await this.deps.queue.deadLetter(
        queueMessageBody(message, { redrive: true }), settlement.deadLetterReason, event.eventId, messageGroupOf(message.event),
      );
    }
    if (settlement.comeBack) {
      const delay = comeBackDelaySeconds(settlement.comeBack, this.now());
      await this.deps.queue.retryLater(record.receiptHandle, delay);
      throw new RetryLaterError(event.eventId, delay);
    }
  }

  /**
   * Parse: the message, its schema, the matching subscriptions, the stored event and (for a
   * repeat or retry) its notification records. Undefined when the message was rejected.
   */
  private async parse(record: QueueRecord): Promise<ParsedRound | undefined> {
    const parsed = parseQueueMessage(record, this.config.queuePublisherKeyId);
    if (!parsed.ok) {
      await this.reject(record, parsed.reasons, parsed.eventId, parsed.partial && this.withPublisher(parsed.partial), parsed.event);
      return undefined;
    }
    const { redrive } = parsed;
    const message = this.withPublisher(parsed.message);
    const schemaProblems = this.deps.schemas.validate(message.event.eventType, message.event);
    if (schemaProblems.length > 0) {
      await this.reject(record, schemaProblems, message.eventId, message, message.event);
      return undefined;
    }

    // Match first, so the stored event says how many notifications it is waiting for.
    const subscriptions = this.health.withoutDisabled(await this.deps.matcher.match(
      message.event.eventType, message.event.severity, this.config.isolation === 'API_KEY' ? { ownerKeyId: message.publisherKeyId ?? '' } : undefined,
      message.eventJson,
      message.fanOut?.subscriptionIds, // a follow-up: its part only (fan-out.ts)
    ));
    const event: StoredEvent = { ...this.stored(message, message.event, 'ACCEPTED'), matchedSubscriptions: message.fanOut?.total ?? subscriptions.length };
    let created: boolean;
    try {
      created = await this.deps.events.putIfAbsent(event);
    } catch (error) {
      // Retrying cannot help an event the table refuses (e.g. over DynamoDB's 400 KB item limit).
      if (error instanceof EventNotStorableError) {
        await this.reject(record, [error.message], message.eventId, message, message.event, false);
        return undefined;
      }
      throw error;
    }
    if (created) this.deps.metrics.count('EventsAccepted', 1);
    // A large fan-out goes on in follow-up messages of bounded size (docs/architecture.md "Fan-out").
    if (this.fanOut.splits(message, subscriptions.length)) {
      await this.fanOut.split(message, subscriptions, redrive);
      return undefined;
    }
    // A new event has no records yet; a repeat or retry reads them (a follow-up: its part's) so nothing is sent twice.
    const existing = created ? [] : await this.fanOut.records(message, () => this.deps.notifications.list(event.eventId));
    return { message, event, subscriptions, existing, redrive };
  }

  /**
   * Deliver: every due subscription, at most `maxConcurrentDeliveries` at once (and a few per
   * subscription), none that could outlast the deadline, none to an endpoint whose breaker is open.
   */
  private async deliverDue(event: StoredEvent, plan: RoundPlan, redrive: boolean, deadlineMs: number) {
    // Not enough time left for a whole request: leave it for the next round.
    const hasTime = () => this.now() + this.config.webhookTimeoutMs + DEADLINE_MARGIN_MS <= deadlineMs;
    const outcomes = await Promise.all(plan.due.map((s) => this.endpointSlots.run(s.subscriptionId, () => this.limit.run(async () => {
      if (!hasTime()) return undefined;
      const gate = await this.health.admit(s, hasTime);
      if (!gate) return undefined;
      const outcome = await this.deliver(event, s, plan.records.get(s.subscriptionId), redrive, gate);
      await this.health.record(s, outcome.result, gate);
      return outcome;
    }))));
    const results = outcomes.filter((r): r is NonNullable<typeof r> => r !== undefined);
    return { results, deferred: outcomes.length - results.length };
  }

  private async reject(
    record: QueueRecord, reasons: string[], eventId: string | undefined,
    message: QueuedEventText | undefined, event: unknown, store = true,
  ): Promise<void> {
    this.deps.metrics.count('EventsRejected', 1);
    this.deps.log.warn('Event rejected', { eventId, messageId: record.messageId, reasons });
    // Bounded, so the reasons always fit in the item next to the largest event.
    const rejection = reasons.slice(0, 20).map((r) => r.slice(0, 300));
    if (message && eventId && store) {
      await this.deps.events.putRejected({ ...this.stored(message, event, 'REJECTED'), rejection });
    }
    const body = message ? queueMessageBody(message, { redrive: true }) : record.body;
    const groupKey = message ? messageGroupOf(event) : 'rejected';
    await this.deps.queue.deadLetter(body, `rejected: ${rejection.join('; ')}`.slice(0, 1000), eventId, groupKey);
  }

  private stored(message: QueuedEventText, view: unknown, status: StoredEvent['status']): StoredEvent {
    const type = (view as { eventType?: unknown } | undefined)?.eventType;
    const eventType = typeof type === 'string' ? type.slice(0, 128) : 'unknown';
    return {
      eventId: message.eventId,
      eventJson: message.eventJson,
      event: view as StoredEvent['event'],
      eventType,
      receivedAt: message.receivedAt,
      source: message.source,
      ...(message.publisherKeyId ? { publisherKeyId: message.publisherKeyId } : {}),
      status,
      // From the time it was received, so every run computes the same expiry.
      expiresAt: Math.floor(Date.parse(message.receivedAt) / 1000) + this.config.retentionSeconds,
    };
  }

  /** One attempt, or (gate closed) the record of one not sent: see docs/architecture.md "Endpoint health". */
  private async deliver(event: StoredEvent, subscription: Subscription, previous: NotificationRecord | undefined, redrive: boolean, gate: Gate) {
    const startedMs = this.now();
    const { notificationId } = recordBase(event, subscription, previous);
    const channel = this.channels.get(subscription.channel);
    const result: DeliveryResult = !gate.send ? { ok: false, retryable: true, error: `not sent: ${gate.reason}` }
      : channel ? await channel.deliver(event, subscription, { notificationId, startedMs, timeoutMs: this.config.webhookTimeoutMs })
        : { ok: false, retryable: false, error: `unknown channel ${subscription.channel}` };
    // A delivery not sent took no time; reading the clock twice could still show a millisecond tick.
    const latencyMs = gate.send ? Math.max(0, this.now() - startedMs) : 0;
    const attempt: Attempt = {
      at: new Date(startedMs).toISOString(),
      outcome: result.ok ? 'DELIVERED' : 'FAILED',
      ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
      ...(result.messageId !== undefined ? { messageId: result.messageId } : {}),
      latencyMs,
      ...(result.error ? { error: result.error } : {}),
    };
    // A redrive after a fix starts a fresh schedule for notifications that had failed for good;
    // the earlier attempts stay on record (the latest MAX_KEPT_ATTEMPTS of them).
    const restart = redrive && previous?.status === 'FAILED';
    const all = [...(previous?.attempts ?? []), attempt];
    const dropped = Math.max(0, all.length - MAX_KEPT_ATTEMPTS);
    const attempts = all.slice(dropped);
    const scheduleStart = Math.max(0, (restart ? all.length - 1 : previous?.scheduleStart ?? 0) - dropped);
    const { scheduleStart: _previousStart, ...fixed } = recordBase(event, subscription, previous);
    const base = { ...fixed, attempts, ...(scheduleStart > 0 ? { scheduleStart } : {}) };
    let record: NotificationRecord;
    if (result.ok) {
      record = { ...base, status: 'DELIVERED' };
    } else {
      const delay = result.retryable
        ? nextDelaySeconds(this.config.retryScheduleSeconds, attempts.length - scheduleStart, result.retryAfterSeconds, this.random)
        : undefined;
      // Not sent: it takes the attempt the schedule planned for now, and waits at least for the
      // breaker; the schedule's last attempt is never replaced, it waits until it can be sent.
      const notBefore = gate.send ? 0 : gate.untilMs;
      if (delay === undefined && !gate.send) {
        record = { ...base, attempts: attempts.slice(0, -1), status: 'PENDING', nextAttemptAt: new Date(notBefore).toISOString(), reason: result.error };
      } else {
        record = delay === undefined
          ? { ...base, status: 'FAILED', reason: result.error ?? 'failed' }
          : { ...base, status: 'PENDING', nextAttemptAt: new Date(Math.max(this.now() + delay * 1000, notBefore)).toISOString(), reason: result.error };
      }
    }
    return { record, subscription, result, ...(gate.send ? {} : { notSent: true }) } satisfies DeliveryOutcome;
  }

  private async pauseGone(results: readonly DeliveryOutcome[]): Promise<void> {
    await Promise.all(results.filter((r) => r.result.disableSubscription).map(async ({ record, result }) => {
      // The channel's reason (a webhook's 410 Gone, Slack's `no_service`, …).
      const reason = result.error ?? 'receiver answered 410 Gone';
      await this.deps.pauser.disable(record.subscriptionId, reason);
      this.deps.log.warn('Subscription paused', { subscriptionId: record.subscriptionId, reason });
    }));
  }
}

/** What parsing a message found: everything the round needs. */
interface ParsedRound {
  readonly message: QueuedEvent;
  readonly event: StoredEvent;
  readonly subscriptions: Subscription[];
  readonly existing: NotificationRecord[];
  readonly redrive: boolean;
}

/** One attempt's outcome: the notification record it produced and how the channel judged it. */
export interface DeliveryOutcome {
  readonly record: NotificationRecord;
  readonly subscription: Subscription;
  readonly result: DeliveryResult;
  /** No request was made: the endpoint's breaker was open (docs/architecture.md "Endpoint health"). */
  readonly notSent?: boolean;
}

/** Which subscriptions get an attempt this round, and what is on record for the event. */
export interface RoundPlan {
  /** The stored records by subscription id. */
  readonly records: ReadonlyMap<string, NotificationRecord>;
  /** The subscriptions that match now. */
  readonly matched: ReadonlySet<string>;
  /** The matching subscriptions due for an attempt: new, pending, or failed on a redrive. */
  readonly due: Subscription[];
}

/** Plan (pure): which subscriptions are due, given what is on record. */
export function planRound(subscriptions: readonly Subscription[], existing: readonly NotificationRecord[], redrive: boolean): RoundPlan {
  const records = new Map(existing.map((r) => [r.subscriptionId, r]));
  const matched = new Set(subscriptions.map((s) => s.subscriptionId));
  const due = subscriptions.filter((s) => isDue(records.get(s.subscriptionId), redrive));
  return { records, matched, due };
}

/** Whether a subscription gets an attempt this round: new or pending (or failed, on a redrive). */
function isDue(record: NotificationRecord | undefined, redrive: boolean): boolean {
  if (!record || record.status === 'PENDING') return true;
  return redrive && record.status === 'FAILED';
}

/** When the message comes back: the latest `nextAttemptAt` of its pending notifications, or soon for deferred ones. */
export interface ComeBack {
  /** Deliveries were left for the next round (deadline): come back after at least 1 s. */
  readonly deferred: boolean;
  /** The latest `nextAttemptAt` among the pending notifications (epoch ms; 0 when none). */
  readonly latestAttemptAtMs: number;
}

export interface Settlement {
  /** The round's outcomes, closed FAILED on the last receive where they were still pending. */
  readonly results: DeliveryOutcome[];
  /** Every record the round changed: attempted, skipped and closed. */
  readonly save: NotificationRecord[];
  /** Due notifications the last receive closed without an attempt. */
  readonly closed: NotificationRecord[];
  /** Why a redrive copy goes to the DLQ, when a notification failed for good. */
  readonly deadLetterReason?: string;
  /** When the message must come back; undefined when it is done with. */
  readonly comeBack?: ComeBack;
}

/**
 * Settle (pure): the records to save, what is dead-lettered and when the message comes back.
 */
export function settleRound(input: {
  readonly event: StoredEvent;
  readonly plan: RoundPlan;
  readonly results: readonly DeliveryOutcome[];
  /** Due deliveries not started for lack of time. */
  readonly deferred: number;
  /** The queue's last receive of the message. */
  readonly last: boolean;
  readonly receiveCount: number;
}): Settlement {
  const { event, plan, last } = input;
  let results = [...input.results];
  // Pending notifications whose subscription was deleted or paused meanwhile end here.
  const skipped: NotificationRecord[] = [...plan.records.values()]
    .filter((r) => r.status === 'PENDING' && !plan.matched.has(r.subscriptionId))
    .map(({ nextAttemptAt: _next, ...r }) => ({ ...r, status: 'SKIPPED', reason: 'subscription deleted, paused or no longer matching' }));
  // The last receive: what is still pending or was not reached ends FAILED, with the reason,
  // before SQS's redrive would move the message and leave it PENDING for ever.
  const exhausted = `retries exhausted: the message was received ${input.receiveCount} times (the queue's maxReceiveCount)`;
  const closed: NotificationRecord[] = [];
  if (last) {
    const attempted = new Set(results.map((r) => r.record.subscriptionId));
    for (const s of plan.due) {
      const previous = plan.records.get(s.subscriptionId);
      if (attempted.has(s.subscriptionId)) continue;
      closed.push({ ...recordBase(event, s, previous), attempts: previous?.attempts ?? [], status: 'FAILED', reason: exhausted });
    }
    results = results.map((r) => {
      if (r.record.status !== 'PENDING') return r;
      const { nextAttemptAt: _next, ...rest } = r.record;
      return { ...r, record: { ...rest, status: 'FAILED', reason: `${exhausted}; last error: ${r.record.reason ?? 'failed'}`.slice(0, 1000) } };
    });
  }
  const save = [...results.map((r) => r.record), ...skipped, ...closed];

  const failed = [...results.map((r) => r.record), ...closed].filter((r) => r.status === 'FAILED');
  const deadLetterReason = failed.length > 0
    ? `delivery failed: ${failed.map((f) => `${f.subscriptionId}: ${f.reason ?? 'failed'}`).join('; ')}`.slice(0, 1000)
    : undefined;
  const settled = { results, save, closed, ...(deadLetterReason !== undefined ? { deadLetterReason } : {}) };
  if (last) return settled;

  // The latest state of each record decides: a stored PENDING record that this attempt
  // delivered (or failed for good) no longer keeps the message on the queue.
  const latest = new Map<string, NotificationRecord>(plan.records);
  for (const r of save) latest.set(r.subscriptionId, r);
  const pending = [...latest.values()].filter((r) => r.status === 'PENDING');
  if (pending.length === 0 && input.deferred === 0) return settled;
  // One round serves every pending notification, so the message comes back once per step
  // of the schedule: at the latest time any of them asked for (jitter, Retry-After).
  const latestAttemptAtMs = Math.max(0, ...pending.map((r) => Date.parse(r.nextAttemptAt ?? '') || 0));
  return { ...settled, comeBack: { deferred: input.deferred > 0, latestAttemptAtMs } };
}

/** The visibility delay that brings the message back when the settlement asked (whole seconds). */
export function comeBackDelaySeconds(comeBack: ComeBack, nowMs: number): number {
  const wakeAt = Math.max(nowMs + (comeBack.deferred ? 1000 : 0), comeBack.latestAttemptAtMs);
  return Math.max(0, Math.ceil((wakeAt - nowMs) / 1000));
}

/**
 * The fields of a notification record that never change. Its id (the `webhook-id`) depends on
 * the event id and the subscription only, so every attempt, redelivery, repeated publish and
 * replay of the pair carries the same one.
 */
function recordBase(event: StoredEvent, subscription: Subscription, previous: NotificationRecord | undefined) {
  return {
    eventId: event.eventId,
    subscriptionId: subscription.subscriptionId,
    notificationId: previous?.notificationId
      ?? deterministicId('ntf', timeOfId(event.eventId), `${event.eventId}/${subscription.subscriptionId}`),
    channel: subscription.channel,
    ownerKeyId: subscription.ownerKeyId,
    ...(previous?.scheduleStart ? { scheduleStart: previous.scheduleStart } : {}),
    expiresAt: event.expiresAt,
  };
}

/**
 * Publish-to-delivery latency of a record this round delivered: from the event's receivedAt
 * (the time of its id) to the end of the delivering attempt. For a replayed event it includes
 * the time it spent failed, which is what its subscriber waited.
 */
export function deliveryLatencyMs(event: Pick<StoredEvent, 'receivedAt'>, record: NotificationRecord): number | undefined {
  const last = record.attempts[record.attempts.length - 1];
  const received = Date.parse(event.receivedAt);
  const started = Date.parse(last?.at ?? '');
  if (last?.outcome !== 'DELIVERED' || Number.isNaN(received) || Number.isNaN(started)) return undefined;
  return Math.max(0, started + last.latencyMs - received);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
