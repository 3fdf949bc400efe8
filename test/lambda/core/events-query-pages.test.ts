import { EventsQueryService, MAX_NOTIFICATIONS_PER_PAGE } from '../../../lambda/core/events-query';
import { HttpRequest } from '../../../lambda/core/http';
import { newId } from '../../../lambda/core/ids';
import { Attempt, NotificationRecord } from '../../../lambda/core/notification';
import { HttpProblem } from '../../../lambda/core/problem';
import { StoredEvent } from '../../../lambda/core/stored-event';

/*
 * GET /events/{eventId} for an event of a large fan-out (docs/architecture.md "Fan-out"): the
 * caller's notifications come a page at a time, so no answer outgrows Lambda's 6 MB response.
 */

const PUBLISHER = 'key-publisher';
const OTHER = 'key-other';
const EVENT_ID = newId('evt');
const EVENT: StoredEvent = {
  eventId: EVENT_ID,
  eventJson: '{"eventType":"a.b","severity":"HIGH","title":"t"}',
  event: undefined as never,
  eventType: 'a.b',
  receivedAt: new Date().toISOString(),
  source: 'api',
  publisherKeyId: PUBLISHER,
  status: 'ACCEPTED',
  matchedSubscriptions: 0,
  expiresAt: 0,
};

function records(count: number, owner: string, attempts = 1, error?: string): NotificationRecord[] {
  const attempt: Attempt = { at: new Date().toISOString(), outcome: 'FAILED', httpStatus: 500, latencyMs: 12, ...(error ? { error } : {}) };
  return Array.from({ length: count }, () => {
    const subscriptionId = newId('sub');
    return {
      eventId: EVENT_ID,
      subscriptionId,
      notificationId: newId('ntf'),
      channel: 'WEBHOOK',
      ownerKeyId: owner,
      status: 'FAILED',
      attempts: Array(attempts).fill(attempt),
      expiresAt: 0,
    };
  });
}

function service(stored: NotificationRecord[]): EventsQueryService {
  const event = { ...EVENT, matchedSubscriptions: stored.length };
  return new EventsQueryService(
    { putIfAbsent: async () => false, putRejected: async () => undefined, get: async () => event },
    { list: async () => [...stored].sort((a, b) => (a.subscriptionId < b.subscriptionId ? -1 : 1)), saveAll: async () => undefined },
  );
}

const request = (query: Record<string, string> = {}, caller = PUBLISHER): HttpRequest => ({
  method: 'GET', route: '/events/{eventId}', pathParameters: { eventId: EVENT_ID }, queryParameters: query, headers: {}, body: undefined, callerKeyId: caller,
});

/** Every page, following nextToken. */
async function allPages(svc: EventsQueryService, query: Record<string, string> = {}, caller = PUBLISHER) {
  const pages: any[] = [];
  let token: string | undefined;
  do {
    const answer = await svc.get(request({ ...query, ...(token ? { nextToken: token } : {}) }, caller));
    expect(answer.statusCode).toBe(200);
    expect(Buffer.byteLength(answer.body)).toBeLessThan(6 * 1024 * 1024);
    const body = JSON.parse(answer.body);
    pages.push(body);
    token = body.nextToken;
  } while (token);
  return pages;
}

describe('GET /events/{eventId}: the caller\'s notifications a page at a time', () => {
  test('2,500 own notifications: pages of 1,000, 1,000 and 500 in subscription id order, each once; the status and counts cover all', async () => {
    const own = records(2500, PUBLISHER);
    const svc = service([...own, ...records(300, OTHER)]);
    const pages = await allPages(svc);
    expect(pages.map((p) => p.notifications.length)).toEqual([1000, 1000, 500]);
    const ids = pages.flatMap((p) => p.notifications.map((n: { subscriptionId: string }) => n.subscriptionId));
    expect(ids).toEqual(own.map((r) => r.subscriptionId).sort());
    for (const p of pages) {
      expect(p.deliveryStatus).toBe('PARTIALLY_FAILED');
      expect(p.otherNotifications).toEqual({ count: 300, byStatus: { FAILED: 300 } });
    }
  });

  test('up to 1,000 notifications answer in one page without a nextToken, as before', async () => {
    const [page] = await allPages(service(records(MAX_NOTIFICATIONS_PER_PAGE, PUBLISHER)));
    expect(page.notifications).toHaveLength(MAX_NOTIFICATIONS_PER_PAGE);
    expect(page.nextToken).toBeUndefined();
  });

  test('limit chooses the page size; another key sees only counts', async () => {
    const svc = service([...records(25, PUBLISHER), ...records(5, OTHER)]);
    expect((await allPages(svc, { limit: '10' })).map((p) => p.notifications.length)).toEqual([10, 10, 5]);
    const [theirs] = await allPages(svc, {}, OTHER);
    expect(theirs.notifications).toHaveLength(5);
    expect(theirs.otherNotifications).toEqual({ count: 25, byStatus: { FAILED: 25 } });
  });

  test('notifications with 30 long attempts each: pages end before 4 MB, so every answer stays inside 6 MB', async () => {
    const own = records(1000, PUBLISHER, 30, `Error: ${'x'.repeat(290)}`);
    const pages = await allPages(service(own));
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flatMap((p) => p.notifications)).toHaveLength(1000);
  });

  test.each([
    [{ limit: '0' }, '/query/limit'],
    [{ limit: '1001' }, '/query/limit'],
    [{ limit: 'ten' }, '/query/limit'],
    [{ nextToken: 'not-a-token' }, '/query/nextToken'],
    [{ nextToken: Buffer.from('evt_01JD3000000000000000000000').toString('base64url') }, '/query/nextToken'],
  ])('%j is a 400 naming %s', async (query, path) => {
    const error = await service(records(3, PUBLISHER)).get(request(query)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpProblem);
    expect((error as HttpProblem).status).toBe(400);
    expect((error as HttpProblem).errors?.map((e) => e.path)).toEqual([path]);
  });
});
