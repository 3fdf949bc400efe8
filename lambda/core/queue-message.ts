import * as z from 'zod';
import { eventEnvelopeSchema } from './envelope';
import { deterministicId, isId } from './ids';
import { QueuedEvent } from './queued-event';

/** One SQS record as the processor needs it. */
export interface QueueRecord {
  readonly messageId: string;
  readonly body: string;
  /** ApproximateReceiveCount: 1 on the first receive. */
  readonly receiveCount: number;
  readonly receiptHandle: string;
  /** SentTimestamp, epoch milliseconds. */
  readonly sentTimestampMs: number;
}

const queuedEventSchema = z.object({
  v: z.literal(1),
  eventId: z.string().refine((id) => isId('evt', id), 'must be an evt_ id'),
  receivedAt: z.iso.datetime(),
  source: z.string().min(1).max(200),
  publisherKeyId: z.string().max(200).optional(),
  event: z.unknown(),
  /** Set on copies sent to the dead-letter queue: a redrive retries failed notifications. */
  redrive: z.boolean().optional(),
});

export type ParsedMessage =
  | { readonly ok: true; readonly message: QueuedEvent; readonly redrive: boolean }
  | { readonly ok: false; readonly eventId?: string; readonly reasons: string[]; readonly partial?: Omit<QueuedEvent, 'event'> & { event: unknown } };

/**
 * Reads a queue message: the ingest function's `QueuedEvent`, or a bare event envelope sent
 * straight to the queue by code holding `grantPublish` (it gets an id derived from the SQS
 * message id, so redeliveries keep it). Deep-validates the envelope.
 */
export function parseQueueMessage(record: QueueRecord): ParsedMessage {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return { ok: false, reasons: ['message body is not JSON'] };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reasons: ['message body is not a JSON object'] };

  let wrapper: Omit<QueuedEvent, 'event'> & { event: unknown };
  let redrive = false;
  if ((body as { v?: unknown }).v !== undefined) {
    const parsed = queuedEventSchema.safeParse(body);
    if (!parsed.success) return { ok: false, reasons: parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`) };
    const { redrive: flag, ...rest } = parsed.data;
    wrapper = rest;
    redrive = flag === true;
  } else {
    wrapper = {
      v: 1,
      eventId: deterministicId('evt', record.sentTimestampMs, record.messageId),
      receivedAt: new Date(record.sentTimestampMs).toISOString(),
      source: 'queue',
      event: body,
    };
  }
  const envelope = eventEnvelopeSchema.safeParse(wrapper.event);
  if (!envelope.success) {
    return {
      ok: false,
      eventId: wrapper.eventId,
      partial: wrapper,
      reasons: envelope.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`),
    };
  }
  return { ok: true, message: { ...wrapper, event: envelope.data }, redrive };
}
