import { HttpRequest, HttpResponse } from './http';
import { isId } from './ids';
import { NotificationRecord, NotificationStore } from './notification';
import { HttpProblem } from './problem';
import { stringifyWithRaw } from './raw-json';
import { EventStore } from './stored-event';

/** Overall delivery state of an event, from its notification records and how many it matched. */
export function deliveryStatus(records: readonly NotificationRecord[], matchedSubscriptions?: number): string {
  if (matchedSubscriptions === 0) return 'NO_MATCHING_SUBSCRIPTIONS';
  // Records are written after the deliveries of a round: until then the event is in progress.
  if (records.length === 0 || records.length < (matchedSubscriptions ?? 0)) return 'IN_PROGRESS';
  if (records.some((r) => r.status === 'PENDING')) return 'IN_PROGRESS';
  if (records.some((r) => r.status === 'FAILED')) return 'PARTIALLY_FAILED';
  return 'COMPLETED';
}

/**
 * `GET /events/{eventId}`: the event with the caller's notifications and their attempts (and how
 * many others there are, by status). An event is visible to the key that published it and to the
 * keys whose subscriptions it reached; to any other key it does not exist (the same 404).
 */
export class EventsQueryService {
  constructor(private readonly events: EventStore, private readonly notifications: NotificationStore) {}

  public async get(request: HttpRequest): Promise<HttpResponse> {
    const eventId = request.pathParameters.eventId;
    if (!isId('evt', eventId)) {
      throw HttpProblem.badRequest('The event id is not valid.', [{ path: '/path/eventId', message: 'must look like evt_<26-character ULID>' }]);
    }
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
    // `event` is the publisher's own text (every digit as sent), so it is placed as raw JSON.
    const body = stringifyWithRaw({
      eventId: event.eventId,
      status: event.status,
      ...(event.rejection ? { rejection: event.rejection } : {}),
      receivedAt: event.receivedAt,
      source: event.source,
      deliveryStatus: event.status === 'REJECTED' ? 'REJECTED' : deliveryStatus(records, event.matchedSubscriptions),
      // Other keys' notifications only as counts: never their subscription ids, targets or errors.
      otherNotifications: { count: records.length - own.length, byStatus: others },
      notifications: own.map((r) => ({
        subscriptionId: r.subscriptionId,
        notificationId: r.notificationId,
        channel: r.channel,
        status: r.status,
        ...(r.nextAttemptAt ? { nextAttemptAt: r.nextAttemptAt } : {}),
        ...(r.reason ? { reason: r.reason } : {}),
        attempts: r.attempts,
      })),
    }, 'event', isJsonText(event.eventJson) ? event.eventJson : JSON.stringify(event.eventJson));
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body };
  }
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
