import * as z from 'zod';
import { Channel } from './subscription';

export const NOTIFICATION_STATUSES = ['PENDING', 'DELIVERED', 'FAILED', 'SKIPPED'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** One delivery attempt, as recorded (and shown by GET /events/{eventId}). */
export const attemptSchema = z.object({
  at: z.iso.datetime().meta({ description: 'When the attempt started' }),
  outcome: z.enum(['DELIVERED', 'FAILED']),
  httpStatus: z.number().int().optional().meta({ description: "The receiver's HTTP status (webhooks)" }),
  messageId: z.string().optional().meta({ description: 'SES message id of a sent email' }),
  latencyMs: z.number(),
  error: z.string().optional(),
});
export type Attempt = Readonly<z.infer<typeof attemptSchema>>;

/** One (event, subscription) pair: an item of the Notifications table. */
export interface NotificationRecord {
  readonly eventId: string;
  readonly subscriptionId: string;
  /** Stable across retries; sent as `webhook-id` so receivers can deduplicate. */
  readonly notificationId: string;
  readonly channel: Channel;
  /** The API key that owns the subscription: it alone sees this record through GET /events/{eventId}. */
  readonly ownerKeyId?: string;
  readonly status: NotificationStatus;
  readonly attempts: readonly Attempt[];
  /** Attempts before the current schedule began (a redrive restarts the schedule). */
  readonly scheduleStart?: number;
  /** ISO-8601 time of the next attempt while PENDING. */
  readonly nextAttemptAt?: string;
  readonly reason?: string;
  /** Epoch seconds: DynamoDB TTL. */
  readonly expiresAt: number;
}

/** Port: the Notifications table. */
export interface NotificationStore {
  list(eventId: string): Promise<NotificationRecord[]>;
  /** Writes the records (whole items), in as few requests as the store allows. */
  saveAll(records: readonly NotificationRecord[]): Promise<void>;
}
