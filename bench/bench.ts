import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { bundleComposition } from './bundle-composition';
import { coldStart, round } from './cold-start';
import { costModel, Prices, SUBSCRIBERS, warmInvocations } from './cost';
import { endToEnd } from './end-to-end';
import { fanOut, FanOutResult } from './fan-out';
import { hangingReceiverBench } from './hanging-receiver';
import { ingestMicrosPerRequest, processorMicrosPerEvent } from './warm-cpu';

/**
 * `npm run bench [-- --quick] [--out file] [--fan-out 10000]`: bundle sizes and composition, cold
 * starts (load plus first request, against an empty Node.js process), warm CPU, log bytes per
 * invocation, end-to-end throughput on the local runtime, AWS requests per event, one event to
 * 1,000 subscriptions (and to `--fan-out` more), and cost per million events. It reports; it never
 * fails on timings (only on a broken run or a lost delivery).
 */
const ROOT = path.join(__dirname, '..');
const BUNDLES = ['ingest', 'management', 'processor'] as const;
const prices = JSON.parse(fs.readFileSync(path.join(__dirname, 'prices.json'), 'utf8')) as Prices;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'quick': { type: 'boolean', default: false }, 'out': { type: 'string' }, 'fan-out': { type: 'string' } } });
  const quick = values.quick;
  const out = values.out ?? path.join(__dirname, 'results.json');
  const loadAverageAtStart = os.loadavg()[0];

  const composition = bundleComposition();
  const bundles = BUNDLES.map((name) => {
    const code = fs.readFileSync(path.join(ROOT, 'assets', name, 'index.js'));
    const packages = composition.find((c) => c.name === name)!.packages;
    return {
      name,
      bytes: code.length,
      gzipBytes: zlib.gzipSync(code, { level: 9 }).length,
      largestPackages: packages.slice(0, 8),
      credentialProviders: packages.map((p) => p.name).filter((p) => p.startsWith('@aws-sdk/credential-provider') || p === '@smithy/credential-provider-imds'),
    };
  });
  const cold = await coldStart(quick ? 3 : 20);
  const ingestMicros = await ingestMicrosPerRequest(quick ? 1000 : 20_000);
  const processorMicros = [];
  for (const k of [...SUBSCRIBERS, 100]) {
    const iterations = Math.ceil((quick ? 1000 : 20_000) / k);
    processorMicros.push({ subscriptions: k, microsPerEvent: round(await processorMicrosPerEvent(k, iterations)) });
  }
  const warm = await warmInvocations(quick ? 3 : 20);
  const e2e = await endToEnd(quick ? 100 : 10_000, quick ? 10 : 32, quick ? 10 : 200);
  const coldOf = (name: string) => cold.bundles.find((b) => b.name === name)!;
  const costs = costModel({
    prices,
    warm,
    requests: e2e.requests,
    itemBytes: e2e.itemBytes,
    initMs: { ingest: coldOf('ingest').inProcess.loadedAtMs, processor: coldOf('processor').inProcess.loadedAtMs },
  });
  // One event to k subscriptions: receivers answering at once and after 100 ms; FIFO keeps the fan-out in one message.
  const fanOuts: FanOutResult[] = quick
    ? [await fanOut(200)]
    : [await fanOut(1000, { receiverDelaysMs: [0, 100] }), await fanOut(1000, { fifo: true, receiverDelaysMs: [0, 100] })];
  if (values['fan-out']) fanOuts.push(await fanOut(Number(values['fan-out']), { receiverDelaysMs: [0, 100] }));
  const fanOutExact = fanOuts.every((f) => f.events.every((e) => e.lost === 0 && e.duplicates === 0 && e.badSignatures === 0));
  // One subscriber never answers: 30 of its events in 6 s (quick: 6 in 1.2 s), as many unrelated ones.
  const hanging = await hangingReceiverBench(quick ? { events: 6, windowMs: 1200 } : { events: 30, windowMs: 6000 });

  const perEvent = (k: number) => e2e.requests.find((r) => r.subscriptions === k)!.perEvent;
  const ddb = (k: number) => Object.entries(perEvent(k)).filter(([op]) => op.startsWith('dynamodb:') && op !== 'dynamodb:Query').reduce((a, [, n]) => a + n, 0);
  const costOf = (k: number) => costs.perMillionEvents.find((c) => c.subscriptions === k)!;
  const coldTarget = (name: string, limit: number) => [
    { target: `${name}: load + first request ≤ ${limit}× an empty Node.js process (tracing on, the default)`, value: coldOf(name).ratioToEmptyNode, met: coldOf(name).ratioToEmptyNode <= limit },
    { target: `${name}: load + first request ≤ ${limit}× an empty Node.js process (tracing: false)`, value: coldOf(name).tracingOff.ratioToEmptyNode, met: coldOf(name).tracingOff.ratioToEmptyNode <= limit },
  ];
  const targets = [
    ...coldTarget('ingest', 1.6),
    ...coldTarget('management', 1.6),
    ...coldTarget('processor', 2.0),
    { target: 'no credential provider but the environment\'s in the bundles', value: [...new Set(bundles.flatMap((b) => b.credentialProviders))].join(', '), met: bundles.every((b) => b.credentialProviders.join() === '@aws-sdk/credential-provider-env') },
    ...[1, 3, 25].map((k) => ({ target: `≤ 2 DynamoDB requests per event besides the subscription Query (k = ${k})`, value: ddb(k), met: ddb(k) <= 2 })),
    { target: '1 SQS request per single-event POST', value: perEvent(1)['sqs:SendMessage'] ?? 0, met: (perEvent(1)['sqs:SendMessage'] ?? 0) === 1 },
    { target: '1 SQS request per batch of 10 (10 per batch of 100)', value: `${e2e.sqsRequestsPerBatchPost.of10} / ${e2e.sqsRequestsPerBatchPost.of100}`, met: e2e.sqsRequestsPerBatchPost.of10 === 1 && e2e.sqsRequestsPerBatchPost.of100 === 10 },
    { target: '≤ $5.75 per million events, single POSTs, k = 1', value: costOf(1).single.total, met: costOf(1).single.total <= 5.75 },
    { target: '≤ $1.75 per million events, batches of 100, k = 1', value: costOf(1).batch100.total, met: costOf(1).batch100.total <= 1.75 },
    { target: 'event and notification items ≤ 1 KB (one WRU each)', value: `${e2e.itemBytes.event} / ${e2e.itemBytes.notification} bytes`, met: e2e.itemBytes.event <= 1024 && e2e.itemBytes.notification <= 1024 },
    { target: 'local end-to-end: 100 % of expected webhooks, exactly once', value: `${e2e.deliveries}/${e2e.events * 3}`, met: e2e.exactlyOnce },
    {
      target: `one event to ${fanOuts.map((f) => f.subscriptions).join(' / ')} subscriptions: each exactly once (lost 0)`,
      value: fanOuts.flatMap((f) => f.events.map((e) => `${e.delivered}/${f.subscriptions}`)).join(', '),
      met: fanOutExact,
    },
    {
      target: 'one hanging receiver: other subscribers\' deliveries p99 ≤ 1 s (same and unrelated events)',
      value: `${hanging.sameEvents.p99} / ${hanging.unrelatedEvents.p99} ms`,
      met: hanging.complete && hanging.sameEvents.p99 <= 1000 && hanging.unrelatedEvents.p99 <= 1000,
    },
    ...(quick ? [] : [{ target: 'local end-to-end ≥ 250 events/s (10,000 events × 3 webhooks)', value: e2e.eventsPerSecond, met: e2e.eventsPerSecond >= 250 }]),
  ];

  const results = {
    date: new Date().toISOString(),
    quick,
    machine: {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      // Other processes on the machine slow every timing: the 1-minute load average at start and end.
      loadAverage: { start: round(loadAverageAtStart, 2), end: round(os.loadavg()[0], 2) },
    },
    bundles,
    coldStart: cold,
    warmCpu: { ingestMicrosPerRequest: round(ingestMicros), processor: processorMicros },
    warmInvocations: warm,
    endToEnd: e2e,
    fanOut: fanOuts,
    hangingReceiver: hanging,
    cost: costs,
    targets,
  };
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');

  const ratio = (m: { ratioToEmptyNode: number; medianMs: number; p10Ms: number; p90Ms: number; cpu: { ratioToEmptyNode: number } }) =>
    `${m.ratioToEmptyNode}× (${m.medianMs} ms, p10 ${m.p10Ms}, p90 ${m.p90Ms}; CPU ${m.cpu.ratioToEmptyNode}×)`;
  const rows: [string, string][] = [
    ...bundles.map((b): [string, string] => [`bundle ${b.name}`, `${(b.bytes / 1024).toFixed(0)} KiB (${(b.gzipBytes / 1024).toFixed(0)} KiB gzip)`]),
    ['empty Node.js process', `${cold.emptyNode.medianMs} ms (p10 ${cold.emptyNode.p10Ms}, p90 ${cold.emptyNode.p90Ms}; CPU ${cold.emptyNode.cpu.medianMs} ms), ${cold.runs} interleaved runs`],
    ...cold.bundles.flatMap((b): [string, string][] => [
      [`cold start ${b.name}`, `${ratio(b)}; tracing off ${ratio(b.tracingOff)}`],
      [`  load only ${b.name}`, ratio(b.loadOnly)],
      [`  ${b.name} above floor ${b.aboveSdkFloorMs.floor}`, `+${b.aboveSdkFloorMs.tracingOn} ms (tracing off +${b.aboveSdkFloorMs.tracingOff} ms)`],
    ]),
    // What no handler goes below in this measurement (bench/floors.ts): ingest environment, tracing off.
    ...cold.floors.flatMap((f): [string, string][] => [
      [`floor ${f.name}`, `${ratio(f)}; ${(f.bytes / 1024).toFixed(0)} KiB bundle, ${f.answered}/${cold.runs} answered: ${f.description}`],
      ...(f.loadOnly ? [[`  load only ${f.name}`, ratio(f.loadOnly)] as [string, string]] : []),
    ]),
    ['warm CPU ingest (in-memory ports)', `${round(ingestMicros)} µs / request`],
    ...processorMicros.map((p): [string, string] => [`warm CPU processor, k=${p.subscriptions}`, `${p.microsPerEvent} µs / event (signing included)`]),
    ['warm invocation ingest', `${warm.ingestSingle.cpuMs} ms CPU, ${warm.ingestSingle.logBytes} log bytes (single POST); ${warm.ingestBatch100.cpuMs} ms, ${warm.ingestBatch100.logBytes} B (batch of 100)`],
    ...warm.processorBatch10.map((p): [string, string] => [`warm invocation processor, k=${p.subscriptions}`, `${p.cpuMs} ms CPU, ${p.logBytes} log bytes in ${p.logLines} lines per batch of 10`]),
    ['end to end', `${e2e.events} events × 3 webhooks in ${e2e.seconds.toFixed(1)} s: ${e2e.eventsPerSecond} events/s, ${e2e.deliveriesPerSecond} deliveries/s (load average ${e2e.loadAverage.before} → ${e2e.loadAverage.after})`],
    ['publish → delivery', `p50 ${e2e.latencyMs.p50} ms, p99 ${e2e.latencyMs.p99} ms`],
    ['exactly once', `${e2e.exactlyOnce ? 'yes' : 'NO'} (missing ${e2e.missing}, duplicates ${e2e.duplicates}, bad signatures ${e2e.badSignatures})`],
    ...e2e.requests.map((r): [string, string] => [`AWS requests / event, k=${r.subscriptions}`, Object.entries(r.perEvent).map(([op, n]) => `${op} ${n}`).join(', ')]),
    ['one hanging receiver', `${hanging.events} events in ${hanging.windowMs / 1000} s to it; the others got theirs: same events `
      + `p50 ${hanging.sameEvents.p50} / p99 ${hanging.sameEvents.p99} / max ${hanging.sameEvents.max} ms, unrelated `
      + `p50 ${hanging.unrelatedEvents.p50} / p99 ${hanging.unrelatedEvents.p99} / max ${hanging.unrelatedEvents.max} ms${hanging.complete ? '' : ' (INCOMPLETE)'}`],
    ...fanOuts.flatMap((f) => f.events.map((e): [string, string] => [
      `fan-out k=${f.subscriptions}, ${f.queue}, receiver ${e.receiverDelayMs} ms`,
      `last delivery after ${e.secondsToLastDelivery} s, ${e.followUps} follow-ups, ${e.requestsPerDelivery} AWS requests / delivery, `
        + `lost ${e.lost}, duplicates ${e.duplicates}`,
    ])),
    ...costs.perMillionEvents.map((c): [string, string] => [`$ / million events, k=${c.subscriptions}`, `single POSTs $${c.single.total}, batches of 100 $${c.batch100.total}`]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nevent-notification-service benchmark${quick ? ' (quick)' : ''} — ${results.machine.cpus} CPUs, Node.js ${process.version}, `
    + `load average ${results.machine.loadAverage.start} → ${results.machine.loadAverage.end}\n`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log('\n  targets');
  for (const t of targets) console.log(`  ${t.met ? 'met    ' : 'NOT MET'}  ${t.target}: ${t.value}`);
  console.log(`\n  written to ${path.relative(process.cwd(), out)}\n`);
  // Timings never fail the run; a lost or duplicated delivery does.
  process.exitCode = e2e.exactlyOnce && fanOutExact && hanging.complete ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
