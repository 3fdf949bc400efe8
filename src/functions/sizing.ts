import { Duration, Token } from 'aws-cdk-lib';
import { EventNotificationServiceProps, FunctionOverrides } from '../props';

/** One function's memory, time limit and reserved concurrency after defaults and validation. */
export interface FunctionSizing {
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly reservedConcurrentExecutions?: number;
}

export interface FunctionSizings {
  readonly ingest: FunctionSizing;
  readonly management: FunctionSizing;
  readonly processor: FunctionSizing;
}

/** Lambda's memory range (MB). */
const MIN_MEMORY_MB = 128;
const MAX_MEMORY_MB = 10_240;
/** API Gateway waits at most this long for a function's answer (its default integration timeout). */
export const API_GATEWAY_TIMEOUT_SECONDS = 29;
/**
 * Ingest: below the 15 s lease of an Idempotency-Key claim (IDEMPOTENCY_LEASE_MS,
 * lambda/core/idempotency.ts), so a request is dead before a repeat may take its claim over.
 */
export const MAX_INGEST_TIMEOUT_SECONDS = 14;
/**
 * Processor: a retry is scheduled by extending the message's visibility, which SQS allows up to
 * 12 h after the receive; the processor asks for at most 12 h − 15 min, after its work
 * (MAX_DELAY_SECONDS, lambda/core/retry-policy.ts), so its work must end well within 15 minutes.
 */
export const MAX_PROCESSOR_TIMEOUT_SECONDS = 600;
/**
 * Processor: no delivery starts that could not end 3 s before the deadline, and the event is
 * stored first; below one webhook timeout plus this, no webhook could ever be attempted.
 */
export const PROCESSOR_TIMEOUT_MARGIN_SECONDS = 10;
/** The SQS event source's maximumConcurrency range. */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;
export const MAX_EVENT_SOURCE_CONCURRENCY = 1000;

/** Default processor time limit: deliveries of a batch run concurrently; room for two webhook timeouts plus storage. */
export function defaultProcessorTimeout(webhookTimeout: Duration): Duration {
  return Duration.seconds(Math.max(60, Math.ceil(webhookTimeout.toSeconds({ integral: false }) * 2) + 30));
}

/**
 * Each function's sizing: the defaults, or the `*FunctionProps` overrides where they are safe.
 * `check` collects every problem (src/settings.ts reports them together, naming the construct).
 */
export function resolveFunctionSizings(
  props: EventNotificationServiceProps,
  webhookTimeout: Duration,
  check: (ok: boolean, message: string) => void,
): FunctionSizings {
  const sizing = (
    prop: string, overrides: FunctionOverrides | undefined, defaults: { memorySize: number; timeout: Duration },
    limits: { minTimeoutSeconds: number; maxTimeoutSeconds: number; why: string; minConcurrency: number; concurrencyWhy: string },
  ): FunctionSizing => {
    const memorySize = overrides?.memorySize ?? defaults.memorySize;
    check(!Token.isUnresolved(memorySize) && Number.isInteger(memorySize) && memorySize >= MIN_MEMORY_MB && memorySize <= MAX_MEMORY_MB,
      `${prop}.memorySize must be a whole number of MB from ${MIN_MEMORY_MB} to ${MAX_MEMORY_MB} (Lambda's range), got ${memorySize}`);

    const timeout = overrides?.timeout ?? defaults.timeout;
    const seconds = timeout.isUnresolved() ? Number.NaN : timeout.toSeconds({ integral: false });
    check(Number.isInteger(seconds) && seconds >= limits.minTimeoutSeconds && seconds <= limits.maxTimeoutSeconds,
      `${prop}.timeout must be whole seconds from ${limits.minTimeoutSeconds} to ${limits.maxTimeoutSeconds} (${limits.why}), `
      + `got ${timeout.isUnresolved() ? 'a token' : timeout.toHumanString()}`);

    const reserved = overrides?.reservedConcurrentExecutions;
    if (reserved !== undefined) {
      check(!Token.isUnresolved(reserved) && Number.isInteger(reserved) && reserved >= limits.minConcurrency,
        `${prop}.reservedConcurrentExecutions must be a whole number of at least ${limits.minConcurrency} (${limits.concurrencyWhy}), got ${reserved}`);
    }
    return { memorySize, timeout, ...(reserved !== undefined ? { reservedConcurrentExecutions: reserved } : {}) };
  };

  const webhookSeconds = Math.ceil(webhookTimeout.toSeconds({ integral: false }));
  const apiFunction = { maxTimeoutSeconds: API_GATEWAY_TIMEOUT_SECONDS, why: `API Gateway waits at most ${API_GATEWAY_TIMEOUT_SECONDS} s for an answer` };
  const stopsIfZero = { minConcurrency: 1, concurrencyWhy: '0 would stop the function' };
  return {
    ingest: sizing('ingestFunctionProps', props.ingestFunctionProps, { memorySize: 256, timeout: Duration.seconds(10) }, {
      ...stopsIfZero,
      minTimeoutSeconds: 1,
      maxTimeoutSeconds: MAX_INGEST_TIMEOUT_SECONDS,
      why: 'an Idempotency-Key claim is held for 15 s: a request still running after that could be overtaken by its own retry',
    }),
    management: sizing('managementFunctionProps', props.managementFunctionProps, { memorySize: 256, timeout: Duration.seconds(10) }, {
      ...stopsIfZero,
      ...apiFunction,
      minTimeoutSeconds: 1,
    }),
    processor: sizing('processorFunctionProps', props.processorFunctionProps, { memorySize: 512, timeout: defaultProcessorTimeout(webhookTimeout) }, {
      minTimeoutSeconds: webhookSeconds + PROCESSOR_TIMEOUT_MARGIN_SECONDS,
      maxTimeoutSeconds: MAX_PROCESSOR_TIMEOUT_SECONDS,
      why: `at least webhook.timeout + ${PROCESSOR_TIMEOUT_MARGIN_SECONDS} s, or no delivery could start; at most 10 minutes, `
        + 'so a retry can still be scheduled within SQS\'s 12 hours of visibility',
      minConcurrency: MIN_EVENT_SOURCE_CONCURRENCY,
      concurrencyWhy: 'the events queue\'s event source is limited to the same concurrency, and its maximumConcurrency is at least 2',
    }),
  };
}
