import { randomUUID } from 'node:crypto';
import type { SendMessageBatchCommandInput, SendMessageBatchRequestEntry, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { ApiHandler, loadHandler, LoadedHandler, SqsModule } from '../../helpers/handlers';
import { expectProblem, header, jsonBody } from '../../helpers/problems';
import { readQueueBody } from '../../helpers/queue-message';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events';
const FIFO_QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events.fifo';
const PUBLISHER = 'key-publisher-0001';
const EVENT_ID = /^evt_[0-9A-HJKMNP-TV-Z]{26}$/;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let dynamo: LocalDynamo;

function ingestEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...handlerEnv(dynamo),
    QUEUE_URL,
    QUEUE_FIFO: 'false',
    MAX_EVENT_SIZE_BYTES: String(256 * 1024),
    ...overrides,
  };
}

/** Makes the mocked SQS accept every message, as the real queue does when healthy. */
function acceptEverything(mock: AwsClientStub<SQSClient>, sqs: SqsModule): void {
  mock.on(sqs.SendMessageCommand).callsFake(() => ({ MessageId: randomUUID(), MD5OfMessageBody: 'md5' }));
  mock.on(sqs.SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
    Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id!, MessageId: randomUUID(), MD5OfMessageBody: 'md5' })),
    Failed: [],
  }));
}

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy finished', ...overrides };
}

/** Milliseconds encoded in the first 10 characters of a ULID. */
function ulidTime(id: string): number {
  return id.slice(4, 14).split('').reduce((ms, char) => ms * 32 + CROCKFORD.indexOf(char), 0);
}

describe('ingest handler (standard queue)', () => {
  let ingest: LoadedHandler;
  let handler: ApiHandler;
  let sqsMock: AwsClientStub<SQSClient>;

  const postEvent = (body: unknown, options: { headers?: Record<string, string>; apiKeyId?: string } = {}) =>
    handler(apiEvent({ method: 'POST', resource: '/events', body, headers: options.headers, apiKeyId: options.apiKeyId ?? PUBLISHER }));
  const postBatch = (body: unknown, options: { headers?: Record<string, string>; apiKeyId?: string } = {}) =>
    handler(apiEvent({ method: 'POST', resource: '/events/batch', body, headers: options.headers, apiKeyId: options.apiKeyId ?? PUBLISHER }));
  const singleSends = (): SendMessageCommandInput[] => sqsMock.commandCalls(ingest.sqs.SendMessageCommand).map((c) => c.args[0].input);
  const batchSends = (): SendMessageBatchCommandInput[] => sqsMock.commandCalls(ingest.sqs.SendMessageBatchCommand).map((c) => c.args[0].input);
  const batchEntries = (): SendMessageBatchRequestEntry[] => batchSends().flatMap((input) => input.Entries ?? []);

  beforeAll(async () => {
    dynamo = await startDynamo();
    ingest = loadHandler('ingest', ingestEnv());
    handler = ingest.handler;
    sqsMock = mockClient(ingest.sqs.SQSClient);
  });

  afterAll(async () => {
    sqsMock.restore();
    await dynamo.stop();
  });

  beforeEach(() => {
    sqsMock.reset();
    acceptEverything(sqsMock, ingest.sqs);
  });

  describe('POST /events', () => {
    test('the queued event is the publisher\'s exact text: 64-bit integers, 5e-324, 1e400, key order, __proto__ and constructor keys', async () => {
      const text = '{ "eventType": "shop.order", "severity": "HIGH", "title": "Order",\n  "details": {"id": 18446744073709551615, "z": 1, "a": 5e-324,'
        + ' "big": 1e400, "__proto__": {"x": 1}, "constructor": "c", "s": "\\u00e9 é 🚀"} }';
      const result = await postEvent(text);
      expect(result.statusCode).toBe(202);
      const sent = JSON.parse(singleSends()[0].MessageBody!);
      expect(sent.eventJson).toBe('{"eventType":"shop.order","severity":"HIGH","title":"Order","details":{"id":18446744073709551615,"z":1,'
        + '"a":5e-324,"big":1e400,"__proto__":{"x":1},"constructor":"c","s":"\\u00e9 é 🚀"}}');
      expect(sent.eventJson).toContain('"id":18446744073709551615,"z":1,"a":5e-324,"big":1e400,"__proto__":{"x":1},"constructor":"c"');
    });

    test.each(['eventId', 'source', 'receivedAt'])('a top-level %p (a field the service sets) is 400 on its path and nothing is queued', async (field) => {
      const result = await postEvent(event({ [field]: 'webhook:pay' }));
      const problem = expectProblem(result, 400);
      expect(problem.errors).toEqual([{ path: `/${field}`, message: expect.stringContaining('set by the service') }]);
      expect(sqsMock.calls()).toHaveLength(0);
    });

    test('a body that is not valid UTF-8 is 400, never altered into U+FFFD and queued', async () => {
      const bytes = Buffer.concat([Buffer.from('{"eventType":"a.b","severity":"HIGH","title":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
      const problem = expectProblem(await postEvent(bytes), 400);
      expect(problem.detail).toMatch(/not valid UTF-8/);
      expect(sqsMock.calls()).toHaveLength(0);
    });

    test('202 with an evt_ id, ACCEPTED and a location; one SendMessage with the versioned queue message', async () => {
      const before = Date.now();
      const published = event({
        'details': { service: 'billing', version: '1.4.2' },
        'customerField': { nested: [1, 2, { deep: true }] },
        'x-trace': 'abc',
      });
      const result = await postEvent(published);
      const after = Date.now();

      expect(result.statusCode).toBe(202);
      expect(header(result, 'content-type')).toBe('application/json');
      const body = jsonBody(result);
      expect(body).toEqual({ eventId: expect.stringMatching(EVENT_ID), status: 'ACCEPTED' });
      expect(header(result, 'location')).toBe(`/events/${body.eventId}`);
      expect(header(result, 'idempotent-replayed')).toBeUndefined();

      expect(sqsMock.calls()).toHaveLength(1);
      const [sent] = singleSends();
      expect(sent.QueueUrl).toBe(QUEUE_URL);
      expect(sent.MessageGroupId).toBeUndefined();
      expect(sent.MessageDeduplicationId).toBeUndefined();
      const message = readQueueBody(sent.MessageBody!);
      expect(message).toEqual({
        v: 2,
        eventId: body.eventId,
        receivedAt: expect.any(String),
        source: 'api',
        publisherKeyId: PUBLISHER,
        event: published,
      });
      const receivedAt = Date.parse(message.receivedAt);
      expect(new Date(receivedAt).toISOString()).toBe(message.receivedAt);
      expect(receivedAt).toBeGreaterThanOrEqual(before);
      expect(receivedAt).toBeLessThanOrEqual(after);
    });

    test('event ids are time-sortable: sequential events sort in order and carry their time', async () => {
      const before = Date.now();
      const first = jsonBody(await postEvent(event({ title: 'first' }))).eventId as string;
      const second = jsonBody(await postEvent(event({ title: 'second' }))).eventId as string;
      const third = jsonBody(await postEvent(event({ title: 'third' }))).eventId as string;
      const after = Date.now();

      for (const id of [first, second, third]) {
        expect(id).toMatch(EVENT_ID);
        expect(ulidTime(id)).toBeGreaterThanOrEqual(before);
        expect(ulidTime(id)).toBeLessThanOrEqual(after);
      }
      expect(new Set([first, second, third]).size).toBe(3);
      expect([third, first, second].sort()).toEqual([first, second, third]);
    });

    test('an SQS failure answers 503 problem+json with retry-after, never 202', async () => {
      sqsMock.on(ingest.sqs.SendMessageCommand).rejects(Object.assign(new Error('We encountered an internal error'), { name: 'InternalError' }));

      const result = await postEvent(event());

      expect(result.statusCode).toBe(503);
      expect(header(result, 'content-type')).toBe('application/problem+json');
      expect(header(result, 'retry-after')).toBe('1');
      expect(header(result, 'location')).toBeUndefined();
      const problem = jsonBody(result);
      expect(problem).toMatchObject({ status: 503, type: expect.stringContaining('queue-unavailable'), title: expect.any(String), detail: expect.any(String) });
      expect(problem).not.toHaveProperty('eventId');
      expect(JSON.stringify(problem)).not.toContain('internal error');
      expect(singleSends()).toHaveLength(1);
    });

    test('a missing apiKeyId still publishes, without publisherKeyId in the message', async () => {
      const result = await handler(apiEvent({ method: 'POST', resource: '/events', body: event(), apiKeyId: null }));
      expect(result.statusCode).toBe(202);
      const message = readQueueBody(singleSends()[0].MessageBody!);
      expect(message).not.toHaveProperty('publisherKeyId');
      expect(message.eventId).toBe(jsonBody(result).eventId);
    });

    test('the body is accepted base64-encoded and with a JSON content-type parameter', async () => {
      const result = await handler(apiEvent({
        method: 'POST',
        resource: '/events',
        body: event({ title: 'über-deploy ✓' }),
        isBase64Encoded: true,
        headers: { 'Content-Type': 'application/json; charset=utf-8' },
        apiKeyId: PUBLISHER,
      }));
      expect(result.statusCode).toBe(202);
      expect(readQueueBody(singleSends()[0].MessageBody!).event.title).toBe('über-deploy ✓');
    });

    test('10,000-character eventType and title are rejected with field errors (limit not reached)', async () => {
      const longType = await postEvent(event({ eventType: 'a'.repeat(10_000) }));
      const longTitle = await postEvent(event({ title: 'b'.repeat(10_000) }));
      expect(longType.statusCode).toBe(400);
      const typeErrors = jsonBody(longType).errors as { path: string; message: string }[];
      expect(typeErrors.length).toBeGreaterThan(0);
      expect(typeErrors.every((e) => e.path === '/eventType')).toBe(true);
      expect(typeErrors.map((e) => e.message)).toContain('must be at most 128 characters');
      expect(longTitle.statusCode).toBe(400);
      expect(jsonBody(longTitle).errors).toEqual([{ path: '/title', message: 'must be at most 256 characters' }]);
      expect(sqsMock.calls()).toHaveLength(0);
    });

    test('an event nested 30 levels deep is accepted; 31 levels is 400 and nothing is sent', async () => {
      const nest = (levels: number): unknown => (levels === 0 ? 'leaf' : { a: nest(levels - 1) });
      // The envelope object is level 1; 29 levels of details make 30.
      const deepest = await postEvent(event({ details: nest(29) }));
      expect(deepest.statusCode).toBe(202);
      expect(readQueueBody(singleSends()[0].MessageBody!).event.details).toEqual(nest(29));

      const tooDeep = await postEvent(event({ details: nest(30) }));
      expect(tooDeep.statusCode).toBe(400);
      expect(jsonBody(tooDeep).errors).toEqual([{ path: '/', message: expect.stringContaining('30') }]);
      const tooDeepInBatch = await postBatch({ events: [event(), event({ details: nest(30) })] });
      expect(tooDeepInBatch.statusCode).toBe(202);
      expect(jsonBody(tooDeepInBatch).events[1].error.errors).toEqual([{ path: '/events/1', message: expect.stringContaining('30') }]);
      expect(sqsMock.calls()).toHaveLength(2);
    });
  });

  describe('Idempotency-Key', () => {
    test('same key and body twice: same eventId, one SendMessage, replay flagged on the second answer', async () => {
      const key = `order-${randomUUID()}`;
      const body = event({ title: 'idempotent' });
      const first = await postEvent(body, { headers: { 'Idempotency-Key': key } });
      const second = await postEvent(body, { headers: { 'Idempotency-Key': key } });

      expect(first.statusCode).toBe(202);
      expect(second.statusCode).toBe(202);
      expect(jsonBody(second).eventId).toBe(jsonBody(first).eventId);
      expect(header(second, 'location')).toBe(header(first, 'location'));
      expect(header(first, 'idempotent-replayed')).toBeUndefined();
      expect(header(second, 'idempotent-replayed')).toBe('true');
      expect(singleSends()).toHaveLength(1);
      expect(sqsMock.calls()).toHaveLength(1);

      // The record is in the Events table: the event id, marked enqueued, expiring after 24 h.
      const scan = await dynamo.documentClient.send(new ScanCommand({
        TableName: dynamo.tableNames.events,
        FilterExpression: 'refEventId = :id',
        ExpressionAttributeValues: { ':id': jsonBody(first).eventId },
      }));
      expect(scan.Items).toHaveLength(1);
      const record = scan.Items![0];
      expect(record.eventId).toMatch(/^idem_/);
      expect(record.eventId).not.toContain(key);
      expect(record.enqueued).toBe(true);
      expect(record.expiresAt).toBeGreaterThan(Date.now() / 1000 + 24 * 3600 - 120);
      expect(record.expiresAt).toBeLessThanOrEqual(Date.now() / 1000 + 24 * 3600 + 1);
    });

    test('same key with a different body: 422 and nothing sent', async () => {
      const key = `k-${randomUUID()}`;
      const first = await postEvent(event({ title: 'one' }), { headers: { 'Idempotency-Key': key } });
      const second = await postEvent(event({ title: 'two' }), { headers: { 'Idempotency-Key': key } });

      expect(first.statusCode).toBe(202);
      expect(second.statusCode).toBe(422);
      expect(header(second, 'content-type')).toBe('application/problem+json');
      expect(jsonBody(second)).toMatchObject({ status: 422, type: expect.stringContaining('idempotency-key-reused') });
      expect(singleSends()).toHaveLength(1);
      expect(readQueueBody(singleSends()[0].MessageBody!).event.title).toBe('one');
    });

    test('the same key from a different API key is a different event', async () => {
      const key = `shared-${randomUUID()}`;
      const body = event();
      const a = await postEvent(body, { headers: { 'Idempotency-Key': key }, apiKeyId: 'key-a' });
      const b = await postEvent(body, { headers: { 'Idempotency-Key': key }, apiKeyId: 'key-b' });

      expect(a.statusCode).toBe(202);
      expect(b.statusCode).toBe(202);
      expect(jsonBody(b).eventId).not.toBe(jsonBody(a).eventId);
      expect(header(b, 'idempotent-replayed')).toBeUndefined();
      expect(singleSends().map((s) => readQueueBody(s.MessageBody!).publisherKeyId)).toEqual(['key-a', 'key-b']);
    });

    test('after an SQS failure, a retry with the same key is enqueued (202) and later repeats replay it', async () => {
      const key = `retry-${randomUUID()}`;
      const body = event({ title: 'retry me' });
      sqsMock.on(ingest.sqs.SendMessageCommand).rejectsOnce(new Error('throttled'));

      const failed = await postEvent(body, { headers: { 'Idempotency-Key': key } });
      const retried = await postEvent(body, { headers: { 'Idempotency-Key': key } });
      const repeated = await postEvent(body, { headers: { 'Idempotency-Key': key } });

      expect(failed.statusCode).toBe(503);
      expect(retried.statusCode).toBe(202);
      expect(repeated.statusCode).toBe(202);
      const eventId = jsonBody(retried).eventId;
      expect(eventId).toMatch(EVENT_ID);
      expect(jsonBody(repeated).eventId).toBe(eventId);
      expect(header(repeated, 'idempotent-replayed')).toBe('true');
      // One failed attempt and one successful one; the repeat sent nothing.
      expect(singleSends()).toHaveLength(2);
      expect(readQueueBody(singleSends()[1].MessageBody!).eventId).toBe(eventId);
    });

    test('a claim left "not enqueued" past its lease (the request died) makes a repeat re-send under the same event id', async () => {
      const key = `lost-${randomUUID()}`;
      const body = event({ title: 'lost ack' });
      const first = await postEvent(body, { headers: { 'Idempotency-Key': key } });
      const eventId = jsonBody(first).eventId;
      const scan = await dynamo.documentClient.send(new ScanCommand({
        TableName: dynamo.tableNames.events, FilterExpression: 'refEventId = :id', ExpressionAttributeValues: { ':id': eventId },
      }));
      expect(scan.Items).toHaveLength(1);
      await dynamo.documentClient.send(new UpdateCommand({
        TableName: dynamo.tableNames.events,
        Key: { eventId: scan.Items![0].eventId },
        // The request that claimed it died 16 s ago (the lease is 15 s) before saying it had queued it.
        UpdateExpression: 'SET enqueued = :false, claimedAt = :then',
        ExpressionAttributeValues: { ':false': false, ':then': Date.now() - 16_000 },
      }));

      const repeat = await postEvent(body, { headers: { 'Idempotency-Key': key } });

      expect(repeat.statusCode).toBe(202);
      expect(jsonBody(repeat).eventId).toBe(eventId);
      expect(header(repeat, 'idempotent-replayed')).toBe('true');
      expect(singleSends().map((input) => readQueueBody(input.MessageBody!).eventId)).toEqual([eventId, eventId]);
    });

    test('a repeat while the first request still holds the claim waits, then answers 409 with Retry-After and sends nothing', async () => {
      const key = `held-${randomUUID()}`;
      const body = event({ title: 'held' });
      const first = await postEvent(body, { headers: { 'Idempotency-Key': key } });
      const eventId = jsonBody(first).eventId;
      const scan = await dynamo.documentClient.send(new ScanCommand({
        TableName: dynamo.tableNames.events, FilterExpression: 'refEventId = :id', ExpressionAttributeValues: { ':id': eventId },
      }));
      // As if the first request were still between its claim and the queue.
      await dynamo.documentClient.send(new UpdateCommand({
        TableName: dynamo.tableNames.events,
        Key: { eventId: scan.Items![0].eventId },
        UpdateExpression: 'SET enqueued = :false, claimedAt = :now',
        ExpressionAttributeValues: { ':false': false, ':now': Date.now() },
      }));
      const sendsBefore = singleSends().length;

      const repeat = await postEvent(body, { headers: { 'Idempotency-Key': key } });

      expect(repeat.statusCode).toBe(409);
      expect(header(repeat, 'retry-after')).toBe('1');
      expect(jsonBody(repeat)).toMatchObject({ status: 409, type: expect.stringContaining('idempotency-key-in-progress') });
      expect(singleSends()).toHaveLength(sendsBefore);
    });

    test('concurrent requests with the same key get the same event id and queue it once', async () => {
      const key = `race-${randomUUID()}`;
      const body = event({ title: 'race' });
      const results = await Promise.all([1, 2, 3].map(() => postEvent(body, { headers: { 'Idempotency-Key': key } })));

      for (const result of results) expect(result.statusCode).toBe(202);
      const ids = new Set(results.map((result) => jsonBody(result).eventId));
      expect(ids.size).toBe(1);
      const [eventId] = [...ids];
      expect(singleSends()).toHaveLength(1);
      expect(readQueueBody(singleSends()[0].MessageBody!).eventId).toBe(eventId);
    });

    test('a batch repeated with the same key yields the same ids and sends nothing more', async () => {
      const key = `batch-${randomUUID()}`;
      const body = { events: [event({ title: 'a' }), event({ title: 'b' }), event({ title: 'c' })] };
      const first = await postBatch(body, { headers: { 'Idempotency-Key': key } });
      const second = await postBatch(body, { headers: { 'Idempotency-Key': key } });

      expect(first.statusCode).toBe(202);
      expect(second.statusCode).toBe(202);
      expect(jsonBody(second)).toEqual(jsonBody(first));
      expect(batchSends()).toHaveLength(1);
      expect(batchEntries()).toHaveLength(3);
    });
  });

  describe('POST /events/batch', () => {
    test('each queued item is its own exact text, big integers included', async () => {
      const items = ['{"eventType":"a.b","severity":"LOW","title":"one","details":{"n":9007199254740993}}',
        '{"title":"two","severity":"HIGH","eventType":"a.c","details":{"ns":1700000000123456789}}'];
      const result = await postBatch(`{"events": [ ${items.join(' ,\n ')} ]}`);
      expect(result.statusCode).toBe(202);
      expect(singleSends().length + batchEntries().length).toBe(2);
      expect(batchEntries().map((e) => JSON.parse(e.MessageBody!).eventJson)).toEqual(items);
    });

    test('25 valid events: 202 with 25 results in order, 3 SendMessageBatch calls (10+10+5), no SendMessage', async () => {
      const events = Array.from({ length: 25 }, (_, i) => event({ title: `event ${i}`, seq: i }));
      const result = await postBatch({ events });

      expect(result.statusCode).toBe(202);
      const results = jsonBody(result).events as { eventId: string; status: string }[];
      expect(results).toHaveLength(25);
      for (const r of results) expect(r).toEqual({ eventId: expect.stringMatching(EVENT_ID), status: 'ACCEPTED' });
      expect(new Set(results.map((r) => r.eventId)).size).toBe(25);
      expect([...results.map((r) => r.eventId)].sort()).toEqual(results.map((r) => r.eventId));

      expect(singleSends()).toHaveLength(0);
      expect(batchSends().map((input) => input.Entries?.length)).toEqual([10, 10, 5]);
      for (const input of batchSends()) {
        expect(input.QueueUrl).toBe(QUEUE_URL);
        expect(new Set(input.Entries!.map((e) => e.Id)).size).toBe(input.Entries!.length);
      }
      // Each result's id is the id of the message that carries that position's event.
      const messages = batchEntries().map((e) => readQueueBody(e.MessageBody!));
      expect(messages).toHaveLength(25);
      for (const message of messages) {
        expect(message).toMatchObject({ v: 2, source: 'api', publisherKeyId: PUBLISHER });
        expect(message.eventId).toBe(results[message.event.seq].eventId);
        expect(message.event).toEqual(events[message.event.seq]);
      }
    });

    test('invalid items get their own 400 error with /events/<i> paths and are not sent; valid ones are accepted', async () => {
      const events = [
        event({ title: 'ok 0' }),
        { eventType: 'deploy.finished', title: 'no severity' },
        event({ title: 'ok 2' }),
        event({ eventType: 'not a valid type!' }),
        event({ title: 'ok 4' }),
        'not an object',
        event({ severity: 'URGENT' }),
      ];
      const result = await postBatch({ events });

      expect(result.statusCode).toBe(202);
      const results = jsonBody(result).events;
      expect(results).toHaveLength(7);
      for (const i of [0, 2, 4]) expect(results[i]).toEqual({ eventId: expect.stringMatching(EVENT_ID), status: 'ACCEPTED' });
      const paths = (i: number) => results[i].error.errors.map((e: { path: string }) => e.path);
      for (const i of [1, 3, 5, 6]) {
        expect(results[i]).not.toHaveProperty('eventId');
        expect(results[i].error).toMatchObject({ status: 400, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
      }
      expect(paths(1)).toEqual(['/events/1/severity']);
      expect(paths(3)).toEqual(['/events/3/eventType']);
      expect(paths(5)).toEqual(['/events/5']);
      expect(paths(6)).toEqual(['/events/6/severity']);

      expect(singleSends()).toHaveLength(0);
      const sent = batchEntries().map((e) => readQueueBody(e.MessageBody!));
      expect(sent.map((m) => m.event.title)).toEqual(['ok 0', 'ok 2', 'ok 4']);
      expect(sent.map((m) => m.eventId)).toEqual([results[0].eventId, results[2].eventId, results[4].eventId]);
    });

    test('entries SQS reports as Failed (or not at all) get 503 errors; the others are ACCEPTED', async () => {
      sqsMock.on(ingest.sqs.SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
        const entries = input.Entries ?? [];
        const seqOf = (e: SendMessageBatchRequestEntry) => readQueueBody(e.MessageBody!).event.seq as number;
        return {
          Successful: entries.filter((e) => ![3, 7, 11].includes(seqOf(e)))
            .map((e) => ({ Id: e.Id!, MessageId: randomUUID(), MD5OfMessageBody: 'md5' })),
          // seq 11 is reported neither way: it must not be called a success.
          Failed: entries.filter((e) => [3, 7].includes(seqOf(e)))
            .map((e) => ({ Id: e.Id!, SenderFault: false, Code: 'InternalError', Message: 'try again' })),
        };
      });
      const events = Array.from({ length: 12 }, (_, i) => event({ title: `e${i}`, seq: i }));
      const result = await postBatch({ events });

      expect(result.statusCode).toBe(202);
      const results = jsonBody(result).events;
      expect(results).toHaveLength(12);
      results.forEach((r: { eventId?: string; status?: string; error?: { status: number } }, i: number) => {
        if ([3, 7, 11].includes(i)) {
          expect(r).not.toHaveProperty('eventId');
          expect(r.error).toMatchObject({ status: 503, type: expect.stringContaining('queue-unavailable') });
        } else {
          expect(r).toEqual({ eventId: expect.stringMatching(EVENT_ID), status: 'ACCEPTED' });
        }
      });
      expect(batchSends().map((input) => input.Entries?.length)).toEqual([10, 2]);
    });

    test('when SendMessageBatch itself fails for every event the answer is 503, never 202', async () => {
      sqsMock.on(ingest.sqs.SendMessageBatchCommand).rejects(new Error('service unavailable'));
      const result = await postBatch({ events: [event(), event(), event()] });

      expect(result.statusCode).toBe(503);
      expect(header(result, 'content-type')).toBe('application/problem+json');
      expect(jsonBody(result)).toMatchObject({ status: 503 });
      expect(batchSends()).toHaveLength(1);
    });

    test('all items invalid: 400 problem naming each item, nothing sent', async () => {
      const result = await postBatch({ events: [{ eventType: 'x' }, event({ title: 42 }), null] });

      expect(result.statusCode).toBe(400);
      expect(header(result, 'content-type')).toBe('application/problem+json');
      const problem = jsonBody(result);
      expect(problem).toMatchObject({ status: 400, title: expect.any(String), detail: expect.any(String), type: expect.any(String) });
      const paths = problem.errors.map((e: { path: string }) => e.path);
      expect(paths).toEqual(expect.arrayContaining(['/events/0/severity', '/events/0/title', '/events/1/title', '/events/2']));
      expect(paths.every((p: string) => /^\/events\/[0-2](\/|$)/.test(p))).toBe(true);
      expect(sqsMock.calls()).toHaveLength(0);
    });

    test.each([
      ['0 events', { events: [] }],
      ['101 events', { events: Array.from({ length: 101 }, () => ({ eventType: 'a', severity: 'LOW', title: 't' })) }],
      ['an empty object', {}],
      ['an array', []],
      ['events that is not an array', { events: { 0: { eventType: 'a', severity: 'LOW', title: 't' } } }],
    ])('%s: 400 problem with an /events error, nothing sent', async (_name, body) => {
      const result = await postBatch(body);

      expect(result.statusCode).toBe(400);
      expect(header(result, 'content-type')).toBe('application/problem+json');
      const problem = jsonBody(result);
      expect(problem.status).toBe(400);
      expect(problem.errors).toEqual([{ path: '/events', message: expect.any(String) }]);
      expect(sqsMock.calls()).toHaveLength(0);
    });

    test('100 events (the maximum) are accepted in 10 SendMessageBatch calls', async () => {
      const result = await postBatch({ events: Array.from({ length: 100 }, (_, i) => event({ seq: i })) });
      expect(result.statusCode).toBe(202);
      expect(jsonBody(result).events).toHaveLength(100);
      expect(batchSends().map((input) => input.Entries?.length)).toEqual(new Array(10).fill(10));
      expect(singleSends()).toHaveLength(0);
    });
  });

  describe('idempotency store unavailable', () => {
    let broken: LoadedHandler;
    let brokenMock: AwsClientStub<SQSClient>;

    beforeAll(() => {
      broken = loadHandler('ingest', ingestEnv({ EVENTS_TABLE_NAME: `missing-${randomUUID()}` }));
      brokenMock = mockClient(broken.sqs.SQSClient);
      acceptEverything(brokenMock, broken.sqs);
    });

    afterAll(() => brokenMock.restore());

    test('with an Idempotency-Key: 503 and nothing queued; without one the event is still accepted', async () => {
      const withKey = await broken.handler(apiEvent({
        method: 'POST', resource: '/events', body: event(), headers: { 'Idempotency-Key': randomUUID() }, apiKeyId: PUBLISHER,
      }));
      expect(withKey.statusCode).toBe(503);
      expect(header(withKey, 'content-type')).toBe('application/problem+json');
      expect(jsonBody(withKey)).toMatchObject({ status: 503, detail: expect.stringContaining('idempotency') });
      expect(brokenMock.calls()).toHaveLength(0);

      const withoutKey = await broken.handler(apiEvent({ method: 'POST', resource: '/events', body: event(), apiKeyId: PUBLISHER }));
      expect(withoutKey.statusCode).toBe(202);
      expect(brokenMock.calls()).toHaveLength(1);
    });
  });

  describe('SQS request count', () => {
    test('one request for a single event', async () => {
      expect((await postEvent(event())).statusCode).toBe(202);
      expect(sqsMock.calls()).toHaveLength(1);
      expect(singleSends()).toHaveLength(1);
    });

    test('one request for a batch of 10 events', async () => {
      const result = await postBatch({ events: Array.from({ length: 10 }, (_, i) => event({ seq: i })) });
      expect(result.statusCode).toBe(202);
      expect(sqsMock.calls()).toHaveLength(1);
      expect(batchSends()).toHaveLength(1);
      expect(batchSends()[0].Entries).toHaveLength(10);
    });
  });

  describe('FIFO queue (QUEUE_FIFO=true, fresh module copy)', () => {
    let fifo: LoadedHandler;
    let fifoMock: AwsClientStub<SQSClient>;

    beforeAll(() => {
      fifo = loadHandler('ingest', ingestEnv({ QUEUE_FIFO: 'true', QUEUE_URL: FIFO_QUEUE_URL }));
      fifoMock = mockClient(fifo.sqs.SQSClient);
    });

    afterAll(() => fifoMock.restore());

    beforeEach(() => {
      fifoMock.reset();
      acceptEverything(fifoMock, fifo.sqs);
    });

    const fifoSends = () => fifoMock.commandCalls(fifo.sqs.SendMessageCommand).map((c) => c.args[0].input);

    test('MessageGroupId is the event type and MessageDeduplicationId the event id', async () => {
      const result = await fifo.handler(apiEvent({ method: 'POST', resource: '/events', body: event({ eventType: 'billing.invoice' }), apiKeyId: PUBLISHER }));

      expect(result.statusCode).toBe(202);
      expect(fifoSends()).toHaveLength(1);
      const [sent] = fifoSends();
      expect(sent.QueueUrl).toBe(FIFO_QUEUE_URL);
      expect(sent.MessageGroupId).toBe('billing.invoice');
      expect(sent.MessageDeduplicationId).toBe(jsonBody(result).eventId);
      // The standard-queue copy of the handler saw nothing.
      expect(sqsMock.calls()).toHaveLength(0);
    });

    const fifoBatchCalls = () => fifoMock.commandCalls(fifo.sqs.SendMessageBatchCommand).map((c) => c.args[0].input);
    const titles = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => event({ orderingKey: 'order-key', title: `${prefix}-${i}` }));

    test('a batch of 20 events of one ordering key goes to SQS in order, one chunk after the other', async () => {
      const result = await fifo.handler(apiEvent({ method: 'POST', resource: '/events/batch', body: { events: titles(20, 'ordered') }, apiKeyId: PUBLISHER }));
      expect(result.statusCode).toBe(202);
      const sent = fifoBatchCalls().flatMap((input) => input.Entries ?? []).map((e) => readQueueBody(e.MessageBody!).event.title);
      expect(sent).toEqual(titles(20, 'ordered').map((e) => e.title));
    });

    test('when a chunk is not queued, the later events of its ordering key are held back (503), not queued ahead of its retry', async () => {
      fifoMock.on(fifo.sqs.SendMessageBatchCommand).rejectsOnce(new Error('throttled'));
      const result = await fifo.handler(apiEvent({ method: 'POST', resource: '/events/batch', body: { events: titles(20, 'held') }, apiKeyId: PUBLISHER }));
      // Nothing was accepted: the caller retries the batch, and its events are queued in order.
      expect(result.statusCode).toBe(503);
      expect(fifoBatchCalls()).toHaveLength(1);
    });

    test('an event answered 409 (its key still being queued) holds back the later events of its ordering key in the request', async () => {
      const key = `fifo-held-${randomUUID()}`;
      const first = titles(2, 'first');
      const accepted = await fifo.handler(apiEvent({ method: 'POST', resource: '/events/batch', body: { events: first }, headers: { 'Idempotency-Key': key }, apiKeyId: PUBLISHER }));
      expect(accepted.statusCode).toBe(202);
      // As if the first request were still queueing item 0: its claim is fresh and not enqueued.
      const scan = await dynamo.documentClient.send(new ScanCommand({
        TableName: dynamo.tableNames.events, FilterExpression: 'refEventId = :id', ExpressionAttributeValues: { ':id': jsonBody(accepted).events[0].eventId },
      }));
      await dynamo.documentClient.send(new UpdateCommand({
        TableName: dynamo.tableNames.events,
        Key: { eventId: scan.Items![0].eventId },
        UpdateExpression: 'SET enqueued = :false, claimedAt = :now',
        ExpressionAttributeValues: { ':false': false, ':now': Date.now() },
      }));
      fifoMock.reset();
      acceptEverything(fifoMock, fifo.sqs);
      const body = { events: [...first, event({ orderingKey: 'order-key', title: 'third' }), event({ orderingKey: 'other-key', title: 'other' })] };

      const repeat = jsonBody(await fifo.handler(apiEvent({ method: 'POST', resource: '/events/batch', body, headers: { 'Idempotency-Key': key }, apiKeyId: PUBLISHER })));

      // Item 1 is on the queue already (a replay); the new 'third' must wait for item 0; 'other' is another key.
      expect(repeat.events.map((e: any) => e.eventId ? 202 : e.error.status)).toEqual([409, 202, 503, 202]);
      const sent = [...fifoSends(), ...fifoBatchCalls().flatMap((input) => input.Entries ?? [])]
        .map((e) => readQueueBody(e.MessageBody!).event.title);
      expect(sent).toEqual(['other']);
    });

    test('an orderingKey, when given, is the MessageGroupId', async () => {
      const result = await fifo.handler(apiEvent({
        method: 'POST', resource: '/events', body: event({ orderingKey: 'tenant-42' }), apiKeyId: PUBLISHER,
      }));

      expect(result.statusCode).toBe(202);
      const [sent] = fifoSends();
      expect(sent.MessageGroupId).toBe('tenant-42');
      expect(sent.MessageDeduplicationId).toBe(jsonBody(result).eventId);
      expect(readQueueBody(sent.MessageBody!).event.orderingKey).toBe('tenant-42');
    });

    test('batch entries carry group and deduplication ids too', async () => {
      const events = [event({ eventType: 'a.one' }), event({ eventType: 'b.two', orderingKey: 'k1' }), event({ eventType: 'a.one' })];
      const result = await fifo.handler(apiEvent({ method: 'POST', resource: '/events/batch', body: { events }, apiKeyId: PUBLISHER }));

      expect(result.statusCode).toBe(202);
      const ids = jsonBody(result).events.map((r: { eventId: string }) => r.eventId);
      const entries = fifoMock.commandCalls(fifo.sqs.SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries ?? []);
      expect(entries.map((e) => [e.MessageGroupId, e.MessageDeduplicationId])).toEqual([
        ['a.one', ids[0]], ['k1', ids[1]], ['a.one', ids[2]],
      ]);
    });

    test('an invalid orderingKey is rejected', async () => {
      const result = await fifo.handler(apiEvent({
        method: 'POST', resource: '/events', body: event({ orderingKey: 'has spaces' }), apiKeyId: PUBLISHER,
      }));
      expect(result.statusCode).toBe(400);
      expect(jsonBody(result).errors).toEqual([{ path: '/orderingKey', message: expect.any(String) }]);
      expect(fifoMock.calls()).toHaveLength(0);
    });
  });
});
