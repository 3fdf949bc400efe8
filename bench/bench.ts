import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { endToEnd, EndToEndResult } from './end-to-end';
import { fanOut, FanOutResult } from './fan-out';
import { ingestMicrosPerRequest, processorMicrosPerEvent } from './warm-cpu';

/**
 * `npm run bench [-- --quick] [--out file] [--fan-out 10000]`: bundle sizes, cold load, warm CPU
 * per event, end-to-end throughput on the local runtime, AWS requests per event, one event to
 * 1,000 subscriptions (and to `--fan-out` more), and cost per million events. It reports; it never
 * fails on timings (only on a broken run or a lost delivery).
 */
const ROOT = path.join(__dirname, '..');
const BUNDLES = ['ingest', 'management', 'processor'] as const;
const prices = JSON.parse(fs.readFileSync(path.join(__dirname, 'prices.json'), 'utf8'));

/** Settings the bundles need to load (they validate their environment at start). */
const BUNDLE_ENV = {
  AWS_REGION: 'us-east-1',
  QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/q',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/d',
  MAX_EVENT_SIZE_BYTES: '262144',
  EVENTS_TABLE_NAME: 'e',
  SUBSCRIPTIONS_TABLE_NAME: 's',
  NOTIFICATIONS_TABLE_NAME: 'n',
  RETRY_SCHEDULE_SECONDS: '0,5,300',
  WEBHOOK_TIMEOUT_MS: '15000',
  RETENTION_SECONDS: '2592000',
  POWERTOOLS_METRICS_DISABLED: 'true',
};

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function timeNode(script: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...BUNDLE_ENV }, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`node -e ${script} exited ${result.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function coldLoad(runs: number) {
  const times: Record<string, number[]> = { empty: [], ingest: [], management: [], processor: [] };
  for (let i = 0; i < runs; i++) {
    // Alternating, so drift on the machine touches every candidate alike.
    times.empty.push(timeNode(''));
    for (const b of BUNDLES) times[b].push(timeNode(`require(${JSON.stringify(path.join(ROOT, 'assets', b, 'index.js'))})`));
  }
  const empty = median(times.empty);
  return {
    runs,
    emptyNodeMs: round(empty),
    bundles: BUNDLES.map((b) => ({
      name: b,
      medianMs: round(median(times[b])),
      minMs: round(Math.min(...times[b])),
      maxMs: round(Math.max(...times[b])),
      ratioToEmptyNode: round(median(times[b]) / empty, 2),
    })),
  };
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

interface CostInputs {
  readonly ingestMicros: number;
  readonly processorMicros: number;
  readonly e2e: EndToEndResult;
}

/**
 * Cost per million events, one webhook subscription, no email. Requests come from the measured
 * counts (k = 1); SQS requests the event source mapping makes (not our code) are modelled: per
 * full batch of 10, one ReceiveMessage and one DeleteMessageBatch. Lambda duration is the measured
 * CPU plus an assumed 10 ms per sequential AWS call (and 50 ms for a webhook round trip).
 */
function cost({ ingestMicros, processorMicros, e2e }: CostInputs) {
  const k1 = e2e.requests.find((r) => r.subscriptions === 1)!.perEvent;
  const per = (op: string) => k1[op] ?? 0;
  const gbSeconds = (memoryMb: number, ms: number) => (memoryMb / 1024) * (ms / 1000);
  const ddbWrites = per('dynamodb:PutItem') + per('dynamodb:BatchWriteItem') + per('dynamodb:UpdateItem'); // items ≤ 1 KB: 1 WRU each
  const ddbReads = per('dynamodb:Query') + per('dynamodb:GetItem');
  const processorBatchMs = (processorMicros * 10) / 1000 + 10 + 50 + 10; // 10 events in parallel: put, webhook, batch write
  const lines = (mode: 'single' | 'batch100') => {
    const eventsPerPost = mode === 'single' ? 1 : 100;
    const sqsSendsPerEvent = mode === 'single' ? 1 : 0.1; // SendMessageBatch of 10
    // One SQS round trip per POST: the SendMessageBatch calls of a batch run in parallel.
    const ingestMsPerPost = (ingestMicros * eventsPerPost) / 1000 + 10;
    const items = {
      apiGateway: (prices.apiGatewayRestPerMillionRequests * 1) / eventsPerPost,
      lambdaIngest: (prices.lambdaPerMillionRequests + gbSeconds(256, ingestMsPerPost) * 1e6 * prices.lambdaArmPerGbSecond) / eventsPerPost,
      // Sends, retries, and the event source mapping's receive + delete per batch of 10 (0.2).
      sqs: (sqsSendsPerEvent + per('sqs:ChangeMessageVisibility') + 0.2) * prices.sqsStandardPerMillionRequests,
      lambdaProcessor: (prices.lambdaPerMillionRequests + gbSeconds(512, processorBatchMs) * 1e6 * prices.lambdaArmPerGbSecond) / 10,
      dynamoDb: ddbWrites * prices.dynamoDbOnDemandPerMillionWriteUnits + ddbReads * prices.dynamoDbOnDemandPerMillionReadUnits,
      ses: 0,
    };
    const total = Object.values(items).reduce((a, b) => a + b, 0);
    return { ...Object.fromEntries(Object.entries(items).map(([k, v]) => [k, round(v, 3)])), total: round(total, 2) };
  };
  return { pricesAsOf: prices.asOf, region: prices.region, perMillionEvents: { single: lines('single'), batch100: lines('batch100') } };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'quick': { type: 'boolean', default: false }, 'out': { type: 'string' }, 'fan-out': { type: 'string' } } });
  const quick = values.quick;
  const out = values.out ?? path.join(__dirname, 'results.json');
  process.removeAllListeners('warning'); // the SDK's Node.js 20 notice

  const bundles = BUNDLES.map((name) => {
    const code = fs.readFileSync(path.join(ROOT, 'assets', name, 'index.js'));
    return { name, bytes: code.length, gzipBytes: zlib.gzipSync(code, { level: 9 }).length };
  });
  const cold = coldLoad(quick ? 10 : 20);
  const ingestMicros = await ingestMicrosPerRequest(quick ? 1000 : 20_000);
  const processorMicros = [];
  for (const k of [1, 10, 100]) {
    const iterations = Math.ceil((quick ? 1000 : 20_000) / k);
    processorMicros.push({ subscriptions: k, microsPerEvent: round(await processorMicrosPerEvent(k, iterations)) });
  }
  const e2e = await endToEnd(quick ? 100 : 10_000, quick ? 10 : 32, quick ? 10 : 200);
  const costs = cost({ ingestMicros, processorMicros: processorMicros[0].microsPerEvent, e2e });
  // One event to k subscriptions: receivers answering at once and after 100 ms; FIFO keeps the fan-out in one message.
  const fanOuts: FanOutResult[] = quick
    ? [await fanOut(200)]
    : [await fanOut(1000, { receiverDelaysMs: [0, 100] }), await fanOut(1000, { fifo: true, receiverDelaysMs: [0, 100] })];
  if (values['fan-out']) fanOuts.push(await fanOut(Number(values['fan-out']), { receiverDelaysMs: [0, 100] }));
  const fanOutExact = fanOuts.every((f) => f.events.every((e) => e.lost === 0 && e.duplicates === 0 && e.badSignatures === 0));

  const perEvent = (k: number) => e2e.requests.find((r) => r.subscriptions === k)!.perEvent;
  const ddb = (k: number) => Object.entries(perEvent(k)).filter(([op]) => op.startsWith('dynamodb:') && op !== 'dynamodb:Query').reduce((a, [, n]) => a + n, 0);
  const targets = [
    { target: 'ingest bundle loads in ≤ 2× an empty Node.js process', value: cold.bundles[0].ratioToEmptyNode, met: cold.bundles[0].ratioToEmptyNode <= 2 },
    { target: 'processor bundle loads in ≤ 3× an empty Node.js process', value: cold.bundles[2].ratioToEmptyNode, met: cold.bundles[2].ratioToEmptyNode <= 3 },
    ...[1, 3, 25].map((k) => ({ target: `≤ 2 DynamoDB requests per event besides the subscription Query (k = ${k})`, value: ddb(k), met: ddb(k) <= 2 })),
    { target: '1 SQS request per single-event POST', value: perEvent(1)['sqs:SendMessage'] ?? 0, met: (perEvent(1)['sqs:SendMessage'] ?? 0) === 1 },
    { target: '1 SQS request per batch of 10 (10 per batch of 100)', value: `${e2e.sqsRequestsPerBatchPost.of10} / ${e2e.sqsRequestsPerBatchPost.of100}`, met: e2e.sqsRequestsPerBatchPost.of10 === 1 && e2e.sqsRequestsPerBatchPost.of100 === 10 },
    { target: '≤ $5.75 per million events, single POSTs', value: costs.perMillionEvents.single.total, met: costs.perMillionEvents.single.total <= 5.75 },
    { target: '≤ $1.75 per million events, batches of 100', value: costs.perMillionEvents.batch100.total, met: costs.perMillionEvents.batch100.total <= 1.75 },
    { target: 'event and notification items ≤ 1 KB (one WRU each)', value: `${e2e.itemBytes.event} / ${e2e.itemBytes.notification} bytes`, met: e2e.itemBytes.event <= 1024 && e2e.itemBytes.notification <= 1024 },
    { target: 'local end-to-end: 100 % of expected webhooks, exactly once', value: `${e2e.deliveries}/${e2e.events * 3}`, met: e2e.exactlyOnce },
    {
      target: `one event to ${fanOuts.map((f) => f.subscriptions).join(' / ')} subscriptions: each exactly once (lost 0)`,
      value: fanOuts.flatMap((f) => f.events.map((e) => `${e.delivered}/${f.subscriptions}`)).join(', '),
      met: fanOutExact,
    },
  ];

  const results = {
    date: new Date().toISOString(),
    quick,
    machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    bundles,
    coldLoad: cold,
    warmCpu: { ingestMicrosPerRequest: round(ingestMicros), processor: processorMicros },
    endToEnd: e2e,
    fanOut: fanOuts,
    cost: costs,
    targets,
  };
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');

  const rows: [string, string][] = [
    ...bundles.map((b): [string, string] => [`bundle ${b.name}`, `${(b.bytes / 1024).toFixed(0)} KiB (${(b.gzipBytes / 1024).toFixed(0)} KiB gzip)`]),
    ['cold load, empty node', `${cold.emptyNodeMs} ms (median of ${cold.runs})`],
    ...cold.bundles.map((b): [string, string] => [`cold load ${b.name}`, `${b.medianMs} ms = ${b.ratioToEmptyNode}× empty (min ${b.minMs}, max ${b.maxMs})`]),
    ['warm CPU ingest', `${round(ingestMicros)} µs / request`],
    ...processorMicros.map((p): [string, string] => [`warm CPU processor, k=${p.subscriptions}`, `${p.microsPerEvent} µs / event (signing included)`]),
    ['end to end', `${e2e.events} events × 3 webhooks in ${e2e.seconds.toFixed(1)} s: ${e2e.eventsPerSecond} events/s, ${e2e.deliveriesPerSecond} deliveries/s`],
    ['publish → delivery', `p50 ${e2e.latencyMs.p50} ms, p99 ${e2e.latencyMs.p99} ms`],
    ['exactly once', `${e2e.exactlyOnce ? 'yes' : 'NO'} (missing ${e2e.missing}, duplicates ${e2e.duplicates}, bad signatures ${e2e.badSignatures})`],
    ...e2e.requests.map((r): [string, string] => [`AWS requests / event, k=${r.subscriptions}`, Object.entries(r.perEvent).map(([op, n]) => `${op} ${n}`).join(', ')]),
    ...fanOuts.flatMap((f) => f.events.map((e): [string, string] => [
      `fan-out k=${f.subscriptions}, ${f.queue}, receiver ${e.receiverDelayMs} ms`,
      `last delivery after ${e.secondsToLastDelivery} s, ${e.followUps} follow-ups, ${e.requestsPerDelivery} AWS requests / delivery, `
        + `lost ${e.lost}, duplicates ${e.duplicates}`,
    ])),
    ['cost / million events, single', `$${costs.perMillionEvents.single.total} (${prices.region}, prices of ${prices.asOf})`],
    ['cost / million events, batch 100', `$${costs.perMillionEvents.batch100.total}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nevent-notification-service benchmark${quick ? ' (quick)' : ''} — ${results.machine.cpus} CPUs, Node.js ${process.version}\n`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log('\n  targets');
  for (const t of targets) console.log(`  ${t.met ? 'met    ' : 'NOT MET'}  ${t.target}: ${t.value}`);
  console.log(`\n  written to ${path.relative(process.cwd(), out)}\n`);
  // Timings never fail the run; a lost or duplicated delivery does.
  process.exitCode = e2e.exactlyOnce && fanOutExact ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
