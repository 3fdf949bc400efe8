import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { Webhook } from 'standardwebhooks';
import { CountingProxy } from './counting-proxy';
import { startRuntime } from '../local/runtime';

/** One event delivered to k webhook subscriptions (docs/architecture.md "Fan-out"). */
export interface FanOutEventResult {
  /** How long each receiver took to answer (0: at once). */
  readonly receiverDelayMs: number;
  /** From the POST /events to the last delivery the receiver got. */
  readonly secondsToLastDelivery: number;
  /** Follow-up messages the event was split into (0: delivered from its own message). */
  readonly followUps: number;
  /** Distinct webhook-ids received, each signature verified. */
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly badSignatures: number;
  /** `service:Operation` → AWS requests the handlers made, counted on the wire, from the POST to the last record written. */
  readonly requests: Record<string, number>;
  /**
   * ReceiveMessage and DeleteMessageBatch the SQS event source mapping would make in AWS (one of
   * each per batch of up to 10 messages; the local runtime reads its queue directly).
   */
  readonly eventSourceRequests: number;
  readonly requestsPerDelivery: number;
}

export interface FanOutResult {
  readonly subscriptions: number;
  readonly queue: 'standard' | 'fifo';
  /** Creating the subscriptions through the API (100 per API key, the default limit). */
  readonly subscribeSeconds: number;
  readonly events: FanOutEventResult[];
}

const PER_KEY = 100;

/**
 * The local runtime with `k` webhook subscriptions to one event type, across ⌈k / 100⌉ API keys;
 * one event per receiver delay, each timed from its POST to the last verified receipt, its AWS
 * requests counted, and every webhook-id checked to arrive exactly once.
 */
export async function fanOut(k: number, options: { fifo?: boolean; receiverDelaysMs?: readonly number[] } = {}): Promise<FanOutResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-bench-fan-out-'));
  const keys = Array.from({ length: Math.ceil(k / PER_KEY) }, (_, i) => `bench-fan-out-key-${String(i).padStart(5, '0')}`);
  const proxies = new Map<string, CountingProxy>();
  const runtime = await startRuntime({
    apiKeys: keys,
    dataDir,
    fifo: options.fifo ?? false,
    retryScheduleSeconds: [0, 1, 2],
    allowPrivateTargets: true,
    endpointFor: async (service, endpoint) => {
      const proxy = new CountingProxy(service, endpoint);
      proxies.set(service, proxy);
      return proxy.start();
    },
  });
  const secrets = new Map<string, string>();
  let delayMs = 0;
  let current = { eventId: '', perId: new Map<string, number>(), badSignatures: 0, lastReceipt: 0 };
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const run = current;
      try {
        const payload = new Webhook(secrets.get(req.url ?? '')!).verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>) as { data: { eventId: string } };
        if (payload.data.eventId !== run.eventId) throw new Error('another event');
        const id = String(req.headers['webhook-id']);
        run.perId.set(id, (run.perId.get(id) ?? 0) + 1);
        run.lastReceipt = Date.now();
      } catch {
        run.badSignatures++;
      }
      setTimeout(() => res.writeHead(200).end(), delayMs);
    });
  });
  receiver.listen(0, '127.0.0.1');
  await new Promise((resolve) => receiver.once('listening', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const call = (key: string, method: string, route: string, body?: unknown) => new Promise<{ status: number; body: any }>((resolve, reject) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(runtime.apiUrl + route, {
      method, agent, headers: { 'x-api-key': key, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(data);
  });
  const dynamo = new DynamoDBClient({ endpoint: runtime.dynamoEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
  /** Records written for the event, read straight from the local DynamoDB (not through the counted endpoint). */
  const recorded = async (eventId: string) => {
    let count = 0;
    let start: Record<string, any> | undefined;
    do {
      const page = await dynamo.send(new QueryCommand({
        TableName: runtime.tableNames.notifications,
        KeyConditionExpression: 'eventId = :id',
        FilterExpression: '#s = :delivered',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':id': { S: eventId }, ':delivered': { S: 'DELIVERED' } },
        Select: 'COUNT',
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }));
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return count;
  };
  /** Messages of the event put on the events queue (its own and its follow-ups), from the queue log. */
  const queued = (eventId: string) => fs.readFileSync(path.join(dataDir, 'queues.log'), 'utf8').split('\n').filter(Boolean)
    .map((line) => JSON.parse(line)).filter((e) => e.op === 'put' && e.m.queue === runtime.queueNames.events)
    .map((e) => JSON.parse(e.m.body)).filter((m) => m.eventId === eventId);

  try {
    const subscribeStarted = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < k) {
        const i = next++;
        const hook = `/hooks/${i}`;
        const created = await call(keys[Math.floor(i / PER_KEY)], 'POST', '/subscriptions', { eventType: 'bench.fanout.*', channel: 'WEBHOOK', target: receiverUrl + hook });
        if (created.status !== 201) throw new Error(`subscription ${i}: ${created.status} ${JSON.stringify(created.body)}`);
        secrets.set(hook, created.body.secret);
      }
    }));
    const subscribeSeconds = (Date.now() - subscribeStarted) / 1000;
    await new Promise((r) => setTimeout(r, 1200)); // the processor's subscription cache (1 s locally)

    const events: FanOutEventResult[] = [];
    for (const receiverDelayMs of options.receiverDelaysMs ?? [0]) {
      delayMs = receiverDelayMs;
      proxies.forEach((p) => p.reset());
      const started = Date.now();
      const published = await call(keys[0], 'POST', '/events', { eventType: 'bench.fanout.published', severity: 'HIGH', title: `Fan-out to ${k}` });
      if (published.status !== 202) throw new Error(`POST /events: ${published.status}`);
      current = { eventId: published.body.eventId, perId: new Map(), badSignatures: 0, lastReceipt: 0 };
      const run = current;
      const deadline = Date.now() + Math.max(120_000, k * 60);
      while ((run.perId.size < k || (await recorded(run.eventId)) < k) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500)); // stragglers: a duplicate would arrive now
      const requests = Object.fromEntries([...proxies].flatMap(([service, p]) => Object.entries(p.snapshot()).map(([op, n]) => [`${service}:${op}`, n])));
      const messages = queued(run.eventId);
      const followUps = messages.filter((m) => m.fanOut).length;
      // The event source mapping: a receive and a delete per batch of ≤ 10 messages (FIFO: batches of 1).
      const eventSourceRequests = 2 * Math.ceil(messages.length / (options.fifo ? 1 : 10));
      const counted = Object.values(requests).reduce((a, b) => a + b, 0);
      events.push({
        receiverDelayMs,
        secondsToLastDelivery: Math.round((run.lastReceipt - started) / 10) / 100,
        followUps,
        delivered: run.perId.size,
        lost: k - run.perId.size,
        duplicates: [...run.perId.values()].reduce((a, n) => a + n - 1, 0),
        badSignatures: run.badSignatures,
        requests,
        eventSourceRequests,
        requestsPerDelivery: Math.round(((counted + eventSourceRequests) / k) * 1000) / 1000,
      });
    }
    return { subscriptions: k, queue: options.fifo ? 'fifo' : 'standard', subscribeSeconds: Math.round(subscribeSeconds * 10) / 10, events };
  } finally {
    dynamo.destroy();
    agent.destroy();
    receiver.closeAllConnections();
    receiver.close();
    await runtime.stop();
    await Promise.all([...proxies.values()].map((p) => p.stop()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
