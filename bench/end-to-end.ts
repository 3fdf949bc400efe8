import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Webhook } from 'standardwebhooks';
import { CountingProxy } from './counting-proxy';
import { Runtime, startRuntime } from '../local/runtime';

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
  /** Load average (1 minute) of the machine before and after the throughput run: other work on it slows the run. */
  readonly loadAverage: { readonly before: number; readonly after: number };
  readonly requests: RequestCounts[];
  /** SQS requests for one POST /events/batch of 10 and of 100 events. */
  readonly sqsRequestsPerBatchPost: { readonly of10: number; readonly of100: number };
  /** Largest stored items, bytes as DynamoDB sizes them (names + values). */
  readonly itemBytes: { readonly event: number; readonly notification: number; readonly subscription: number };
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

/** The local runtime with a verifying webhook receiver, and the calls a benchmark run makes. */
interface Bench {
  readonly runtime: Runtime;
  readonly proxies: Map<string, CountingProxy>;
  readonly deliveries: Map<string, number>;
  readonly latencies: number[];
  badSignatures: number;
  lastReceipt: number;
  call(method: string, route: string, body: unknown): Promise<{ status: number; body: any }>;
  subscribe(type: string, k: number): Promise<void>;
  publish(type: string, count: number): Promise<string[]>;
  delivered(): number;
  waitFor(expected: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A local runtime for the benchmark. With `counting`, a proxy in front of each local AWS service
 * counts the handlers' requests (it costs local throughput, so the throughput run has none).
 */
async function startBench(counting: boolean, concurrency: number): Promise<Bench> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-bench-'));
  const proxies = new Map<string, CountingProxy>();
  const runtime = await startRuntime({
    apiKeys: [API_KEY],
    dataDir,
    retryScheduleSeconds: [0, 1, 2],
    allowPrivateTargets: true,
    concurrency: 8,
    ...(counting ? {
      endpointFor: async (service: 'dynamodb' | 'sqs' | 'sesv2', endpoint: string) => {
        const proxy = new CountingProxy(service, endpoint);
        proxies.set(service, proxy);
        return proxy.start();
      },
    } : {}),
  });
  const secrets = new Map<string, string>();
  const publishedAt = new Map<string, number>();
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
        bench.deliveries.set(key, (bench.deliveries.get(key) ?? 0) + 1);
        const now = Date.now();
        bench.lastReceipt = now;
        const sent = publishedAt.get(payload.data.eventId);
        if (sent !== undefined) bench.latencies.push(now - sent);
      } catch {
        bench.badSignatures++;
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
  const bench: Bench = {
    runtime,
    proxies,
    deliveries: new Map(),
    latencies: [],
    badSignatures: 0,
    lastReceipt: 0,
    call,
    async subscribe(type, k) {
      for (let i = 0; i < k; i++) {
        const created = await call('POST', '/subscriptions', { eventType: type, channel: 'WEBHOOK', target: `${receiverUrl}/hook/PLACEHOLDER` });
        if (created.status !== 201) throw new Error(`subscription: ${created.status} ${JSON.stringify(created.body)}`);
        secrets.set(created.body.subscriptionId, created.body.secret);
        // Point the target at a path that names the subscription, so the receiver knows the secret.
        await call('PATCH', `/subscriptions/${created.body.subscriptionId}`, { target: `${receiverUrl}/hook/${created.body.subscriptionId}` });
      }
    },
    async publish(type, count) {
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
    },
    delivered: () => [...bench.deliveries.values()].reduce((a, b) => a + b, 0),
    async waitFor(expected, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (bench.delivered() < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300)); // let stragglers (duplicates) arrive, and records be written
    },
    async stop() {
      agent.destroy();
      receiver.closeAllConnections();
      receiver.close();
      await runtime.stop();
      await Promise.all([...proxies.values()].map((p) => p.stop()));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return bench;
}

/** AWS requests per event for k = 1, 3, 25 webhook subscriptions, SQS requests per batch POST, stored item sizes. */
async function countRequests(requestRunEvents: number, concurrency: number) {
  const bench = await startBench(true, concurrency);
  const resetCounts = () => bench.proxies.forEach((p) => p.reset());
  const counts = () => Object.fromEntries([...bench.proxies].flatMap(([service, p]) => Object.entries(p.snapshot()).map(([op, n]) => [`${service}:${op}`, n])));
  try {
    const requests: RequestCounts[] = [];
    for (const k of [1, 3, 25]) {
      const type = `bench.k${k}`;
      await bench.subscribe(type, k);
      // The subscription cache warm: one event first.
      await bench.publish(type, 1);
      await bench.waitFor(bench.delivered() + k, 10_000);
      const before = bench.delivered();
      resetCounts();
      await bench.publish(type, requestRunEvents);
      await bench.waitFor(before + requestRunEvents * k, 60_000);
      requests.push({
        subscriptions: k,
        events: requestRunEvents,
        perEvent: Object.fromEntries(Object.entries(counts()).map(([op, n]) => [op, Math.round((n / requestRunEvents) * 1000) / 1000])),
      });
    }

    // SQS requests of one batch POST of 10 and of 100 events.
    resetCounts();
    const batchType = 'bench.batch';
    await bench.call('POST', '/events/batch', { events: Array.from({ length: 10 }, (_, i) => EVENT(batchType, i)) });
    const of10 = bench.proxies.get('sqs')!.counts.get('SendMessageBatch') ?? 0;
    resetCounts();
    await bench.call('POST', '/events/batch', { events: Array.from({ length: 100 }, (_, i) => EVENT(batchType, i)) });
    const of100 = bench.proxies.get('sqs')!.counts.get('SendMessageBatch') ?? 0;

    // Item sizes as stored.
    const { runtime } = bench;
    const dynamo = new DynamoDBClient({ endpoint: runtime.dynamoEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
    const maxSize = async (table: string) => {
      const page = await dynamo.send(new ScanCommand({ TableName: table, Limit: 200 }));
      return Math.max(0, ...(page.Items ?? []).filter((i) => !String(i.eventId?.S ?? '').startsWith('idem_')).map(itemSize));
    };
    const itemBytes = {
      event: await maxSize(runtime.tableNames.events),
      notification: await maxSize(runtime.tableNames.notifications),
      subscription: await maxSize(runtime.tableNames.subscriptions),
    };
    dynamo.destroy();
    return { requests, sqsRequestsPerBatchPost: { of10, of100 }, itemBytes, exactlyOnce: bench.badSignatures === 0 };
  } finally {
    await bench.stop();
  }
}

/**
 * The local runtime under load: `events` events with 3 webhook subscriptions each, from the
 * first POST to the last verified receipt, with no counting proxy in the way. Then the AWS
 * requests, counted in a runtime of their own.
 */
export async function endToEnd(events: number, concurrency: number, requestRunEvents: number): Promise<EndToEndResult> {
  const counted = await countRequests(requestRunEvents, concurrency);
  const bench = await startBench(false, concurrency);
  try {
    await bench.subscribe('bench.k3', 3);
    // Warm: the processor instances loaded and the subscription cache filled, as in a running service.
    await bench.publish('bench.k3', 20);
    await bench.waitFor(60, 20_000);
    bench.deliveries.clear();
    bench.latencies.length = 0;
    const loadBefore = os.loadavg()[0];
    const started = Date.now();
    const ids = await bench.publish('bench.k3', events);
    await bench.waitFor(events * 3, 600_000);
    const loadAfter = os.loadavg()[0];
    const seconds = (bench.lastReceipt - started) / 1000;
    // Exactly once: every (event, subscription) pair of this run arrived, and none twice.
    const perEvent = new Map<string, number>();
    for (const key of bench.deliveries.keys()) perEvent.set(key.split('/')[0], (perEvent.get(key.split('/')[0]) ?? 0) + 1);
    const missing = ids.reduce((a, id) => a + (3 - Math.min(3, perEvent.get(id) ?? 0)), 0);
    const duplicates = [...bench.deliveries.values()].reduce((a, n) => a + (n - 1), 0);
    bench.latencies.sort((a, b) => a - b);
    return {
      events,
      subscriptionsPerEvent: 3,
      deliveries: bench.delivered(),
      seconds,
      eventsPerSecond: Math.round(events / seconds),
      deliveriesPerSecond: Math.round((events * 3) / seconds),
      latencyMs: { p50: percentile(bench.latencies, 50), p99: percentile(bench.latencies, 99) },
      exactlyOnce: counted.exactlyOnce && missing === 0 && duplicates === 0 && bench.deliveries.size === events * 3 && bench.badSignatures === 0,
      missing,
      duplicates,
      badSignatures: bench.badSignatures,
      loadAverage: { before: Math.round(loadBefore * 100) / 100, after: Math.round(loadAfter * 100) / 100 },
      requests: counted.requests,
      sqsRequestsPerBatchPost: counted.sqsRequestsPerBatchPost,
      itemBytes: counted.itemBytes,
    };
  } finally {
    await bench.stop();
  }
}
