import { z } from 'zod';

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

export const ingestConfigSchema = z.object({
  QUEUE_URL: z.string().min(1),
  QUEUE_FIFO: booleanFlag,
  MAX_EVENT_SIZE_BYTES: z.coerce.number().int().positive(),
  EVENTS_TABLE_NAME: z.string().min(1),
});

export const managementConfigSchema = z.object({
  SUBSCRIPTIONS_TABLE_NAME: z.string().min(1),
  /** Local runtime only; the construct never sets it. */
  ALLOW_PRIVATE_TARGETS: booleanFlag,
});
