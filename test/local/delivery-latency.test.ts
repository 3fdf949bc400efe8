import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { METRICS_NAMESPACE } from '../../src/contract';
import { killAllChildren, DevProcess, startDev, until } from '../helpers/dev-process';
import { ReceiverPool } from '../helpers/receivers';

/*
 * The dashboard's publish-to-delivery latency comes from one DeliveryLatency value per successful
 * delivery, emitted by the processor bundle as CloudWatch EMF. The local runtime prints those
 * lines with --metrics: this test reads them as CloudWatch would.
 */

const API_KEY = 'latency-metric-key-0001';
const EVENTS = 12;

interface EmfLine {
  readonly _aws: { readonly CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  readonly [key: string]: unknown;
}

function emfLines(stdout: string): EmfLine[] {
  return stdout.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const parsed = JSON.parse(line) as Partial<EmfLine>;
      return parsed._aws ? [parsed as EmfLine] : [];
    } catch {
      return [];
    }
  });
}

describe('DeliveryLatency: one value per successful delivery', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-latency-'));
  const receivers = new ReceiverPool();
  let dev: DevProcess;

  afterAll(async () => {
    await killAllChildren();
    await receivers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('two subscriptions (one failing its first attempt), none for failures, and latency spans the retry', async () => {
    // The breaker off: the flaky receiver fails every first attempt (503), which after 5 in a row a breaker rightly takes for an outage.
    dev = await startDev(['--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--metrics', '--retry-schedule', '0s,1s,1s',
      '--circuit-breaker', 'off']);
    const steady = await receivers.start({ responder: () => ({ status: 200 }) });
    const attempts = new Map<string, number>();
    const flaky = await receivers.start({
      responder: (request) => {
        const id = String(request.headers['webhook-id']);
        attempts.set(id, (attempts.get(id) ?? 0) + 1);
        return { status: attempts.get(id) === 1 ? 503 : 200 };
      },
    });
    const broken = await receivers.start({ responder: () => ({ status: 400 }) }); // fails for good: no latency
    const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };
    for (const receiver of [steady, flaky, broken]) {
      const created = await fetch(`${dev.apiUrl}/subscriptions`, {
        method: 'POST', headers, body: JSON.stringify({ eventType: 'latency.*', channel: 'WEBHOOK', target: `${receiver.url}/hook` }),
      });
      expect(created.status).toBe(201);
    }
    const started = Date.now();
    const ids = await Promise.all(Array.from({ length: EVENTS }, async (_, n) => {
      const answer = await fetch(`${dev.apiUrl}/events`, {
        method: 'POST', headers, body: JSON.stringify({ eventType: 'latency.test', severity: 'HIGH', title: `event ${n}` }),
      });
      expect(answer.status).toBe(202);
      return ((await answer.json()) as { eventId: string }).eventId;
    }));
    await until(async () => {
      const states = await Promise.all(ids.map(async (id) => ((await (await fetch(`${dev.apiUrl}/events/${id}`, { headers })).json()) as { deliveryStatus: string })));
      // Settled: delivered to two, failed for good at the third (before it is stored, GET is a 404).
      return states.every((s) => s.deliveryStatus === 'PARTIALLY_FAILED') ? true : undefined;
    }, 'every event to settle', 30_000, 200);
    const elapsed = Date.now() - started;
    // Metrics are flushed at the end of each invocation: the last batch's lines may trail the API.
    const latencies = await until(() => {
      const values = emfLines(dev.stdout()).filter((l) => l.DeliveryLatency !== undefined);
      return values.length >= 2 * EVENTS ? values : undefined;
    }, 'the DeliveryLatency lines', 10_000);

    expect(latencies).toHaveLength(2 * EVENTS); // steady + flaky per event; none for the 400s
    for (const line of latencies) {
      const [definition] = line._aws.CloudWatchMetrics;
      expect(definition.Namespace).toBe(METRICS_NAMESPACE);
      expect(definition.Metrics).toEqual([{ Name: 'DeliveryLatency', Unit: 'Milliseconds' }]);
      expect(definition.Dimensions[0]).toEqual(expect.arrayContaining(['channel']));
      expect(line.channel).toBe('WEBHOOK');
      expect(typeof line.DeliveryLatency).toBe('number');
      expect(line.DeliveryLatency as number).toBeGreaterThanOrEqual(0);
      expect(line.DeliveryLatency as number).toBeLessThanOrEqual(elapsed);
    }
    // The flaky subscriber's deliveries came after a 503 and a 1 s retry delay: their latency
    // counts from the publish, not from the last attempt.
    const values = latencies.map((l) => l.DeliveryLatency as number).sort((a, b) => a - b);
    expect(values.filter((v) => v >= 1000)).toHaveLength(EVENTS);
    // Successes and failures are counted next to it.
    const failed = emfLines(dev.stdout()).filter((l) => l.DeliveriesFailed !== undefined && l.channel === 'WEBHOOK');
    expect(failed.reduce((sum, l) => sum + (l.DeliveriesFailed as number), 0)).toBe(EVENTS);
  }, 60_000);
});
