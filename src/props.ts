import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { InboundWebhookSource } from './inbound-webhook-source';

/** The email channel (Amazon SES v2). */
export interface EmailChannelOptions {
  /** The sender address of notification emails, e.g. `alerts@example.com`. */
  readonly fromAddress: string;

  /**
   * The SES identity (verified domain or address) that `fromAddress` belongs to; checked at synth
   * to cover `fromAddress`. The processor may send as `fromAddress` only (an `ses:FromAddress`
   * condition); SES itself decides which identities authorize a send (the domain or the verified
   * address, and in the sandbox each recipient).
   *
   * @default - the domain of `fromAddress`
   */
  readonly identityName?: string;

  /**
   * An SES configuration set to send with (for event publishing, dedicated IPs, …).
   *
   * @default - none
   */
  readonly configurationSetName?: string;
}

/** Who receives whose events: what an API key may see and receive. */
export enum Isolation {
  /**
   * Every key's subscriptions match every key's events: one product, where publishers and
   * subscribers are different teams. `GET /events/{eventId}` still shows a key only its own
   * notifications.
   */
  SHARED = 'SHARED',
  /**
   * A subscription matches only events published with its own key (an inbound source's or the
   * queue's events belong to the key named for them): for a product that gives keys to its own
   * customers. No event, notification, subscription or error of one key is observable by another.
   */
  API_KEY = 'API_KEY',
}

/** The webhook channel. */
export interface WebhookChannelOptions {
  /**
   * How long one webhook request may take before it counts as failed and is retried.
   * Between 1 and 60 seconds.
   *
   * @default Duration.seconds(15)
   */
  readonly timeout?: Duration;
}

/**
 * The circuit breaker each webhook subscription has: after `failureThreshold` endpoint failures
 * in a row (time-outs, connection errors, 5xx without `Retry-After`) no request goes to the
 * endpoint for `cooldown`; then one delivery probes it: a success closes the breaker, a failure
 * opens it again for twice as long, up to `maxCooldown`. Deliveries held back wait, pending.
 */
export interface CircuitBreakerOptions {
  /**
   * Endpoint failures in a row that open the breaker, 1–100; 0 turns the breaker off.
   *
   * @default 5
   */
  readonly failureThreshold?: number;

  /**
   * The first cool-down, 1 second to 15 minutes.
   *
   * @default Duration.seconds(30)
   */
  readonly cooldown?: Duration;

  /**
   * The longest cool-down, from `cooldown` to 1 hour.
   *
   * @default Duration.minutes(15)
   */
  readonly maxCooldown?: Duration;
}

/**
 * Sizing of one of the service's functions, checked at synth. Everything else about the functions
 * (runtime, handler, environment, role) belongs to the service; reach the concrete function
 * (`ingestFunction`, …) for anything not offered here, at your own risk.
 */
export interface FunctionOverrides {
  /**
   * Memory in MB; Lambda gives CPU in proportion. 128–10,240 (Lambda's range).
   *
   * @default - 256 for the ingest and management functions, 512 for the processor
   */
  readonly memorySize?: number;

  /**
   * How long one invocation may run. Bounds differ per function, each for a reason:
   * - ingest: 1–14 s. API Gateway waits at most 29 s, and an `Idempotency-Key` claim is held for
   *   15 s; a request still running after that could be overtaken by its own retry.
   * - management: 1–29 s, API Gateway's integration timeout.
   * - processor: from `webhook.timeout` + 10 s (no delivery starts that could not finish before
   *   the deadline, and the event is stored first) to 10 minutes (a retry is scheduled by
   *   extending the message's visibility, which SQS allows up to 12 hours after the receive). The
   *   events queue's visibility timeout is set to 6 × this, as AWS advises for SQS event sources.
   *
   * @default - 10 s for ingest and management; for the processor 2 × `webhook.timeout` + 30 s, at least 60 s
   */
  readonly timeout?: Duration;

  /**
   * Reserved concurrency: at most this many instances at once, and as many kept free for the
   * function in the account. At least 1 (0 would stop the function). For the processor at least
   * 2: the events queue's event source gets the same `maximumConcurrency` (2–1,000), so SQS never
   * hands the function more batches than it may run; throttled batches would return to the queue
   * and count towards its maxReceiveCount. Lambda refuses a reservation that leaves the account
   * fewer than 100 unreserved executions; that is checked at deploy time.
   *
   * @default - none: the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
}

/** Properties of an {@link EventNotificationService}. */
export interface EventNotificationServiceProps {
  /**
   * Use FIFO queues: events with the same ordering key (default: the event type) are processed
   * in order. A failing event then holds back the later events of its group until it succeeds
   * or reaches the dead-letter queue.
   *
   * @default false
   */
  readonly fifo?: boolean;

  /**
   * Enables email subscriptions through Amazon SES.
   *
   * @default - email subscriptions are refused
   */
  readonly email?: EmailChannelOptions;

  /**
   * Webhook channel options.
   *
   * @default - 15 second timeout
   */
  readonly webhook?: WebhookChannelOptions;

  /**
   * Bring your own dead-letter queue. It must be FIFO exactly when `fifo` is set, and be
   * encrypted and TLS-only like the rest.
   *
   * @default - a new dead-letter queue, encrypted with the service key
   */
  readonly deadLetterQueue?: sqs.IQueue;

  /**
   * Email address subscribed to the alarm topic. The recipient must confirm the subscription.
   *
   * @default - no subscription; subscribe to `alarmTopic` yourself
   */
  readonly alarmEmail?: string;

  /**
   * JSON Schemas for deep validation, keyed by event type; each validates the whole event
   * (`eventType`, `severity`, `title`, `details`, …). Events that fail their schema are not
   * delivered: they are recorded as REJECTED and go to the dead-letter queue with the reasons.
   *
   * @default - no deep validation beyond the envelope
   */
  readonly eventSchemas?: { [eventType: string]: apigateway.JsonSchema };

  /**
   * Delay before each delivery attempt (the first entry is the first attempt). Each step must
   * be at most 12 hours (the SQS visibility limit) and the total at most 7 days.
   *
   * @default 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
   */
  readonly retrySchedule?: Duration[];

  /**
   * The largest event body accepted by `POST /events` (413 above it). At most 384 KiB: every
   * accepted event is stored whole in one DynamoDB item (400 KB at most), so nothing accepted
   * can later fail to be stored.
   *
   * @default Size.kibibytes(256)
   */
  readonly maxEventSize?: Size;

  /**
   * How long events and notification records are kept (DynamoDB TTL). Between 1 and 365 days.
   *
   * @default Duration.days(30)
   */
  readonly retention?: Duration;

  /**
   * Request rate limits per API key (usage plan).
   *
   * @default - rateLimit 100, burstLimit 200
   */
  readonly throttle?: apigateway.ThrottleSettings;

  /**
   * Default request rate limits of the API stage: every method, all callers together (every API
   * key, inbound webhooks, requests refused for a missing key). With several API keys, raise it
   * to what the functions and tables should take in total.
   *
   * @default - 1,000 requests per second, burst 2,000 (or `throttle`'s values, if higher)
   */
  readonly stageThrottle?: apigateway.ThrottleSettings;

  /**
   * Request quota of the usage plan.
   *
   * @default - no quota
   */
  readonly quota?: apigateway.QuotaSettings;

  /**
   * What happens to the tables, queues, key and logs when the construct is removed.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * KMS key that encrypts the queues, tables and alarm topic. An imported key must allow
   * `cloudwatch.amazonaws.com` to use it, or alarms cannot publish to the topic.
   *
   * @default - a new key with rotation enabled
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Retention of the functions' and the API's log groups.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * ARN of an AWS WAF web ACL (regional) to associate with the API stage.
   *
   * @default - no web ACL
   */
  readonly webAclArn?: string;

  /**
   * Create the account-wide IAM role that lets API Gateway write logs. Access and execution
   * logging need it once per account and region; leave it off when the account has it already.
   *
   * @default false
   */
  readonly createApiGatewayCloudWatchRole?: boolean;

  /**
   * Third parties whose signed webhooks become events: `POST /webhooks/{name}` (no API key; the
   * signature is checked on the raw body before anything is queued).
   *
   * @default - no inbound webhooks
   */
  readonly inboundWebhooks?: InboundWebhookSource[];

  /**
   * How long the processor keeps a warm copy of the subscriptions of an event type. A new,
   * changed or paused subscription takes effect within this time. At most 5 minutes.
   *
   * @default Duration.seconds(30)
   */
  readonly subscriptionCacheTtl?: Duration;

  /**
   * A webhook subscription whose every delivery has failed for this long (time-outs, connection
   * errors, any answer but a 2xx) is disabled: `enabled: false`, with `disabledReason` and
   * `disabledAt` on it and the `SubscriptionsDisabled` metric. `PATCH enabled: true` revives it.
   * Between 1 second and 365 days.
   *
   * @default Duration.days(5)
   */
  readonly disableAfter?: Duration;

  /**
   * The circuit breaker of each webhook subscription (see `CircuitBreakerOptions`).
   *
   * @default - 5 failures in a row open it for 30 seconds, doubling up to 15 minutes
   */
  readonly circuitBreaker?: CircuitBreakerOptions;

  /**
   * Age of the oldest message in the events queue that raises the queue-age alarm.
   *
   * @default Duration.hours(1)
   */
  readonly queueAgeAlarmThreshold?: Duration;

  /**
   * Who receives whose events (see `Isolation`).
   *
   * @default Isolation.SHARED
   */
  readonly isolation?: Isolation;

  /**
   * Most subscriptions one API key may have (a create beyond it is answered 409), so one key
   * cannot multiply every event's fan-out. 1–10,000.
   *
   * @default 100
   */
  readonly maxSubscriptionsPerKey?: number;

  /**
   * After `POST /subscriptions/{id}/secret/rotate`, how long the replaced signing secret keeps
   * signing deliveries next to the new one (`webhook-signature: v1,<new> v1,<old>`), so receivers
   * can switch secrets without rejecting a delivery. 0 (the old secret stops at once) to 7 days.
   *
   * @default Duration.hours(24)
   */
  readonly secretRotationOverlap?: Duration;

  /**
   * The API key that events sent straight to the queue (`grantPublish`) belong to: it may read
   * them, and with `Isolation.API_KEY` only its subscriptions receive them.
   *
   * @default - the service's own `apiKey`
   */
  readonly queuePublisherApiKey?: apigateway.IApiKey;

  /**
   * Create a CloudWatch dashboard of the service: API traffic, errors and latency, queue depth
   * and age, dead-letter queue depth, deliveries per channel, publish-to-delivery latency, the
   * functions' health and the alarms.
   *
   * @default true
   */
  readonly dashboard?: boolean;

  /**
   * X-Ray active tracing on the API stage and the functions.
   *
   * @default true
   */
  readonly tracing?: boolean;

  /**
   * Memory, time limit and reserved concurrency of the ingest function (`POST /events`,
   * `/events/batch`, `/webhooks/{source}`). Timeout at most 14 s (see `FunctionOverrides`).
   *
   * @default - 256 MB, 10 s, no reserved concurrency
   */
  readonly ingestFunctionProps?: FunctionOverrides;

  /**
   * Memory, time limit and reserved concurrency of the management function (subscriptions API,
   * `GET /events/{eventId}`). Timeout at most 29 s (see `FunctionOverrides`).
   *
   * @default - 256 MB, 10 s, no reserved concurrency
   */
  readonly managementFunctionProps?: FunctionOverrides;

  /**
   * Memory, time limit and reserved concurrency of the processor (the events queue's consumer).
   * Its timeout also sets the events queue's visibility timeout (6 ×), and its reserved
   * concurrency the event source's maximum concurrency (see `FunctionOverrides`).
   *
   * @default - 512 MB, 2 × `webhook.timeout` + 30 s (at least 60 s), no reserved concurrency
   */
  readonly processorFunctionProps?: FunctionOverrides;
}

/** Options of an extra API key (one per publisher: each key owns its own subscriptions). */
export interface ApiKeyOptions {
  /**
   * Name of the key.
   *
   * @default - generated
   */
  readonly apiKeyName?: string;

  /**
   * Description of the key.
   *
   * @default - none
   */
  readonly description?: string;
}
