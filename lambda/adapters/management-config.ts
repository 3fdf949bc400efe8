import * as z from 'zod';
import { booleanFlag, tracingFlag } from './config';
import { ManagementSetting } from '../../src/contract';

/** The management function's settings (readConfig in ./config). */
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
