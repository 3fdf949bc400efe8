import * as z from 'zod';
import { inboundSourceSchema } from '../core/inbound-webhooks';

/**
 * Reads a handler's settings from its environment, failing fast with every problem named:
 * a misconfigured function should not start, rather than fail one request at a time.
 */
export function readConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function configuration: ${problems}`);
  }
  return parsed.data;
}

export const booleanFlag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');

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
  /** Inbound webhook sources (lambda/core/inbound-webhooks.ts inboundSourceSchema). */
  INBOUND_SOURCES: jsonArray.pipe(z.array(inboundSourceSchema)),
});

export const managementConfigSchema = z.object({
  SUBSCRIPTIONS_TABLE_NAME: z.string().min(1),
  EVENTS_TABLE_NAME: z.string().min(1),
  NOTIFICATIONS_TABLE_NAME: z.string().min(1),
  /** Local runtime only; the construct never sets it. */
  ALLOW_PRIVATE_TARGETS: booleanFlag,
});

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
  RETENTION_SECONDS: z.coerce.number().int().positive(),
  SUBSCRIPTION_CACHE_TTL_SECONDS: z.coerce.number().min(0).max(600).default(30),
  MAX_CONCURRENT_DELIVERIES: z.coerce.number().int().min(1).max(200).default(25),
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
});
