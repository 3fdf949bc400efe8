import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { apiEvent } from '../../helpers/api-event';
import { handlerEnv, LocalDynamo, startDynamo } from '../../helpers/dynamo';
import { ApiHandler, loadHandler } from '../../helpers/handlers';
import { expectProblem, header, jsonBody } from '../../helpers/problems';

const SUB_ID = /^sub_[0-9A-HJKMNP-TV-Z]{26}$/;
const ITEM_ROUTE = '/subscriptions/{subscriptionId}';

let dynamo: LocalDynamo;
let handler: ApiHandler;

beforeAll(async () => {
  dynamo = await startDynamo();
  handler = loadHandler('management', handlerEnv(dynamo)).handler;
});

afterAll(async () => {
  await dynamo.stop();
});

/** A fresh API key id per test keeps tests apart on the shared table. */
const newOwner = () => `key-${randomUUID()}`;

const create = (body: unknown, owner: string) =>
  handler(apiEvent({ method: 'POST', resource: '/subscriptions', body, apiKeyId: owner }));
const get = (id: string, owner: string) =>
  handler(apiEvent({ method: 'GET', resource: ITEM_ROUTE, pathParameters: { subscriptionId: id }, apiKeyId: owner }));
const patch = (id: string, body: unknown, owner: string) =>
  handler(apiEvent({ method: 'PATCH', resource: ITEM_ROUTE, pathParameters: { subscriptionId: id }, body, apiKeyId: owner }));
const remove = (id: string, owner: string) =>
  handler(apiEvent({ method: 'DELETE', resource: ITEM_ROUTE, pathParameters: { subscriptionId: id }, apiKeyId: owner }));
const list = (owner: string, query?: Record<string, string>) =>
  handler(apiEvent({ method: 'GET', resource: '/subscriptions', query, apiKeyId: owner }));

const emailSubscription = (overrides: Record<string, unknown> = {}) =>
  ({ eventType: 'deploy.*', severityFilter: 'MEDIUM', channel: 'EMAIL', target: 'ops@example.com', ...overrides });
const webhookSubscription = (overrides: Record<string, unknown> = {}) =>
  ({ eventType: 'deploy.finished', severityFilter: 'HIGH', channel: 'WEBHOOK', target: 'https://example.com/hook', ...overrides });

/** Creates a subscription that must succeed, and returns its API representation. */
async function created(body: unknown, owner: string): Promise<Record<string, any>> {
  const result = await create(body, owner);
  expect(result.statusCode).toBe(201);
  return jsonBody(result);
}

async function storedItem(subscriptionId: string): Promise<Record<string, any> | undefined> {
  const result = await dynamo.documentClient.send(new GetCommand({
    TableName: dynamo.tableNames.subscriptions, Key: { subscriptionId }, ConsistentRead: true,
  }));
  return result.Item;
}


describe('POST /subscriptions', () => {
  test('EMAIL: 201 with a location, the subscription, no secret and no owner', async () => {
    const owner = newOwner();
    const before = Date.now();
    const result = await create(emailSubscription({ description: 'ops mailbox' }), owner);

    expect(result.statusCode).toBe(201);
    expect(header(result, 'content-type')).toBe('application/json');
    const body = jsonBody(result);
    expect(body).toEqual({
      subscriptionId: expect.stringMatching(SUB_ID),
      eventType: 'deploy.*',
      severityFilter: 'MEDIUM',
      channel: 'EMAIL',
      target: 'ops@example.com',
      enabled: true,
      description: 'ops mailbox',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(header(result, 'location')).toBe(`/subscriptions/${body.subscriptionId}`);
    expect(body.updatedAt).toBe(body.createdAt);
    expect(Date.parse(body.createdAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(body.createdAt)).toBeLessThanOrEqual(Date.now());
  });

  test('WEBHOOK: 201 with a whsec_ secret of 32 random bytes, shown this once', async () => {
    const owner = newOwner();
    const first = await create(webhookSubscription(), owner);
    const second = await created(webhookSubscription(), owner);

    expect(first.statusCode).toBe(201);
    const body = jsonBody(first);
    expect(body.subscriptionId).toMatch(SUB_ID);
    expect(header(first, 'location')).toBe(`/subscriptions/${body.subscriptionId}`);
    expect(body).not.toHaveProperty('ownerKeyId');
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const encoded = body.secret.slice('whsec_'.length);
    const bytes = Buffer.from(encoded, 'base64');
    expect(bytes).toHaveLength(32);
    expect(bytes.toString('base64')).toBe(encoded);
    expect(second.secret).not.toBe(body.secret);

    // Never again: not on GET, not in the list, not after PATCH.
    expect(jsonBody(await get(body.subscriptionId, owner))).not.toHaveProperty('secret');
    expect(jsonBody(await patch(body.subscriptionId, { severityFilter: 'LOW' }, owner))).not.toHaveProperty('secret');
    const items = jsonBody(await list(owner)).items;
    expect(items).toHaveLength(2);
    for (const item of items) {
      expect(item).not.toHaveProperty('secret');
      expect(item).not.toHaveProperty('ownerKeyId');
    }
  });

  test('the data is really in DynamoDB: ownerKeyId set, webhook secret stored, none for email', async () => {
    const owner = newOwner();
    const webhook = await created(webhookSubscription({ description: 'hooks' }), owner);
    const email = await created(emailSubscription(), owner);

    const webhookItem = await storedItem(webhook.subscriptionId);
    expect(webhookItem).toEqual({ ...webhook, ownerKeyId: owner, secret: webhook.secret });
    const emailItem = await storedItem(email.subscriptionId);
    expect(emailItem).toEqual({ ...email, ownerKeyId: owner });
    expect(emailItem).not.toHaveProperty('secret');
  });

  test('defaults: severityFilter LOW, enabled true', async () => {
    const body = await created({ eventType: '*', channel: 'EMAIL', target: 'all@example.com' }, newOwner());
    expect(body.severityFilter).toBe('LOW');
    expect(body.enabled).toBe(true);
    expect(body).not.toHaveProperty('description');
    const item = await storedItem(body.subscriptionId);
    expect(item).toMatchObject({ severityFilter: 'LOW', enabled: true });
  });

  test('a subscription can be created paused', async () => {
    const body = await created(emailSubscription({ enabled: false }), newOwner());
    expect(body.enabled).toBe(false);
    expect((await storedItem(body.subscriptionId))?.enabled).toBe(false);
  });

  test.each(['*', 'deploy.*', 'deploy.finished', 'billing:invoice/paid-v2_x', 'a'.repeat(128)])('eventType %p is accepted', async (eventType) => {
    const body = await created(emailSubscription({ eventType }), newOwner());
    expect(body.eventType).toBe(eventType);
    expect((await storedItem(body.subscriptionId))?.eventType).toBe(eventType);
  });

  test.each([
    ['de ploy'], ['*.deploy'], ['a'.repeat(129)], [''], ['deploy.**'], ['.*'], ['deploy*'], ['déploy'],
  ])('eventType %p is rejected with 400', async (eventType) => {
    const owner = newOwner();
    const problem = expectProblem(await create(emailSubscription({ eventType }), owner), 400);
    expect(problem.errors.map((e: { path: string }) => e.path)).toContain('/eventType');
    expect(jsonBody(await list(owner)).items).toEqual([]);
  });

  test.each([
    'http://example.com',
    'https://user:pw@example.com/x',
    'https://127.0.0.1/x',
    'https://10.1.2.3/',
    'https://169.254.169.254/latest',
    'https://[::1]/',
    'https://[fd00::1]/',
    'https://localhost/',
    'https://2130706433/',
    'https://0x7f.1/',
    'https://192.168.1.20/',
    'https://172.16.0.1/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/',
    // IPv4-translated (RFC 2765) forms of loopback and the metadata address.
    'https://[::ffff:0:7f00:1]/',
    'https://[::ffff:0:a9fe:a9fe]/',
    'https://LOCALHOST/',
    'https://[fe80::1]/',
    'https://0.0.0.0/',
    'https://localhost./',
    'https://api.localhost/',
    'https://metadata.google.internal/',
    'https://example.com/hook#fragment',
    'ftp://example.com/',
    'not a url',
    '/relative/hook',
  ])('webhook target %p is rejected with 400 on /target and not stored', async (target) => {
    const owner = newOwner();
    const problem = expectProblem(await create(webhookSubscription({ target }), owner), 400);
    expect(problem.errors).toEqual([{ path: '/target', message: expect.any(String) }]);
    expect(jsonBody(await list(owner)).items).toEqual([]);
  });

  test.each(['https://example.com/hook', 'https://hooks.example.com:8443/a/b?c=d', 'https://93.184.215.14/hook', 'https://[2606:4700::1111]/hook'])(
    'webhook target %p is accepted',
    async (target) => {
      const body = await created(webhookSubscription({ target }), newOwner());
      expect(body.target).toBe(target);
      expect(body.secret).toMatch(/^whsec_/);
    },
  );

  test.each([['not-an-email'], ['https://example.com/hook'], ['a@b']])('EMAIL target %p is rejected', async (target) => {
    const problem = expectProblem(await create(emailSubscription({ target }), newOwner()), 400);
    expect(problem.errors).toEqual([{ path: '/target', message: expect.any(String) }]);
  });

  test('a secret or owner in the request body is refused, not stored', async () => {
    const owner = newOwner();
    const problem = expectProblem(await create(webhookSubscription({ secret: 'whsec_mine', ownerKeyId: 'someone-else' }), owner), 400);
    const messages = problem.errors.map((e: { message: string }) => e.message).join(' ');
    expect(messages).toContain('secret');
    expect(messages).toContain('ownerKeyId');
    expect(jsonBody(await list(owner)).items).toEqual([]);
    expect(jsonBody(await list('someone-else')).items).toEqual([]);
  });
});

describe('GET /subscriptions/{subscriptionId}', () => {
  test('returns the subscription without secret or ownerKeyId', async () => {
    const owner = newOwner();
    const { secret, ...created_ } = await created(webhookSubscription(), owner);
    expect(secret).toBeDefined();

    const result = await get(created_.subscriptionId, owner);
    expect(result.statusCode).toBe(200);
    expect(header(result, 'content-type')).toBe('application/json');
    const body = jsonBody(result);
    expect(body).toEqual(created_);
    expect(body).not.toHaveProperty('secret');
    expect(body).not.toHaveProperty('ownerKeyId');
    expect(result.body).not.toContain(secret);
    expect(result.body).not.toContain(owner);
  });

  test('a well-formed id that does not exist is 404', async () => {
    const owner = newOwner();
    const missing = 'sub_01J00000000000000000000000';
    expectProblem(await get(missing, owner), 404);
    expectProblem(await patch(missing, { enabled: false }, owner), 404);
    expectProblem(await patch(missing, { target: 'https://example.com/x' }, owner), 404);
    expectProblem(await remove(missing, owner), 404);
  });
});

describe('GET /subscriptions (list)', () => {
  const owner = newOwner();
  const otherOwner = newOwner();
  const ids: string[] = [];
  const otherIds: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 30; i++) ids.push((await created(emailSubscription({ description: `mine ${i}` }), owner)).subscriptionId);
    for (let i = 0; i < 5; i++) otherIds.push((await created(emailSubscription({ description: `other ${i}` }), otherOwner)).subscriptionId);
  });

  test('limit=10 pages through all 30 of the caller\'s subscriptions and none of another key', async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const result = await list(owner, { limit: '10', ...(nextToken ? { nextToken } : {}) });
      expect(result.statusCode).toBe(200);
      const body = jsonBody(result);
      expect(body.items.length).toBeLessThanOrEqual(10);
      for (const item of body.items) {
        expect(item).not.toHaveProperty('ownerKeyId');
        expect(item).not.toHaveProperty('secret');
        expect(item.description).toMatch(/^mine /);
      }
      seen.push(...body.items.map((item: { subscriptionId: string }) => item.subscriptionId));
      expect(body.nextToken === undefined || typeof body.nextToken === 'string').toBe(true);
      nextToken = body.nextToken;
      pages++;
      expect(pages).toBeLessThanOrEqual(5);
    } while (nextToken);

    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen).toHaveLength(30);
    expect(new Set(seen).size).toBe(30);
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(seen).toEqual([...seen].sort());
    for (const id of otherIds) expect(seen).not.toContain(id);
  });

  test('without a limit a page holds 25 items and a nextToken', async () => {
    const body = jsonBody(await list(owner));
    expect(body.items).toHaveLength(25);
    expect(typeof body.nextToken).toBe('string');
  });

  test('the other key sees only its own 5', async () => {
    const body = jsonBody(await list(otherOwner, { limit: '100' }));
    expect(body.items.map((i: { subscriptionId: string }) => i.subscriptionId).sort()).toEqual([...otherIds].sort());
    expect(body).not.toHaveProperty('nextToken');
  });

  test('a key without subscriptions gets an empty list', async () => {
    const result = await list(newOwner());
    expect(result.statusCode).toBe(200);
    expect(jsonBody(result)).toEqual({ items: [] });
  });

  test.each([
    ['garbage', 'not-a-token'],
    ['a token of a malformed id', Buffer.from('sub_123').toString('base64url')],
    ['a token of an event id', Buffer.from('evt_01J00000000000000000000000').toString('base64url')],
    ['201 characters', 'A'.repeat(201)],
  ])('an invalid nextToken (%s) is 400', async (_name, nextToken) => {
    const problem = expectProblem(await list(owner, { nextToken }), 400);
    expect(problem.errors).toEqual([{ path: '/query/nextToken', message: expect.any(String) }]);
  });

  test.each(['0', '101', 'abc', '-1', '1.5', ''])('limit=%p is 400', async (limit) => {
    const problem = expectProblem(await list(owner, { limit }), 400);
    expect(problem.errors).toEqual([{ path: '/query/limit', message: expect.any(String) }]);
  });
});

describe('owner isolation', () => {
  test('another key gets 404 on GET, PATCH and DELETE, and does not see it listed; nothing changes', async () => {
    const owner = newOwner();
    const intruder = newOwner();
    const sub = await created(webhookSubscription(), owner);
    await created(emailSubscription(), intruder);

    const getResult = await get(sub.subscriptionId, intruder);
    const patchResult = await patch(sub.subscriptionId, { enabled: false }, intruder);
    const targetPatch = await patch(sub.subscriptionId, { target: 'https://attacker.example/steal' }, intruder);
    const deleteResult = await remove(sub.subscriptionId, intruder);
    for (const result of [getResult, patchResult, targetPatch, deleteResult]) {
      expectProblem(result, 404);
      expect(result.body).not.toContain('https://example.com/hook');
    }

    const intruderList = jsonBody(await list(intruder, { limit: '100' })).items.map((i: { subscriptionId: string }) => i.subscriptionId);
    expect(intruderList).toHaveLength(1);
    expect(intruderList).not.toContain(sub.subscriptionId);

    // Still there, unchanged, for its owner.
    const { secret, ...publicView } = sub;
    expect(jsonBody(await get(sub.subscriptionId, owner))).toEqual(publicView);
    expect(await storedItem(sub.subscriptionId)).toEqual({ ...sub, ownerKeyId: owner, secret });
  });
});

describe('PATCH /subscriptions/{subscriptionId}', () => {
  test('changes severityFilter and persists it', async () => {
    const owner = newOwner();
    const sub = await created(emailSubscription({ severityFilter: 'LOW' }), owner);
    const result = await patch(sub.subscriptionId, { severityFilter: 'CRITICAL' }, owner);

    expect(result.statusCode).toBe(200);
    const body = jsonBody(result);
    expect(body).toEqual({ ...sub, severityFilter: 'CRITICAL', updatedAt: expect.any(String) });
    expect(Date.parse(body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(sub.createdAt));
    expect(jsonBody(await get(sub.subscriptionId, owner)).severityFilter).toBe('CRITICAL');
    expect((await storedItem(sub.subscriptionId))?.severityFilter).toBe('CRITICAL');
  });

  test('enabled:false pauses and enabled:true resumes', async () => {
    const owner = newOwner();
    const sub = await created(emailSubscription(), owner);
    const paused = await patch(sub.subscriptionId, { enabled: false }, owner);
    expect(paused.statusCode).toBe(200);
    expect(jsonBody(paused).enabled).toBe(false);
    expect(jsonBody(await get(sub.subscriptionId, owner)).enabled).toBe(false);
    expect((await storedItem(sub.subscriptionId))?.enabled).toBe(false);

    const resumed = await patch(sub.subscriptionId, { enabled: true }, owner);
    expect(jsonBody(resumed).enabled).toBe(true);
    expect((await storedItem(sub.subscriptionId))?.enabled).toBe(true);
  });

  test('a new target is validated against the stored channel', async () => {
    const owner = newOwner();
    const webhook = await created(webhookSubscription(), owner);
    const email = await created(emailSubscription(), owner);

    const emailOnWebhook = expectProblem(await patch(webhook.subscriptionId, { target: 'ops@example.com' }, owner), 400);
    expect(emailOnWebhook.errors).toEqual([{ path: '/target', message: expect.any(String) }]);
    const urlOnEmail = expectProblem(await patch(email.subscriptionId, { target: 'https://example.com/hook' }, owner), 400);
    expect(urlOnEmail.errors).toEqual([{ path: '/target', message: expect.any(String) }]);
    const privateUrl = expectProblem(await patch(webhook.subscriptionId, { target: 'https://169.254.169.254/latest' }, owner), 400);
    expect(privateUrl.errors).toEqual([{ path: '/target', message: expect.any(String) }]);
    expect((await storedItem(webhook.subscriptionId))?.target).toBe('https://example.com/hook');
    expect((await storedItem(email.subscriptionId))?.target).toBe('ops@example.com');

    const moved = await patch(webhook.subscriptionId, { target: 'https://hooks.example.org/v2' }, owner);
    expect(moved.statusCode).toBe(200);
    expect(jsonBody(moved)).toMatchObject({ target: 'https://hooks.example.org/v2', channel: 'WEBHOOK' });
    expect(jsonBody(moved)).not.toHaveProperty('secret');
    // The secret survives the update.
    expect(await storedItem(webhook.subscriptionId)).toMatchObject({ target: 'https://hooks.example.org/v2', secret: webhook.secret, ownerKeyId: owner });
  });

  test.each([
    ['an unknown field', { color: 'blue' }],
    ['an empty body {}', {}],
    ['a channel change', { channel: 'EMAIL' }],
    ['a secret', { secret: 'whsec_AAAA' }],
    ['an owner change', { ownerKeyId: 'someone-else' }],
    ['a subscriptionId change', { subscriptionId: 'sub_01J00000000000000000000000' }],
    ['a bad severityFilter', { severityFilter: 'URGENT' }],
    ['a non-boolean enabled', { enabled: 'false' }],
    ['a bad eventType pattern', { eventType: '*.deploy' }],
  ])('%s is 400 and changes nothing', async (_name, body) => {
    const owner = newOwner();
    const sub = await created(webhookSubscription(), owner);
    const before = await storedItem(sub.subscriptionId);

    expectProblem(await patch(sub.subscriptionId, body, owner), 400);
    expect(await storedItem(sub.subscriptionId)).toEqual(before);
  });
});

describe('DELETE /subscriptions/{subscriptionId}', () => {
  test('204 with no body, then GET 404 and DELETE again 404; the item is gone from the table', async () => {
    const owner = newOwner();
    const sub = await created(webhookSubscription(), owner);
    const keep = await created(emailSubscription(), owner);

    const deleted = await remove(sub.subscriptionId, owner);
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');

    expectProblem(await get(sub.subscriptionId, owner), 404);
    expectProblem(await remove(sub.subscriptionId, owner), 404);
    expectProblem(await patch(sub.subscriptionId, { enabled: false }, owner), 404);
    expect(await storedItem(sub.subscriptionId)).toBeUndefined();
    expect(jsonBody(await list(owner)).items.map((i: { subscriptionId: string }) => i.subscriptionId)).toEqual([keep.subscriptionId]);
  });
});

describe('subscriptions per key (MAX_SUBSCRIPTIONS_PER_KEY)', () => {
  test('the key at its limit gets 409 with a clear problem and nothing stored; other keys and deletes make room', async () => {
    const limited = loadHandler('management', { ...handlerEnv(dynamo), MAX_SUBSCRIPTIONS_PER_KEY: '3' }).handler;
    const createWith = (owner: string) => limited(apiEvent({ method: 'POST', resource: '/subscriptions', body: emailSubscription(), apiKeyId: owner }));
    const owner = newOwner();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await createWith(owner);
      expect(result.statusCode).toBe(201);
      ids.push(jsonBody(result).subscriptionId);
    }
    const refused = expectProblem(await createWith(owner), 409, 'subscription-limit-reached');
    expect(refused.detail).toMatch(/3 subscriptions, the most one key may have/);
    expect(jsonBody(await list(owner)).items).toHaveLength(3);
    // Another key is not affected; deleting one makes room again.
    expect((await createWith(newOwner())).statusCode).toBe(201);
    expect((await remove(ids[0], owner)).statusCode).toBe(204);
    expect((await createWith(owner)).statusCode).toBe(201);
  });
});
