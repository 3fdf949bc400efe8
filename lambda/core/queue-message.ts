import * as z from 'zod';
import { EventEnvelope, eventEnvelopeSchema } from './envelope';
import { deterministicId, isId } from './ids';
import { compactJson } from './raw-json';
import { MAX_FAN_OUT_PART_SIZE } from '../../src/contract';

/**
 * The events queue's message, in one place: what ingest, inbound webhooks, the replay tool and
 * `grantPublish` code put on the queue, and how the processor reads it back.
 *
 * Version 2 carries the publisher's envelope as exact JSON text (`eventJson`), so numbers keep
 * every digit and keys their order (raw-json.ts). Version 1 (an object `event`) is still read:
 * a queue may hold messages an older deployment wrote.
 *
 * A follow-up message (fan-out.ts) is a version 2 message with `fanOut`: the same event, for a
 * bounded part of its subscriptions.
 */

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

const headerFields = {
  eventId: z.string().refine((id) => isId('evt', id), 'must be an evt_ id'),
  receivedAt: z.iso.datetime(),
  source: z.string().min(1).max(200),
  publisherKeyId: z.string().max(200).optional(),
  /** Set on copies sent to the dead-letter queue: a redrive retries failed notifications. */
  redrive: z.boolean().optional(),
};

/** The most follow-ups of one event (7.5 million subscriptions in parts of 75: more than any event matches). */
export const MAX_FAN_OUT_PARTS = 100_000;

/**
 * A follow-up message's share of a large fan-out (docs/architecture.md "Fan-out"): the message is
 * the event's (same id, same exact text) and delivers it to these subscriptions only.
 */
export interface FanOutPart {
  /** 0-based position among the event's follow-ups. */
  readonly part: number;
  readonly parts: number;
  /** Subscriptions the event matched when it was split (the stored event's matchedSubscriptions). */
  readonly total: number;
  /** Strictly ascending, so they are one key range of the event's notification records. */
  readonly subscriptionIds: readonly string[];
}

const fanOutSchema = z.object({
  part: z.number().int().min(0),
  parts: z.number().int().min(1).max(MAX_FAN_OUT_PARTS),
  total: z.number().int().min(1).max(MAX_FAN_OUT_PARTS * MAX_FAN_OUT_PART_SIZE),
  subscriptionIds: z.array(z.string().refine((id) => isId('sub', id), 'must be a sub_ id')).min(1).max(MAX_FAN_OUT_PART_SIZE),
}).refine((f) => f.part < f.parts, { message: 'must be below parts', path: ['part'] })
  .refine((f) => f.subscriptionIds.length <= f.total, { message: 'must not hold more ids than total', path: ['subscriptionIds'] })
  .refine((f) => f.subscriptionIds.every((id, i) => i === 0 || f.subscriptionIds[i - 1] < id), {
    message: 'must be strictly ascending', path: ['subscriptionIds'],
  });

const messageSchema = z.discriminatedUnion('v', [
  z.object({ v: z.literal(2), ...headerFields, eventJson: z.string().min(2), fanOut: fanOutSchema.optional() }),
  z.object({ v: z.literal(1), ...headerFields, event: z.unknown() }),
]);

/** A queued event as text: everything the service knows of it before deep validation. */
export interface QueuedEventText {
  readonly eventId: string;
  /** ISO-8601 time the service accepted the event (the time part of its id). */
  readonly receivedAt: string;
  /** `api`, `queue` (sent straight to the queue) or `webhook:<source>`. */
  readonly source: string;
  /** API key id of the publisher, when it came through the API. */
  readonly publisherKeyId?: string;
  /** The publisher's envelope: compact, exact JSON text. */
  readonly eventJson: string;
  /** Set on a follow-up message: it delivers the event to these subscriptions only. */
  readonly fanOut?: FanOutPart;
}

/** A queued event whose envelope passed validation: its text plus a parsed view of it. */
export interface QueuedEvent extends QueuedEventText {
  /** Parsed from `eventJson` for validation and matching; never re-serialized for delivery. */
  readonly event: EventEnvelope;
}

/** The message body for a queued event (a follow-up keeps its part); `redrive` marks dead-letter copies. */
export function queueMessageBody(message: QueuedEventText, options: { readonly redrive?: boolean } = {}): string {
  return JSON.stringify({
    v: 2,
    eventId: message.eventId,
    receivedAt: message.receivedAt,
    source: message.source,
    ...(message.publisherKeyId ? { publisherKeyId: message.publisherKeyId } : {}),
    eventJson: message.eventJson,
    ...(message.fanOut ? { fanOut: message.fanOut } : {}),
    ...(options.redrive ? { redrive: true } : {}),
  });
}

/** The FIFO message group of an event: its `orderingKey`, else its type. */
export function messageGroupOf(event: unknown): string {
  const e = event as { orderingKey?: unknown; eventType?: unknown } | undefined;
  const key = e?.orderingKey ?? e?.eventType;
  return typeof key === 'string' && key.length > 0 ? key.slice(0, 128) : 'unknown';
}

export type ParsedMessage =
  | { readonly ok: true; readonly message: QueuedEvent; readonly redrive: boolean }
  | {
    readonly ok: false;
    readonly reasons: string[];
    readonly eventId?: string;
    /** The message as far as it could be read (its envelope failed validation). */
    readonly partial?: QueuedEventText;
    /** The envelope as parsed, when it is JSON (for its ordering key). */
    readonly event?: unknown;
    readonly redrive?: boolean;
  };

/**
 * Reads a queue message: a versioned message from the service, or a bare event envelope sent
 * straight to the queue by code holding `grantPublish` (it gets an id derived from the SQS
 * message id, so redeliveries keep it, and `queuePublisherKeyId` as its publisher). Deep-validates the envelope.
 */
export function parseQueueMessage(record: QueueRecord, queuePublisherKeyId?: string): ParsedMessage {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return { ok: false, reasons: ['message body is not JSON'] };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reasons: ['message body is not a JSON object'] };

  let text: QueuedEventText;
  let redrive = false;
  if (Object.hasOwn(body, 'v')) {
    const parsed = messageSchema.safeParse(body);
    if (!parsed.success) return { ok: false, reasons: parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`) };
    const m = parsed.data;
    redrive = m.redrive === true;
    text = {
      eventId: m.eventId,
      receivedAt: m.receivedAt,
      source: m.source,
      ...(m.publisherKeyId ? { publisherKeyId: m.publisherKeyId } : {}),
      eventJson: m.v === 2 ? m.eventJson : JSON.stringify(m.event ?? null),
      ...(m.v === 2 && m.fanOut ? { fanOut: m.fanOut } : {}),
    };
  } else {
    text = {
      eventId: deterministicId('evt', record.sentTimestampMs, record.messageId),
      receivedAt: new Date(record.sentTimestampMs).toISOString(),
      source: 'queue',
      ...(queuePublisherKeyId ? { publisherKeyId: queuePublisherKeyId } : {}),
      eventJson: compactJson(record.body),
    };
  }
  let event: unknown;
  try {
    event = JSON.parse(text.eventJson);
  } catch {
    return { ok: false, eventId: text.eventId, partial: text, reasons: ['eventJson: is not JSON'], redrive };
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { ok: false, eventId: text.eventId, partial: text, event, reasons: ['/: the event must be a JSON object'], redrive };
  }
  const envelope = eventEnvelopeSchema.safeParse(event);
  if (!envelope.success) {
    return {
      ok: false,
      eventId: text.eventId,
      partial: text,
      event,
      redrive,
      reasons: envelope.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`),
    };
  }
  return { ok: true, message: { ...text, eventJson: compactJson(text.eventJson), event: envelope.data }, redrive };
}
