import { Duration, RemovalPolicy, Size, Token } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { EVENT_TYPE_PATTERN } from './contract';
import { FunctionSizings, resolveFunctionSizings } from './functions/sizing';
import { InboundWebhookSource } from './inbound-webhook-source';
import { EventNotificationServiceProps, Isolation } from './props';

const EMAIL_PATTERN = /^[^\s@"<>()[\],;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/**
 * The largest event the service can keep: every accepted event is stored whole as one DynamoDB
 * item (at most 400 KB), its text next to a few small attributes and, for a rejected event, its
 * bounded reasons. 384 KiB leaves 16 KiB for those. (On the queue the event travels as a JSON
 * string: at most twice its size once escaped, well inside SQS's 1 MiB.)
 */
const MAX_STORABLE_EVENT_BYTES = 384 * 1024;
/** Event schemas travel in the processor's asset (a settings file), not its 4 KB environment. */
const MAX_SCHEMAS_JSON_BYTES = 1024 * 1024;
/** One route and one secret each; more would be a different product (a gateway). */
const MAX_INBOUND_SOURCES = 50;

export const DEFAULT_RETRY_SCHEDULE = [
  Duration.seconds(0), Duration.seconds(5), Duration.minutes(5), Duration.minutes(30),
  Duration.hours(2), Duration.hours(5), Duration.hours(10), Duration.hours(10),
];

/** The props after defaults and validation: what the construct builds from. */
export interface ServiceSettings {
  readonly fifo: boolean;
  readonly email?: { readonly fromAddress: string; readonly identityName: string; readonly configurationSetName?: string };
  readonly webhookTimeout: Duration;
  /** Each function's memory, timeout and reserved concurrency (src/functions/sizing.ts). */
  readonly functions: FunctionSizings;
  /** 6 × the processor's timeout (AWS's advice for an SQS event source). */
  readonly queueVisibilityTimeout: Duration;
  readonly alarmEmail?: string;
  readonly eventSchemasJson?: string;
  readonly retryScheduleSeconds: number[];
  /** Receives before SQS moves a message to the DLQ: every scheduled attempt plus five spare (crashes, rounds deferred near the time limit). */
  readonly maxReceiveCount: number;
  readonly maxEventSizeBytes: number;
  readonly retention: Duration;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly stageThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
  readonly queueAgeAlarmThreshold: Duration;
  readonly subscriptionCacheTtlSeconds: number;
  /** A subscription whose every delivery failed for this long is disabled. */
  readonly disableAfter: Duration;
  /** The webhook circuit breaker; failureThreshold 0: off. */
  readonly circuitBreaker: { readonly failureThreshold: number; readonly cooldownSeconds: number; readonly maxCooldownSeconds: number };
  readonly inboundWebhooks: InboundWebhookSource[];
  readonly isolation: Isolation;
  readonly maxSubscriptionsPerKey: number;
  readonly secretRotationOverlapSeconds: number;
}

/**
 * Applies defaults and rejects props that could not work, with messages that say what to change.
 * All problems are reported at once.
 */
export function resolveSettings(props: EventNotificationServiceProps, path = 'EventNotificationService'): ServiceSettings {
  const problems: string[] = [];
  const check = (ok: boolean, message: string) => { if (!ok) problems.push(message); };

  const webhookTimeout = props.webhook?.timeout ?? Duration.seconds(15);
  check(webhookTimeout.toMilliseconds() >= 1000 && webhookTimeout.toMilliseconds() <= 60_000,
    `webhook.timeout must be between 1 and 60 seconds, got ${webhookTimeout.toHumanString()}`);
  const functions = resolveFunctionSizings(props, webhookTimeout, check);

  const schedule = props.retrySchedule ?? DEFAULT_RETRY_SCHEDULE;
  check(schedule.length > 0, 'retrySchedule must have at least one entry (the first attempt)');
  check(schedule.length <= 20, `retrySchedule may have at most 20 entries, got ${schedule.length}`);
  const retryScheduleSeconds = schedule.map((d) => d.toSeconds({ integral: false }));
  retryScheduleSeconds.forEach((s, i) => check(s >= 0 && s <= 12 * 3600,
    `retrySchedule[${i}] must be between 0 and 12 hours (the SQS visibility timeout limit), got ${schedule[i].toHumanString()}`));
  const totalRetrySeconds = retryScheduleSeconds.reduce((a, b) => a + b, 0);
  check(totalRetrySeconds <= 7 * 24 * 3600,
    `retrySchedule must add up to at most 7 days (messages are kept 14 days), got ${Math.round(totalRetrySeconds / 3600)} hours`);

  const maxEventSize = props.maxEventSize ?? Size.kibibytes(256);
  const maxEventSizeBytes = maxEventSize.toBytes();
  check(maxEventSizeBytes >= 1024 && maxEventSizeBytes <= MAX_STORABLE_EVENT_BYTES,
    `maxEventSize must be between 1 KiB and ${MAX_STORABLE_EVENT_BYTES / 1024} KiB (each event is stored whole in one DynamoDB item of at most 400 KB), got ${maxEventSizeBytes} bytes`);

  const retention = props.retention ?? Duration.days(30);
  check(retention.toSeconds() >= 86400 && retention.toSeconds() <= 365 * 86400,
    `retention must be between 1 and 365 days, got ${retention.toHumanString()}`);

  const alarmEmail = props.alarmEmail;
  if (alarmEmail !== undefined && !Token.isUnresolved(alarmEmail)) {
    check(EMAIL_PATTERN.test(alarmEmail), `alarmEmail must be an email address, got "${alarmEmail}"`);
  }

  let email: ServiceSettings['email'];
  if (props.email) {
    const { fromAddress, identityName, configurationSetName } = props.email;
    const fromOk = Token.isUnresolved(fromAddress) || EMAIL_PATTERN.test(fromAddress);
    check(fromOk, `email.fromAddress must be an email address, got "${fromAddress}"`);
    if (identityName === undefined) {
      check(!Token.isUnresolved(fromAddress), 'email.identityName is required when email.fromAddress is a token');
    }
    const identity = identityName ?? fromAddress.split('@')[1] ?? '';
    if (identityName !== undefined && !Token.isUnresolved(identityName) && !Token.isUnresolved(fromAddress) && fromOk) {
      const domain = fromAddress.split('@')[1].toLowerCase();
      check(identityName.toLowerCase() === fromAddress.toLowerCase() || domain === identityName.toLowerCase() || domain.endsWith('.' + identityName.toLowerCase()),
        `email.identityName "${identityName}" does not cover email.fromAddress "${fromAddress}"`);
    }
    email = { fromAddress, identityName: identity, ...(configurationSetName ? { configurationSetName } : {}) };
  }

  let eventSchemasJson: string | undefined;
  if (props.eventSchemas) {
    for (const type of Object.keys(props.eventSchemas)) {
      check(EVENT_TYPE_PATTERN.test(type), `eventSchemas key "${type}" is not a valid event type (1-128 of A-Z a-z 0-9 . _ : / -)`);
    }
    eventSchemasJson = JSON.stringify(Object.fromEntries(
      Object.entries(props.eventSchemas).map(([type, schema]) => [type, toStandardJsonSchema(schema)]),
    ));
    check(Buffer.byteLength(eventSchemasJson) <= MAX_SCHEMAS_JSON_BYTES,
      `eventSchemas are ${Buffer.byteLength(eventSchemasJson)} bytes as JSON; at most ${MAX_SCHEMAS_JSON_BYTES} (1 MiB) are accepted`);
  }

  const throttle = { rateLimit: props.throttle?.rateLimit ?? 100, burstLimit: props.throttle?.burstLimit ?? 200 };
  check(throttle.rateLimit > 0, `throttle.rateLimit must be positive, got ${throttle.rateLimit}`);
  check(Number.isInteger(throttle.burstLimit) && throttle.burstLimit > 0, `throttle.burstLimit must be a positive whole number, got ${throttle.burstLimit}`);
  // A stage-wide limit applies to all keys together: by default well above one key's, so several
  // keys are not capped at one key's rate, yet bounded (ServerlessChecks APIGWDefaultThrottling).
  const stageThrottle = {
    rateLimit: props.stageThrottle?.rateLimit ?? Math.max(1000, throttle.rateLimit),
    burstLimit: props.stageThrottle?.burstLimit ?? Math.max(2000, throttle.burstLimit),
  };
  if (props.stageThrottle) {
    check(stageThrottle.rateLimit > 0, `stageThrottle.rateLimit must be positive, got ${stageThrottle.rateLimit}`);
    check(Number.isInteger(stageThrottle.burstLimit) && stageThrottle.burstLimit > 0,
      `stageThrottle.burstLimit must be a positive whole number, got ${stageThrottle.burstLimit}`);
  }

  const fifo = props.fifo ?? false;
  if (props.deadLetterQueue) {
    check(props.deadLetterQueue.fifo === fifo,
      `deadLetterQueue must ${fifo ? '' : 'not '}be a FIFO queue when fifo is ${fifo}: SQS moves messages only between queues of the same type`);
  }

  const queueAgeAlarmThreshold = props.queueAgeAlarmThreshold ?? Duration.hours(1);
  check(queueAgeAlarmThreshold.toSeconds() >= 60, `queueAgeAlarmThreshold must be at least 1 minute, got ${queueAgeAlarmThreshold.toHumanString()}`);

  const cacheTtl = props.subscriptionCacheTtl ?? Duration.seconds(30);
  const subscriptionCacheTtlSeconds = cacheTtl.toSeconds({ integral: false });
  check(subscriptionCacheTtlSeconds >= 0 && subscriptionCacheTtlSeconds <= 300,
    `subscriptionCacheTtl must be between 0 and 5 minutes, got ${cacheTtl.toHumanString()}`);

  const disableAfter = props.disableAfter ?? Duration.days(5);
  const disableAfterSeconds = disableAfter.toSeconds({ integral: false });
  check(Number.isInteger(disableAfterSeconds) && disableAfterSeconds >= 1 && disableAfterSeconds <= 365 * 86400,
    `disableAfter must be whole seconds between 1 second and 365 days, got ${disableAfter.toHumanString()}`);

  const breaker = props.circuitBreaker ?? {};
  const circuitBreaker = {
    failureThreshold: breaker.failureThreshold ?? 5,
    cooldownSeconds: (breaker.cooldown ?? Duration.seconds(30)).toSeconds({ integral: false }),
    maxCooldownSeconds: (breaker.maxCooldown ?? Duration.minutes(15)).toSeconds({ integral: false }),
  };
  check(Number.isInteger(circuitBreaker.failureThreshold) && circuitBreaker.failureThreshold >= 0 && circuitBreaker.failureThreshold <= 100,
    `circuitBreaker.failureThreshold must be a whole number from 0 (off) to 100, got ${circuitBreaker.failureThreshold}`);
  check(Number.isInteger(circuitBreaker.cooldownSeconds) && circuitBreaker.cooldownSeconds >= 1 && circuitBreaker.cooldownSeconds <= 900,
    `circuitBreaker.cooldown must be whole seconds between 1 second and 15 minutes, got ${breaker.cooldown?.toHumanString()}`);
  check(Number.isInteger(circuitBreaker.maxCooldownSeconds) && circuitBreaker.maxCooldownSeconds >= circuitBreaker.cooldownSeconds
    && circuitBreaker.maxCooldownSeconds <= 3600,
  `circuitBreaker.maxCooldown must be whole seconds from circuitBreaker.cooldown to 1 hour, got ${(breaker.maxCooldown ?? Duration.minutes(15)).toHumanString()}`);

  const inboundWebhooks = props.inboundWebhooks ?? [];
  check(inboundWebhooks.length <= MAX_INBOUND_SOURCES, `inboundWebhooks may have at most ${MAX_INBOUND_SOURCES} sources, got ${inboundWebhooks.length}`);
  const names = new Set<string>();
  for (const source of inboundWebhooks) {
    check(/^[a-z0-9-]{1,32}$/.test(source.name), `inboundWebhooks name "${source.name}" must be 1-32 of a-z 0-9 -`);
    check(!names.has(source.name), `inboundWebhooks name "${source.name}" is used twice`);
    names.add(source.name);
    if (source.hmacPrefix !== undefined) {
      check(source.hmacPrefix.length <= 64, `inboundWebhooks "${source.name}": prefix must be at most 64 characters`);
    }
    if (source.hmacHeader !== undefined) {
      check(/^[A-Za-z0-9-]{1,64}$/.test(source.hmacHeader), `inboundWebhooks "${source.name}": header "${source.hmacHeader}" is not a header name`);
    }
    for (const header of [source.eventTypeHeader, source.deliveryIdHeader]) {
      if (header !== undefined) check(/^[A-Za-z0-9-]{1,64}$/.test(header), `inboundWebhooks "${source.name}": "${header}" is not a header name`);
    }
  }

  const maxSubscriptionsPerKey = props.maxSubscriptionsPerKey ?? 100;
  check(Number.isInteger(maxSubscriptionsPerKey) && maxSubscriptionsPerKey >= 1 && maxSubscriptionsPerKey <= 10_000,
    `maxSubscriptionsPerKey must be a whole number from 1 to 10000, got ${maxSubscriptionsPerKey}`);

  const rotationOverlap = props.secretRotationOverlap ?? Duration.hours(24);
  const secretRotationOverlapSeconds = rotationOverlap.toSeconds({ integral: false });
  check(secretRotationOverlapSeconds >= 0 && secretRotationOverlapSeconds <= 7 * 24 * 3600,
    `secretRotationOverlap must be between 0 and 7 days, got ${rotationOverlap.toHumanString()}`);

  if (problems.length > 0) {
    // The construct path says which service is meant when a stack holds several.
    throw new Error(`Invalid EventNotificationService props at ${path}:\n- ${problems.join('\n- ')}`);
  }

  return {
    isolation: props.isolation ?? Isolation.SHARED,
    maxSubscriptionsPerKey,
    secretRotationOverlapSeconds,
    fifo,
    email,
    webhookTimeout,
    functions,
    queueVisibilityTimeout: Duration.seconds(functions.processor.timeout.toSeconds() * 6),
    alarmEmail,
    eventSchemasJson,
    retryScheduleSeconds,
    maxReceiveCount: schedule.length + 5,
    maxEventSizeBytes,
    retention,
    throttle,
    stageThrottle,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    queueAgeAlarmThreshold,
    subscriptionCacheTtlSeconds,
    disableAfter,
    circuitBreaker,
    inboundWebhooks,
  };
}

/** Keys of CDK's JsonSchema that are `$`-prefixed in JSON Schema. */
const PREFIXED_KEYS: Record<string, string> = { schema: '$schema', ref: '$ref' };
/** Keywords whose children are user-defined names, never keywords. */
const NAME_MAPS = new Set(['definitions', 'properties', 'patternProperties', 'dependencies']);

/**
 * CDK's `apigateway.JsonSchema` spells `$schema` and `$ref` without the `$`; the processor's
 * validator reads standard JSON Schema. (The same mapping API Gateway models get from CDK.)
 */
export function toStandardJsonSchema(schema: unknown, namesOnly = false): unknown {
  if (schema === null || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map((entry) => toStandardJsonSchema(entry));
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [
    !namesOnly && key in PREFIXED_KEYS ? PREFIXED_KEYS[key] : key,
    toStandardJsonSchema(value, !namesOnly && NAME_MAPS.has(key)),
  ]));
}
