import * as z from 'zod';
import { CHANNELS } from './channels';
import { HttpRequest, HttpResponse } from './http';
import { idSchema, isId } from './ids';
import { attemptSchema, NOTIFICATION_STATUSES, NotificationRecord, NotificationStore } from './notification';
import { pageToken, subscriptionIdOfToken } from './page-token';
import { HttpProblem } from './problem';
import { stringifyWithRaw } from './raw-json';
import { EVENT_STATUSES, EventStore } from './stored-event';

/** An event's overall delivery state (`REJECTED` for an event that failed deep validation). */
export const DELIVERY_STATUSES = ['IN_PROGRESS', 'COMPLETED', 'PARTIALLY_FAILED', 'NO_MATCHING_SUBSCRIPTIONS', 'REJECTED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One of the caller's notifications of an event. */
export const notificationViewSchema = z.object({
  subscriptionId: idSchema('sub'),
  notificationId: z.string().meta({ description: 'Stable across retries: the `webhook-id` of webhook deliveries' }),
  channel: z.enum(CHANNELS),
  status: z.enum(NOTIFICATION_STATUSES),
  nextAttemptAt: z.iso.datetime().optional(),
  reason: z.string().optional(),
  attempts: z.array(attemptSchema).meta({ description: 'The latest attempts, oldest first' }),
});

export type NotificationView = z.infer<typeof notificationViewSchema>;

/** The answer to GET /events/{eventId}. */
export const eventViewSchema = z.object({
  eventId: idSchema('evt'),
  status: z.enum(EVENT_STATUSES),
  rejection: z.array(z.string()).optional().meta({ description: 'Why deep validation (eventSchemas) rejected the event' }),
  receivedAt: z.iso.datetime(),
  source: z.string().meta({ description: '`api`, `queue` or `webhook:<source>`' }),
  deliveryStatus: z.enum(DELIVERY_STATUSES),
  otherNotifications: z.object({
    count: z.number().int().min(0),
    byStatus: z.partialRecord(z.enum(NOTIFICATION_STATUSES), z.number().int().min(1)),
  }).meta({ description: "Other API keys' notifications of the event, as counts only" }),
  notifications: z.array(notificationViewSchema).meta({ description: "The caller's notifications, a page at a time (in subscription id order)" }),
  nextToken: z.string().optional().meta({ description: 'Present when the caller has more notifications: pass it as the nextToken query parameter' }),
  event: z.unknown().meta({ description: 'The event exactly as published (every digit and key as sent); a string if a rejected event was not JSON' }),
});
export type EventView = z.infer<typeof eventViewSchema>;

/**
 * The caller's notifications per answer. An event may reach thousands of subscriptions of one key
 * (docs/architecture.md "Fan-out"); pages of at most 1,000 and 4 MB of notifications keep every
 * answer inside Lambda's 6 MB response limit, however many attempts each one has.
 */
export const MAX_NOTIFICATIONS_PER_PAGE = 1000;
const MAX_NOTIFICATIONS_BYTES = 4 * 1024 * 1024;

/** The query of `GET /events/{eventId}` (the OpenAPI document can take it from here). */
export const eventQuerySchema = z.object({
  limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1')
    .max(MAX_NOTIFICATIONS_PER_PAGE, `must be at most ${MAX_NOTIFICATIONS_PER_PAGE}`).default(MAX_NOTIFICATIONS_PER_PAGE),
  nextToken: z.string().max(200, 'is not a valid token').optional().meta({ description: 'The `nextToken` of the previous page' }),
});

/** Overall delivery state of an event, from its notification records and how many it matched. */
export function deliveryStatus(records: readonly NotificationRecord[], matchedSubscriptions?: number): DeliveryStatus {
  if (matchedSubscriptions === 0) return 'NO_MATCHING_SUBSCRIPTIONS';
  // Records are written after the deliveries of a round: until then the event is in progress.
  if (records.length === 0 || records.length < (matchedSubscriptions ?? 0)) return 'IN_PROGRESS';
  if (records.some((r) => r.status === 'PENDING')) return 'IN_PROGRESS';
  if (records.some((r) => r.status === 'FAILED')) return 'PARTIALLY_FAILED';
  return 'COMPLETED';
}

/**
 * `GET /events/{eventId}`: the event with the caller's notifications and their attempts, a page at
 * a time (`limit`, `nextToken`), and how many others there are, by status. An event is visible to
 * the key that published it and to the keys whose subscriptions it reached; to any other key it
 * does not exist (the same 404).
 */
export class EventsQueryService {
  constructor(private readonly events: EventStore, private readonly notifications: NotificationStore) {}

  public async get(request: HttpRequest): Promise<HttpResponse> {
    const eventId = request.pathParameters.eventId;
    if (!isId('evt', eventId)) {
      throw HttpProblem.badRequest('The event id is not valid.', [{ path: '/path/eventId', message: 'must look like evt_<26-character ULID>' }]);
    }
    const query = eventQuerySchema.safeParse(request.queryParameters);
    if (!query.success) throw HttpProblem.fromZod(query.error, 'The query parameters are not valid.', '/query');
    const after = query.data.nextToken === undefined ? undefined : subscriptionIdOfToken(query.data.nextToken);
    const notFound = () => HttpProblem.notFound(`No event ${eventId} is stored for this API key (yet: processing takes a moment after the 202).`);
    const caller = request.callerKeyId;
    const event = await this.events.get(eventId);
    // Not yet processed (it is on the queue) or not this caller's: the same answer either way.
    if (!event || caller === undefined) throw notFound();
    const records = await this.notifications.list(eventId);
    const own = records.filter((r) => r.ownerKeyId === caller);
    if (event.publisherKeyId !== caller && own.length === 0) throw notFound();
    const others: Record<string, number> = {};
    for (const r of records) if (r.ownerKeyId !== caller) others[r.status] = (others[r.status] ?? 0) + 1;
    const page = pageOf(own, query.data.limit, after);
    const view: Omit<EventView, 'event'> = {
      eventId: event.eventId,
      status: event.status,
      ...(event.rejection ? { rejection: [...event.rejection] } : {}),
      receivedAt: event.receivedAt,
      source: event.source,
      deliveryStatus: event.status === 'REJECTED' ? 'REJECTED' : deliveryStatus(records, event.matchedSubscriptions),
      // Other keys' notifications only as counts: never their subscription ids, targets or errors.
      otherNotifications: { count: records.length - own.length, byStatus: others },
      notifications: page.notifications,
      ...(page.nextToken ? { nextToken: page.nextToken } : {}),
    };
    // `event` is the publisher's own text (every digit as sent), so it is placed as raw JSON.
    const body = stringifyWithRaw(view, 'event', isJsonText(event.eventJson) ? event.eventJson : JSON.stringify(event.eventJson));
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body };
  }
}

/** One page of the caller's notifications, in subscription id order, after the token's subscription. */
function pageOf(own: readonly NotificationRecord[], limit: number, after: string | undefined) {
  const rest = [...own].sort((a, b) => (a.subscriptionId < b.subscriptionId ? -1 : 1)).filter((r) => after === undefined || r.subscriptionId > after);
  const notifications: NotificationView[] = [];
  let bytes = 0;
  let last: string | undefined;
  for (const r of rest) {
    const view: NotificationView = {
      subscriptionId: r.subscriptionId,
      notificationId: r.notificationId,
      channel: r.channel,
      status: r.status,
      ...(r.nextAttemptAt ? { nextAttemptAt: r.nextAttemptAt } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
      attempts: [...r.attempts],
    };
    bytes += Buffer.byteLength(JSON.stringify(view));
    if (notifications.length === limit || (notifications.length > 0 && bytes > MAX_NOTIFICATIONS_BYTES)) break;
    notifications.push(view);
    last = r.subscriptionId;
  }
  const more = notifications.length < rest.length;
  return { notifications, ...(more && last ? { nextToken: pageToken(last) } : {}) };
}

/** A rejected event's text need not be JSON; it is then shown as a string. */
function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
