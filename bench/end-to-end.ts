import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Webhook } from 'standardwebhooks';
import { CountingProxy } from './counting-proxy';
import { startRuntime } from '../local/runtime';

export interface RequestCounts {
  readonly subscriptions: number;
  readonly events: number;
  /** `service:Operation` → requests per event. */
  readonly perEvent: Record<string, number>;
}

export interface EndToEndResult {
  readonly events: number;
  readonly subscriptionsPerEvent: number;
  readonly deliveries: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly deliveriesPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly exactlyOnce: boolean;
  readonly missing: number;
  readonly duplicates: number;
  readonly badSignatures: number;
  readonly requests: RequestCounts[];
  /** SQS requests for one POST /events/batch of 10 and of 100 events. */
  readonly sqsRequestsPerBatchPost: { readonly of10: number; readonly of100: number };
  /** Largest stored items, bytes as DynamoDB sizes them (names + values). */
  readonly itemBytes: { readonly event: number; readonly notification: number };
}

const API_KEY = 'bench-api-key-0001';
const EVENT = (type: string, i: number) => ({
  eventType: type,
  severity: 'HIGH',
  title: `Deploy ${i} of billing finished`,
  details: { service: 'billing', version: 'v42', region: 'eu-west-1', commit: '4f1c2a9e', durationSeconds: 312, run: i },
});

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** DynamoDB's item size: attribute names plus values (strings, numbers, maps and lists). */
function itemSize(item: Record<string, any>): number {
  const size = (v: any): number => {
    if (v.S !== undefined) return Buffer.byteLength(v.S);
    if (v.N !== undefined) return Math.ceil(String(v.N).replace(/^-/, '').replace('.', '').length / 2) + 1;
    if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
    if (v.M) return 3 + Object.entries(v.M).reduce((a, [k, x]) => a + Buffer.byteLength(k) + 1 + size(x), 0);
    if (v.L) return 3 + v.L.reduce((a: number, x: any) => a + 1 + size(x), 0);
    return 0;
  };
  return Object.entries(item).reduce((a, [k, v]) => a + Buffer.byteLength(k) + size(v), 0);
}

/**
 * The local runtime under load: N events, k webhook subscriptions each, from the first POST to
 * the last verified receipt; AWS requests counted on the wire per service and operation.
 */
export async function endToEnd(events: number, concurrency: number, requestRunEvents: number): Promise<EndToEndResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-bench-'));
  const proxies = new Map<string, CountingProxy>();
  const runtime = await startRuntime({
    apiKeys: [API_KEY],
    dataDir,
    retryScheduleSeconds: [0, 1, 2],
    allowPrivateTargets: true,
    concurrency: 8,
    endpointFor: async (service, endpoint) => {
      const proxy = new CountingProxy(service, endpoint);
      proxies.set(service, proxy);
      return proxy.start();
    },
  });
  const secrets = new Map<string, string>();
  const deliveries = new Map<string, number>();
  const latencies: number[] = [];
  const publishedAt = new Map<string, number>();
  let badSignatures = 0;
  let lastReceipt = 0;
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sub = (req.url ?? '').split('/').pop()!;
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        const headers = req.headers as Record<string, string>;
        const payload = new Webhook(secrets.get(sub)!).verify(body, headers) as { data: { eventId: string; run: number } };
        const key = `${payload.data.eventId}/${sub}`;
        deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
        const now = Date.now();
        lastReceipt = now;
        const sent = publishedAt.get(payload.data.eventId);
        if (sent !== undefined) latencies.push(now - sent);
      } catch {
        badSignatures++;
      }
      res.writeHead(200).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await new Promise((resolve) => receiver.once('listening', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const call = (method: string, route: string, body: unknown) => new Promise<{ status: number; body: any }>((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(runtime.apiUrl + route, {
      method, agent, headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(data);
  });
  const subscribe = async (type: string, k: number) => {
    for (let i = 0; i < k; i++) {
      const created = await call('POST', '/subscriptions', { eventType: type, channel: 'WEBHOOK', target: `${receiverUrl}/hook/PLACEHOLDER` });
      if (created.status !== 201) throw new Error(`subscription: ${created.status} ${JSON.stringify(created.body)}`);
      secrets.set(created.body.subscriptionId, created.body.secret);
      // Point the target at a path that names the subscription, so the receiver knows the secret.
      await call('PATCH', `/subscriptions/${created.body.subscriptionId}`, { target: `${receiverUrl}/hook/${created.body.subscriptionId}` });
    }
  };
  const publish = async (type: string, count: number) => {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const started = Date.now();
        const answer = await call('POST', '/events', EVENT(type, i));
        if (answer.status !== 202) throw new Error(`POST /events: ${answer.status}`);
        publishedAt.set(answer.body.eventId, started);
        ids.push(answer.body.eventId);
      }
    }));
    return ids;
  };
  const waitFor = async (expected: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    const total = () => [...deliveries.values()].reduce((a, b) => a + b, 0);
    while (total() < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // let stragglers (duplicates) arrive, and records be written
  };
  const resetCounts = () => proxies.forEach((p) => p.reset());
  const counts = () => Object.fromEntries([...proxies].flatMap(([service, p]) => Object.entries(p.snapshot()).map(([op, n]) => [`${service}:${op}`, n])));

  try {
    // Request counts per event for k = 1, 3, 25 (subscription cache warm: one event first).
    const requests: RequestCounts[] = [];
    const delivered = () => [...deliveries.values()].reduce((a, b) => a + b, 0);
    for (const k of [1, 3, 25]) {
      const type = `bench.k${k}`;
      await subscribe(type, k);
      await publish(type, 1);
      await waitFor(delivered() + k, 10_000);
      const before = delivered();
      resetCounts();
      await publish(type, requestRunEvents);
      await waitFor(before + requestRunEvents * k, 60_000);
      requests.push({
        subscriptions: k,
        events: requestRunEvents,
        perEvent: Object.fromEntries(Object.entries(counts()).map(([op, n]) => [op, Math.round((n / requestRunEvents) * 1000) / 1000])),
      });
    }

    // SQS requests of one batch POST of 10 and of 100 events.
    resetCounts();
    const batchType = 'bench.batch';
    await call('POST', '/events/batch', { events: Array.from({ length: 10 }, (_, i) => EVENT(batchType, i)) });
    const of10 = proxies.get('sqs')!.counts.get('SendMessageBatch') ?? 0;
    resetCounts();
    await call('POST', '/events/batch', { events: Array.from({ length: 100 }, (_, i) => EVENT(batchType, i)) });
    const of100 = proxies.get('sqs')!.counts.get('SendMessageBatch') ?? 0;

    // The throughput run: N events, 3 subscriptions each (bench.k3 has 3).
    deliveries.clear();
    latencies.length = 0;
    const started = Date.now();
    const ids = await publish('bench.k3', events);
    await waitFor(events * 3, 600_000);
    const seconds = (lastReceipt - started) / 1000;
    // Exactly once: every (event, subscription) pair of this run arrived, and none twice.
    const perEvent = new Map<string, number>();
    for (const key of deliveries.keys()) perEvent.set(key.split('/')[0], (perEvent.get(key.split('/')[0]) ?? 0) + 1);
    const missing = ids.reduce((a, id) => a + (3 - Math.min(3, perEvent.get(id) ?? 0)), 0);
    const duplicates = [...deliveries.values()].reduce((a, n) => a + (n - 1), 0);
    latencies.sort((a, b) => a - b);

    // Item sizes as stored.
    const dynamo = new DynamoDBClient({ endpoint: runtime.dynamoEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
    const maxSize = async (table: string) => {
      const page = await dynamo.send(new ScanCommand({ TableName: table, Limit: 200 }));
      return Math.max(0, ...(page.Items ?? []).filter((i) => !String(i.eventId?.S ?? '').startsWith('idem_')).map(itemSize));
    };
    const itemBytes = { event: await maxSize(runtime.tableNames.events), notification: await maxSize(runtime.tableNames.notifications) };
    dynamo.destroy();

    return {
      events,
      subscriptionsPerEvent: 3,
      deliveries: [...deliveries.values()].reduce((a, b) => a + b, 0),
      seconds,
      eventsPerSecond: Math.round(events / seconds),
      deliveriesPerSecond: Math.round((events * 3) / seconds),
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      exactlyOnce: missing === 0 && duplicates === 0 && deliveries.size === events * 3 && badSignatures === 0,
      missing,
      duplicates,
      badSignatures,
      requests,
      sqsRequestsPerBatchPost: { of10, of100 },
      itemBytes,
    };
  } finally {
    agent.destroy();
    receiver.closeAllConnections();
    receiver.close();
    await runtime.stop();
    await Promise.all([...proxies.values()].map((p) => p.stop()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
