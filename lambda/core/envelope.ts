import * as z from 'zod';
import { EVENT_TYPE_PATTERN } from '../../src/contract';

/** Severities in ascending order: a subscription's `severityFilter` is the minimum it receives. */
export const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}


export { EVENT_TYPE_PATTERN };

export const severitySchema = z.enum(SEVERITIES, {
  error: () => `must be one of ${SEVERITIES.join(', ')}`,
});

export const eventTypeSchema = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(EVENT_TYPE_PATTERN, 'may contain only letters, digits and . _ : / -');

export const MAX_TITLE_LENGTH = 256;

/**
 * Fields the service sets on every delivered event (a webhook's `data`). A publisher cannot
 * supply them: otherwise a delivery could claim another id or a verified inbound source.
 */
export const SERVICE_FIELDS = ['eventId', 'receivedAt', 'source'] as const;

/**
 * The event envelope as publishers send it. Shallow validation: the envelope fields are present
 * and typed; unknown fields are kept, never rejected (they travel with the event).
 */
export const eventEnvelopeSchema = z.looseObject({
  eventType: eventTypeSchema,
  severity: severitySchema,
  title: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(MAX_TITLE_LENGTH, `must be at most ${MAX_TITLE_LENGTH} characters`)
    // For the OpenAPI document: the lengths count after trimming, so a blank title is refused.
    .meta({ pattern: '\\S', description: `Trimmed of surrounding white space, then 1 to ${MAX_TITLE_LENGTH} characters` }),
  details: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
  /** FIFO only: events with the same ordering key are delivered in order (default: the event type). */
  orderingKey: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
}).superRefine((envelope, ctx) => {
  for (const field of SERVICE_FIELDS) {
    if (Object.hasOwn(envelope, field)) {
      ctx.addIssue({ code: 'custom', path: [field], message: 'is set by the service and cannot be sent; put your own value in details' });
    }
  }
}).meta({
  description: `An event as a publisher sends it. Other fields are kept and delivered as sent; ${SERVICE_FIELDS.join(', ')} are set by the service and refused.`,
  // The refinement above, as JSON Schema (OpenAPI document).
  not: { anyOf: SERVICE_FIELDS.map((field) => ({ required: [field] })) },
});

export type EventEnvelope = z.infer<typeof eventEnvelopeSchema>;
