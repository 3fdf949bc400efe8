import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRuntime } from '../local/runtime';
import { Receiver, startReceiver } from '../test/helpers/receivers';

/**
 * One receiver that never answers must not slow anyone else down (issue 14, "Endpoint health").
 * The local runtime as `npm run dev` runs it (default webhook timeout, 4 processor instances);
 * one subscriber hangs on every request; `events` events of its type reach it within
 * `windowMs`, interleaved with as many events of an unrelated type. Measured: the publish →
 * receipt latency of the other subscribers, for the same events and for the unrelated ones.
 */

export interface LatencySummary {
  readonly delivered: number;
  readonly expected: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface HangingReceiverResult {
  readonly events: number;
  readonly windowMs: number;
  readonly webhookTimeoutMs: number;
  /** Another subscriber of the events the hanging one gets. */
  readonly sameEvents: LatencySummary;
  /** A subscriber of unrelated events published in the same window. */
  readonly unrelatedEvents: LatencySummary;
  /** Requests the hanging receiver got while the others were being served. */
  readonly hangingRequests: number;
  /** Every other delivery arrived, none twice. */
  readonly complete: boolean;
}

const API_KEY = 'bench-api-key-0001';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(latencies: number[], expected: number): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { delivered: sorted.length, expected, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 };
}

export async function hangingReceiverBench(options: { events: number; windowMs: number; webhookTimeoutMs?: number }): Promise<HangingReceiverResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-bench-hang-'));
  const runtime = await startRuntime({
    apiKeys: [API_KEY],
    dataDir,
    allowPrivateTargets: true,
    ...(options.webhookTimeoutMs !== undefined ? { webhookTimeoutMs: options.webhookTimeoutMs } : {}),
  });
  const receivers: Receiver[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const hanging = await startReceiver({ responder: () => 'hang' });
    const same = await startReceiver();
    const unrelated = await startReceiver();
    receivers.push(hanging, same, unrelated);
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
    const subscribe = async (eventType: string, target: string) => {
      const created = await call('POST', '/subscriptions', { eventType, channel: 'WEBHOOK', target });
      if (created.status !== 201) throw new Error(`subscription: ${created.status} ${JSON.stringify(created.body)}`);
    };
    await subscribe('bench.hang', `${hanging.url}/hang`);
    await subscribe('bench.hang', `${same.url}/same`);
    await subscribe('bench.other', `${unrelated.url}/other`);
    await sleep(1100); // the processor's 1 s local subscription cache

    // Publish: one event of each type every windowMs / events, timed from before the POST.
    const publishedAt = new Map<string, number>();
    const every = options.windowMs / options.events;
    const started = Date.now();
    await Promise.all(Array.from({ length: options.events }, async (_, i) => {
      await sleep(Math.max(0, started + i * every - Date.now()));
      await Promise.all(['bench.hang', 'bench.other'].map(async (eventType) => {
        const at = Date.now();
        const answer = await call('POST', '/events', { eventType, severity: 'HIGH', title: `event ${i}`, details: { i } });
        if (answer.status !== 202) throw new Error(`POST /events: ${answer.status}`);
        publishedAt.set(answer.body.eventId, at);
      }));
    }));

    const latencies = (receiver: Receiver) => receiver.requests.map((r) => r.at - publishedAt.get(JSON.parse(r.body).data.eventId)!);
    const deadline = Date.now() + 120_000;
    while ((same.requests.length < options.events || unrelated.requests.length < options.events) && Date.now() < deadline) await sleep(50);
    await sleep(300); // duplicates, if any, would arrive now
    const ids = (receiver: Receiver) => new Set(receiver.requests.map((r) => JSON.parse(r.body).data.eventId as string));
    return {
      events: options.events,
      windowMs: options.windowMs,
      webhookTimeoutMs: options.webhookTimeoutMs ?? 15_000,
      sameEvents: summary(latencies(same), options.events),
      unrelatedEvents: summary(latencies(unrelated), options.events),
      hangingRequests: hanging.requests.length,
      complete: [same, unrelated].every((r) => r.requests.length === options.events && ids(r).size === options.events),
    };
  } finally {
    agent.destroy();
    // Closing the hanging receiver resets its connections: the processor's requests end now
    // rather than at their time-out, so stopping the runtime does not wait for them.
    await Promise.all(receivers.map((r) => r.close()));
    await runtime.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  hangingReceiverBench({ events: Number(process.argv[2] ?? 30), windowMs: Number(process.argv[3] ?? 6000) }).then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
