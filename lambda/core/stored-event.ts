import { EventEnvelope } from './envelope';

export const EVENT_STATUSES = ['ACCEPTED', 'REJECTED'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

/** An item of the Events table. */
export interface StoredEvent {
  readonly eventId: string;
  /** The envelope as published, unknown fields included: compact, exact JSON text (raw-json.ts). */
  readonly eventJson: string;
  /** A parsed view of `eventJson` (not stored): for matching and rendering, never for delivery. */
  readonly event: EventEnvelope;
  readonly eventType: string;
  readonly receivedAt: string;
  readonly source: string;
  readonly publisherKeyId?: string;
  readonly status: EventStatus;
  /** Subscriptions the event matched when it was first processed. */
  readonly matchedSubscriptions?: number;
  /** Why deep validation rejected the event. */
  readonly rejection?: readonly string[];
  /** Epoch seconds: DynamoDB TTL. */
  readonly expiresAt: number;
}

/** Port: the Events table. */
export interface EventStore {
  /**
   * Stores the event unless it is there already (a redelivery or repeat), in which case it
   * returns false. A REJECTED event may be replaced: that is how a fixed event is replayed.
   */
  putIfAbsent(event: StoredEvent): Promise<boolean>;
  /** Records an event that failed deep validation (never replacing an accepted one). */
  putRejected(event: StoredEvent): Promise<void>;
  get(eventId: string): Promise<StoredEvent | undefined>;
}

/** The store refuses the event itself (too large, too deep): retrying cannot help. */
export class EventNotStorableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventNotStorableError';
  }
}
