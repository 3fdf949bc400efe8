import { randomUUID } from 'node:crypto';
import type { SendMessageBatchCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { apiEvent, ApiEventOptions } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { loadHandler, LoadedHandler } from '../../helpers/handlers';
import { header, jsonBody } from '../../helpers/problems';

/*
 * The bad-input matrix: every malformed, mistyped, oversized or misrouted request gets a 4xx
 * application/problem+json answer with type, title, status and detail, never a 5xx, and nothing
 * ever reaches the queue.
 */

type Target = 'ingest' | 'ingestSmall' | 'management';

interface BadCase {
  readonly target: Target;
  readonly request: ApiEventOptions;
  readonly status: number;
  /** Expected `allow` header of a 405. */
  readonly allow?: string;
  /** A JSON Pointer the problem's `errors` must name. */
  readonly errorPath?: string;
}

const SMALL_LIMIT = 2048;
const LONG = 'x'.repeat(10_000);
const VALID_SUB_ID = 'sub_01J00000000000000000000000';
const ITEM_ROUTE = '/subscriptions/{subscriptionId}';
const validEvent = { eventType: 'deploy.finished', severity: 'HIGH', title: 'Deploy finished' };
const validSubscription = { eventType: 'deploy.*', channel: 'EMAIL', target: 'ops@example.com' };

function without<T extends object>(value: T, key: keyof T): Partial<T> {
  const copy = { ...value };
  delete copy[key];
  return copy;
}

/** `{"a":{"a":...1...}}` nested `depth` levels deep, as JSON text. */
function nested(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

const garbageBytes = Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x80, 0x81, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x82, 0xf0, 0x28, 0x8c, 0xbc, 0x7b, 0x22]);

/** Whole-body problems, for every route that takes a JSON body. */
const bodyCases: [string, Pick<ApiEventOptions, 'body' | 'headers'>, number][] = [
  ['malformed JSON (cut short)', { body: '{"eventType": "deploy.finished",' }, 400],
  ['malformed JSON (trailing garbage)', { body: '{"eventType":"a"} trailing' }, 400],
  ['malformed JSON (single quotes)', { body: "{'eventType':'a'}" }, 400],
  ['a JSON array body', { body: '[]' }, 400],
  ['a JSON string body', { body: '"just a string"' }, 400],
  ['a JSON number body', { body: '42' }, 400],
  ['a JSON null body', { body: 'null' }, 400],
  ['a JSON true body', { body: 'true' }, 400],
  ['no body at all', {}, 400],
  ['an empty body', { body: '' }, 400],
  ['a whitespace body', { body: ' \n\t ' }, 400],
  ['base64-encoded garbage bytes', { body: garbageBytes }, 400],
  ['a base64-encoded UTF-16 body', { body: Buffer.from(JSON.stringify(validEvent), 'utf16le') }, 400],
  ['content-type text/plain', { body: JSON.stringify(validEvent), headers: { 'Content-Type': 'text/plain' } }, 415],
  ['content-type form-urlencoded', { body: 'eventType=a&severity=LOW', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
  ['an empty content-type', { body: JSON.stringify(validEvent), headers: { 'Content-Type': '' } }, 415],
];

/** Envelope problems of one event: [name, event, JSON Pointer of the error ('' for the event itself)]. */
const eventCases: [string, unknown, string][] = [
  ['severity is a number (3)', { ...validEvent, severity: 3 }, '/severity'],
  ['title is an object ({})', { ...validEvent, title: {} }, '/title'],
  ['eventType is a number', { ...validEvent, eventType: 7 }, '/eventType'],
  ['eventType is missing', without(validEvent, 'eventType'), '/eventType'],
  ['severity is missing', without(validEvent, 'severity'), '/severity'],
  ['title is missing', without(validEvent, 'title'), '/title'],
  ['severity is unknown (URGENT)', { ...validEvent, severity: 'URGENT' }, '/severity'],
  ['severity is lower case', { ...validEvent, severity: 'high' }, '/severity'],
  ['title is blank', { ...validEvent, title: '   ' }, '/title'],
  ['details is a string', { ...validEvent, details: 'text' }, '/details'],
  ['details is an array', { ...validEvent, details: [1, 2] }, '/details'],
  ['eventType has spaces', { ...validEvent, eventType: 'de ploy' }, '/eventType'],
  ['eventType has 10,000 characters', { ...validEvent, eventType: LONG }, '/eventType'],
  ['title has 10,000 characters', { ...validEvent, title: LONG }, '/title'],
  ['orderingKey has spaces', { ...validEvent, orderingKey: 'a b' }, '/orderingKey'],
  ['details nested 10,000 levels deep', `{"eventType":"a","severity":"LOW","title":"t","details":${nested(10_000)}}`, ''],
  ['an unknown field of arrays nested 10,000 deep', `{"eventType":"a","severity":"LOW","title":"t","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, ''],
  ['details nested 33 levels deep', `{"eventType":"a","severity":"LOW","title":"t","details":${nested(32)}}`, ''],
];

const cases: [string, BadCase][] = [];
const add = (name: string, c: BadCase) => cases.push([`${c.target}: ${c.request.method} ${c.request.resource} ${name} → ${c.status}`, c]);

// ---- ingest: POST /events and POST /events/batch
for (const [name, request, status] of bodyCases) {
  add(name, { target: 'ingest', request: { method: 'POST', resource: '/events', ...request }, status });
  add(name, { target: 'ingest', request: { method: 'POST', resource: '/events/batch', ...request }, status });
}
for (const [name, body, path] of eventCases) {
  add(name, { target: 'ingest', request: { method: 'POST', resource: '/events', body }, status: 400, errorPath: path || '/' });
  const batchBody = typeof body === 'string' ? `{"events":[${body}]}` : { events: [body] };
  add(`(only event) ${name}`, {
    target: 'ingest', request: { method: 'POST', resource: '/events/batch', body: batchBody }, status: 400, errorPath: `/events/0${path}`,
  });
}
for (const resource of ['/events', '/events/batch']) {
  for (const [name, key] of [['an Idempotency-Key of 10,000 characters', LONG], ['an empty Idempotency-Key', ''],
    ['an Idempotency-Key with control characters', 'key\u0007bell'], ['a non-ASCII Idempotency-Key', 'ключ']] as const) {
    add(name, {
      target: 'ingest',
      request: { method: 'POST', resource, body: resource === '/events' ? validEvent : { events: [validEvent] }, headers: { 'Idempotency-Key': key } },
      status: 400,
      errorPath: '/headers/idempotency-key',
    });
  }
}
add(`a body over MAX_EVENT_SIZE_BYTES (${SMALL_LIMIT})`, {
  target: 'ingestSmall', request: { method: 'POST', resource: '/events', body: { ...validEvent, details: { pad: 'p'.repeat(SMALL_LIMIT) } } }, status: 413,
});
add('a body under the limit in characters but over it in UTF-8 bytes', {
  target: 'ingestSmall', request: { method: 'POST', resource: '/events', body: { ...validEvent, details: { pad: '€'.repeat(700) } } }, status: 413,
});
add('whose only event is over MAX_EVENT_SIZE_BYTES', {
  target: 'ingestSmall', request: { method: 'POST', resource: '/events/batch', body: { events: [{ ...validEvent, details: { pad: 'p'.repeat(SMALL_LIMIT) } }] } }, status: 400,
});
add('a batch body over 4 MiB', {
  target: 'ingest',
  request: { method: 'POST', resource: '/events/batch', body: { events: [{ ...validEvent, details: { pad: 'p'.repeat(4 * 1024 * 1024) } }] } },
  status: 413,
});
add('with a 10,000-character title under a small limit', {
  target: 'ingestSmall', request: { method: 'POST', resource: '/events', body: { ...validEvent, title: LONG } }, status: 413,
});
// Unknown routes and wrong methods.
add('(wrong method)', { target: 'ingest', request: { method: 'GET', resource: '/events' }, status: 405, allow: 'POST' });
add('(wrong method)', { target: 'ingest', request: { method: 'PUT', resource: '/events/batch', body: { events: [validEvent] } }, status: 405, allow: 'POST' });
add('(wrong method)', { target: 'ingest', request: { method: 'DELETE', resource: '/events' }, status: 405, allow: 'POST' });
add('(not this function\'s route)', { target: 'ingest', request: { method: 'GET', resource: '/subscriptions' }, status: 404 });
add('(unknown route)', { target: 'ingest', request: { method: 'POST', resource: '/events/{eventId}/replay', pathParameters: { eventId: 'evt_1' } }, status: 404 });
add('(unknown route)', { target: 'ingest', request: { method: 'POST', resource: '/nope', body: validEvent }, status: 404 });

// ---- management: the subscriptions API
for (const [name, request, status] of bodyCases) {
  add(name, { target: 'management', request: { method: 'POST', resource: '/subscriptions', ...request }, status });
  add(name, { target: 'management', request: { method: 'PATCH', resource: ITEM_ROUTE, pathParameters: { subscriptionId: VALID_SUB_ID }, ...request }, status });
}
const subscriptionCases: [string, unknown, string][] = [
  ['eventType is a number', { ...validSubscription, eventType: 3 }, '/eventType'],
  ['channel is unknown (SMS)', { ...validSubscription, channel: 'SMS' }, '/channel'],
  ['target is an object', { ...validSubscription, target: {} }, '/target'],
  ['enabled is a string', { ...validSubscription, enabled: 'yes' }, '/enabled'],
  ['severityFilter is unknown (URGENT)', { ...validSubscription, severityFilter: 'URGENT' }, '/severityFilter'],
  ['severityFilter is a number', { ...validSubscription, severityFilter: 3 }, '/severityFilter'],
  ['description is a number', { ...validSubscription, description: 5 }, '/description'],
  ['eventType is missing', without(validSubscription, 'eventType'), '/eventType'],
  ['channel is missing', without(validSubscription, 'channel'), '/channel'],
  ['target is missing', without(validSubscription, 'target'), '/target'],
  ['eventType has 10,000 characters', { ...validSubscription, eventType: LONG }, '/eventType'],
  ['email target has 10,000 characters', { ...validSubscription, target: `${LONG}@example.com` }, '/target'],
  ['webhook target has 10,000 characters', { ...validSubscription, channel: 'WEBHOOK', target: `https://example.com/${LONG}` }, '/target'],
  ['description has 10,000 characters', { ...validSubscription, description: LONG }, '/description'],
  ['description is nested 10,000 levels deep', `{"eventType":"a","channel":"EMAIL","target":"a@example.com","description":${nested(10_000)}}`, '/description'],
];
for (const [name, body, path] of subscriptionCases) {
  add(name, { target: 'management', request: { method: 'POST', resource: '/subscriptions', body }, status: 400, errorPath: path });
}
const patchCases: [string, unknown, string][] = [
  ['target has 10,000 characters', { target: `https://example.com/${LONG}` }, '/target'],
  ['description has 10,000 characters', { description: LONG }, '/description'],
  ['eventType has 10,000 characters', { eventType: LONG }, '/eventType'],
  ['enabled is a number', { enabled: 0 }, '/enabled'],
];
for (const [name, body, path] of patchCases) {
  add(name, {
    target: 'management', request: { method: 'PATCH', resource: ITEM_ROUTE, pathParameters: { subscriptionId: VALID_SUB_ID }, body }, status: 400, errorPath: path,
  });
}
add('without an API key id', { target: 'management', request: { method: 'POST', resource: '/subscriptions', body: validSubscription, apiKeyId: null }, status: 403 });
add('without an API key id', { target: 'management', request: { method: 'GET', resource: '/subscriptions', apiKeyId: null }, status: 403 });
const badIds: [string, string][] = [
  ['sub_123', 'sub_123'],
  ['../etc', '../etc'],
  ['../../etc/passwd', '../../etc/passwd'],
  ['an event id', 'evt_01J00000000000000000000000'],
  ['a lower-case ULID', 'sub_01j00000000000000000000000'],
  ['an I in the ULID', 'sub_01I00000000000000000000000'],
  ['a ULID past the year 10889', 'sub_81J00000000000000000000000'],
  ['an id with a trailing newline', `${VALID_SUB_ID}\n`],
  ['an empty id', ''],
  ['a 10,000-character id', `sub_${'0'.repeat(9_996)}`],
];
for (const method of ['GET', 'PATCH', 'DELETE']) {
  for (const [name, id] of badIds) {
    add(`with a bad id (${name})`, {
      target: 'management',
      request: { method, resource: ITEM_ROUTE, pathParameters: { subscriptionId: id }, ...(method === 'PATCH' ? { body: { enabled: false } } : {}) },
      status: 400,
      errorPath: '/path/subscriptionId',
    });
  }
  add('without path parameters', { target: 'management', request: { method, resource: ITEM_ROUTE, body: method === 'PATCH' ? { enabled: false } : undefined }, status: 400 });
}
add('with limit=abc', { target: 'management', request: { method: 'GET', resource: '/subscriptions', query: { limit: 'abc' } }, status: 400, errorPath: '/query/limit' });
add('with a 10,000-character nextToken', {
  target: 'management', request: { method: 'GET', resource: '/subscriptions', query: { nextToken: LONG } }, status: 400, errorPath: '/query/nextToken',
});
add('(wrong method)', { target: 'management', request: { method: 'PUT', resource: ITEM_ROUTE, pathParameters: { subscriptionId: VALID_SUB_ID }, body: validSubscription }, status: 405, allow: 'GET, PATCH, DELETE' });
add('(wrong method)', { target: 'management', request: { method: 'POST', resource: ITEM_ROUTE, pathParameters: { subscriptionId: VALID_SUB_ID }, body: validSubscription }, status: 405, allow: 'GET, PATCH, DELETE' });
add('(wrong method)', { target: 'management', request: { method: 'DELETE', resource: '/subscriptions' }, status: 405, allow: 'POST, GET' });
add('(wrong method)', { target: 'management', request: { method: 'PATCH', resource: '/subscriptions', body: { enabled: false } }, status: 405, allow: 'POST, GET' });
add('(not this function\'s route)', { target: 'management', request: { method: 'POST', resource: '/events', body: validEvent }, status: 404 });
add('(not this function\'s route)', { target: 'management', request: { method: 'GET', resource: '/events' }, status: 404 });
for (const [name, id] of [['evt_123', 'evt_123'], ['../etc', '../etc'], ['a subscription id', VALID_SUB_ID], ['a 10,000-character id', `evt_${'0'.repeat(9_996)}`]]) {
  add(`with a bad event id (${name})`, {
    target: 'management', request: { method: 'GET', resource: '/events/{eventId}', pathParameters: { eventId: id } }, status: 400, errorPath: '/path/eventId',
  });
}
add('(unknown route)', {
  target: 'management', request: { method: 'GET', resource: '/subscriptions/{subscriptionId}/secret', pathParameters: { subscriptionId: VALID_SUB_ID } }, status: 404,
});

describe('bad input never gets past validation', () => {
  let dynamo: LocalDynamo;
  const loaded = {} as Record<Target, LoadedHandler>;
  const mocks: AwsClientStub<SQSClient>[] = [];
  const sqsRequests = () => mocks.reduce((sum, mock) => sum + mock.calls().length, 0);

  beforeAll(async () => {
    dynamo = await startDynamo();
    const env = {
      ...handlerEnv(dynamo),
      QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events',
      QUEUE_FIFO: 'false',
    };
    loaded.ingest = loadHandler('ingest', { ...env, MAX_EVENT_SIZE_BYTES: String(256 * 1024) });
    loaded.ingestSmall = loadHandler('ingest', { ...env, MAX_EVENT_SIZE_BYTES: String(SMALL_LIMIT) });
    loaded.management = loadHandler('management', env);
    for (const { sqs } of Object.values(loaded)) {
      const mock = mockClient(sqs.SQSClient);
      // Accept anything, so a request that slipped through would show up as a 202, not an error.
      mock.on(sqs.SendMessageCommand).resolves({ MessageId: randomUUID() });
      mock.on(sqs.SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
        Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id!, MessageId: randomUUID(), MD5OfMessageBody: 'md5' })),
        Failed: [],
      }));
      mocks.push(mock);
    }
  });

  afterAll(async () => {
    const requests = sqsRequests();
    for (const mock of mocks) mock.restore();
    await dynamo.stop();
    expect(requests).toBe(0);
  });

  test('the matrix is not empty and every case is a 4xx', () => {
    expect(cases.length).toBeGreaterThan(150);
    expect(new Set(cases.map(([name]) => name)).size).toBe(cases.length);
    for (const [, c] of cases) expect(c.status >= 400 && c.status < 500).toBe(true);
  });

  test.each(cases)('%s', async (_name, c) => {
    const result = await loaded[c.target].handler(apiEvent({ apiKeyId: 'key-bad-input', ...c.request }));

    expect(result.statusCode).toBe(c.status);
    expect(result.statusCode).toBeGreaterThanOrEqual(400);
    expect(result.statusCode).toBeLessThan(500);
    expect(header(result, 'content-type')).toBe('application/problem+json');
    const problem = jsonBody(result);
    expect(problem).toEqual(expect.objectContaining({
      type: expect.stringMatching(/^urn:event-notification-service:problem:[a-z-]+$/),
      title: expect.stringMatching(/\S/),
      status: result.statusCode,
      detail: expect.stringMatching(/\S/),
    }));
    if (problem.errors !== undefined) {
      expect(Array.isArray(problem.errors)).toBe(true);
      for (const error of problem.errors) expect(error).toEqual({ path: expect.any(String), message: expect.stringMatching(/\S/) });
    }
    if (c.errorPath !== undefined) {
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain(c.errorPath);
    }
    if (c.allow !== undefined) {
      expect(header(result, 'allow')).toBe(c.allow);
    }
    // Huge inputs are never echoed back.
    expect(result.body.length).toBeLessThan(4096);
    expect(result.body).not.toContain(LONG.slice(0, 300));
  });

  test('no request of the whole suite reached SQS', () => {
    expect(mocks).toHaveLength(3);
    expect(sqsRequests()).toBe(0);
  });
});
