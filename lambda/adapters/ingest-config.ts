import * as z from 'zod';
import { booleanFlag, tracingFlag } from './config';
import { IngestSetting } from '../../src/contract';
import { inboundSourceSchema } from '../core/inbound-webhooks';

const jsonArray = z.string().optional().transform((v, ctx) => {
  if (v === undefined || v === '') return [];
  try {
    return JSON.parse(v) as unknown[];
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON' });
    return z.NEVER;
  }
});

/** The ingest function's settings (readConfig in ./config). */
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
