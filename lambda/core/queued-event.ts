import { EventEnvelope } from './envelope';

/**
 * The message the ingest path puts on the events queue. Version it: a queue may hold
 * messages written by an older deployment when a newer processor reads them.
 */
export interface QueuedEvent {
  readonly v: 1;
  readonly eventId: string;
  /** ISO-8601 time the API accepted the event. */
  readonly receivedAt: string;
  /** `api`, or `webhook:<source>` for inbound third-party webhooks. */
  readonly source: string;
  /** API key id of the publisher, when it came through the API. */
  readonly publisherKeyId?: string;
  readonly event: EventEnvelope;
}

/** Per-message outcome of a send: either the queue has the message, or it does not. */
export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Port: the events queue (SQS in AWS, the local queue stand-in on one machine). */
export interface EventQueue {
  /**
   * Sends messages and reports, in order, which ones the queue accepted. Resolves only when
   * every message has an outcome; it never reports success for a message the queue did not take.
   */
  send(messages: readonly QueuedEvent[]): Promise<SendOutcome[]>;
}

/** The group a FIFO message belongs to: events of one group are processed in order. */
export function orderingKeyOf(message: QueuedEvent): string {
  return message.event.orderingKey ?? message.event.eventType;
}
