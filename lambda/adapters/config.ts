import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import {
  IngestSetting, ISOLATION_MODES, ManagementSetting, MAX_FAN_OUT_PART_SIZE, ProcessorSetting, SETTINGS_FILE_VARIABLE,
} from '../../src/contract';
import { BreakerPolicy, DEFAULT_BREAKER_POLICY, DEFAULT_DISABLE_AFTER_SECONDS } from '../core/endpoint-health';
import { inboundSourceSchema } from '../core/inbound-webhooks';

/**
 * A handler's settings: its environment, plus the settings file named by SETTINGS_FILE. Lambda
 * limits a function's environment to 4 KB, so large settings (event schemas, inbound sources)
 * travel in a JSON file inside the function's asset (`{ "NAME": "value" }`, the same names and
 * string values as environment variables). A relative name is read from the function's folder.
 */
export function handlerSettings(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const file = env[SETTINGS_FILE_VARIABLE];
  if (!file) return env;
  const where = path.resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), file);
  let settings: unknown;
  try {
    settings = JSON.parse(fs.readFileSync(where, 'utf8'));
  } catch (error) {
    throw new Error(`Invalid function configuration: SETTINGS_FILE ${where} cannot be read as JSON: ${(error as Error).message}`);
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings) || Object.values(settings).some((v) => typeof v !== 'string')) {
    throw new Error(`Invalid function configuration: SETTINGS_FILE ${where} must hold an object of strings`);
  }
  return { ...env, ...(settings as Record<string, string>) };
}

/**
 * Reads a handler's settings (environment and settings file), failing fast with every problem
 * named: a misconfigured function should not start, rather than fail one request at a time.
 */
export function readConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = handlerSettings()): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function configuration: ${problems}`);
  }
  return parsed.data;
}

export const booleanFlag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');
/** POWERTOOLS_TRACE_ENABLED: on unless the construct's `tracing: false` set it to false. */
const tracingFlag = z.enum(['true', 'false']).default('true').transform((v) => v === 'true');

const jsonArray = z.string().optional().transform((v, ctx) => {
  if (v === undefined || v === '') return [];
  try {
    return JSON.parse(v) as unknown[];
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON' });
    return z.NEVER;
  }
});

export const ingestConfigSchema = z.object({
  QUEUE_URL: z.string().min(1),
  QUEUE_FIFO: booleanFlag,
  MAX_EVENT_SIZE_BYTES: z.coerce.number().int().positive(),
  EVENTS_TABLE_NAME: z.string().min(1),
  /**
   * Inbound webhook sources (lambda/core/inbound-webhooks.ts inboundSourceSchema). In AWS they
   * come from the settings file, which cannot hold deploy-time values: a source without its own
   * `secretId` takes the one at its position in INBOUND_SECRET_IDS (comma-separated ARNs).
   */
  INBOUND_SOURCES: jsonArray,
  INBOUND_SECRET_IDS: z.string().optional(),
  POWERTOOLS_TRACE_ENABLED: tracingFlag,
} satisfies Record<IngestSetting, z.ZodType>).transform((config, ctx) => {
  const secretIds = config.INBOUND_SECRET_IDS ? config.INBOUND_SECRET_IDS.split(',') : [];
  const sources = z.array(inboundSourceSchema).safeParse(
    config.INBOUND_SOURCES.map((source, i) => ({ secretId: secretIds[i], ...(source as object) })),
  );
  if (!sources.success) {
    for (const issue of sources.error.issues) ctx.addIssue({ code: 'custom', path: ['INBOUND_SOURCES', ...issue.path], message: issue.message });
    return z.NEVER;
  }
  const { INBOUND_SECRET_IDS: _ids, ...rest } = config;
  return { ...rest, INBOUND_SOURCES: sources.data };
});

export const managementConfigSchema = z.object({
  SUBSCRIPTIONS_TABLE_NAME: z.string().min(1),
  EVENTS_TABLE_NAME: z.string().min(1),
  NOTIFICATIONS_TABLE_NAME: z.string().min(1),
  /** Local runtime only; the construct never sets it. */
  ALLOW_PRIVATE_TARGETS: booleanFlag,
  MAX_SUBSCRIPTIONS_PER_KEY: z.coerce.number().int().min(1).max(100_000).default(100),
  /** How long a rotated-out signing secret keeps signing deliveries (the construct checks 0–7 days). */
  SECRET_ROTATION_OVERLAP_SECONDS: z.coerce.number().min(0).max(7 * 24 * 3600).default(24 * 3600),
  POWERTOOLS_TRACE_ENABLED: tracingFlag,
} satisfies Record<ManagementSetting, z.ZodType>);

const csvSeconds = z.string().regex(/^\d+(\.\d+)?(,\d+(\.\d+)?)*$/, 'must be comma-separated seconds')
  .transform((v) => v.split(',').map(Number));

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
