import * as z from 'zod';
import { booleanFlag, tracingFlag } from './config';
import { ISOLATION_MODES, MAX_FAN_OUT_PART_SIZE, ProcessorSetting } from '../../src/contract';
import { BreakerPolicy, DEFAULT_BREAKER_POLICY, DEFAULT_DISABLE_AFTER_SECONDS } from '../core/endpoint-health';

const csvSeconds = z.string().regex(/^\d+(\.\d+)?(,\d+(\.\d+)?)*$/, 'must be comma-separated seconds')
  .transform((v) => v.split(',').map(Number));

/** The processor function's settings (readConfig in ./config). */
export const processorConfigSchema = z.object({
  EVENTS_TABLE_NAME: z.string().min(1),
  SUBSCRIPTIONS_TABLE_NAME: z.string().min(1),
  NOTIFICATIONS_TABLE_NAME: z.string().min(1),
  QUEUE_URL: z.string().min(1),
  DEAD_LETTER_QUEUE_URL: z.string().min(1),
  QUEUE_FIFO: booleanFlag,
  RETRY_SCHEDULE_SECONDS: csvSeconds,
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000),
  /** The function's time limit (the construct always sets it; 60 s, its smallest default, for a bare handler). */
  FUNCTION_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(900).default(60),
  RETENTION_SECONDS: z.coerce.number().int().positive(),
  SUBSCRIPTION_CACHE_TTL_SECONDS: z.coerce.number().min(0).max(600).default(30),
  MAX_CONCURRENT_DELIVERIES: z.coerce.number().int().min(1).max(200).default(25),
  /**
   * Subscriptions per follow-up message of a large fan-out. The construct does not set it: the
   * processor derives it from its timeout, the webhook timeout and MAX_CONCURRENT_DELIVERIES
   * (lambda/core/fan-out.ts); set it to tune or test.
   */
  FAN_OUT_SIZE: z.coerce.number().int().min(1).max(MAX_FAN_OUT_PART_SIZE).optional(),
  /** The events queue's maxReceiveCount (redrive policy): the processor finishes a message on that receive. */
  MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(1000).optional(),
  EMAIL_FROM_ADDRESS: z.string().min(3).optional(),
  SES_CONFIGURATION_SET: z.string().min(1).optional(),
  EVENT_SCHEMAS: z.string().optional().transform((v, ctx) => {
    if (v === undefined || v === '') return {};
    try {
      return JSON.parse(v) as Record<string, object>;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON' });
      return z.NEVER;
    }
  }),
  /** Local runtime only; the construct never sets it. */
  ALLOW_PRIVATE_TARGETS: booleanFlag,
  ISOLATION: z.enum(ISOLATION_MODES).default('SHARED'),
  /** The API key id events sent straight to the queue (grantPublish) belong to. */
  QUEUE_PUBLISHER_KEY_ID: z.string().min(1).optional(),
  /**
   * The API key id each inbound source's events belong to: `name=keyId,…`. The processor, not the
   * ingest function, attributes them: the ingest function cannot refer to the API's keys (the API
   * refers to it), and the processor stores and matches the event anyway.
   */
  INBOUND_OWNER_KEY_IDS: z.string().optional().transform((v, ctx) => {
    const owners = new Map<string, string>();
    for (const pair of (v ?? '').split(',').filter(Boolean)) {
      const [name, keyId] = pair.split('=');
      if (!name || !keyId) ctx.addIssue({ code: 'custom', message: `"${pair}" is not name=keyId` });
      else owners.set(`webhook:${name}`, keyId);
    }
    return owners;
  }),
  /** A subscription whose every delivery has failed for this long is disabled (the construct's disableAfter). */
  DISABLE_AFTER_SECONDS: z.coerce.number().int().min(1).max(365 * 86400).default(DEFAULT_DISABLE_AFTER_SECONDS),
  /** The webhook circuit breaker: `failureThreshold,cooldownSeconds,maxCooldownSeconds`; a threshold of 0 turns it off. */
  CIRCUIT_BREAKER: z.string().regex(/^\d{1,3},\d{1,4},\d{1,5}$/, 'must be failureThreshold,cooldownSeconds,maxCooldownSeconds')
    .optional()
    .transform((v): BreakerPolicy => {
      if (v === undefined) return DEFAULT_BREAKER_POLICY;
      const [failureThreshold, baseCooldownSeconds, maxCooldownSeconds] = v.split(',').map(Number);
      return { failureThreshold, baseCooldownSeconds, maxCooldownSeconds };
    }),
  POWERTOOLS_TRACE_ENABLED: tracingFlag,
} satisfies Record<ProcessorSetting, z.ZodType>);
