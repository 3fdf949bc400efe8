import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The benchmark must keep working: run `--quick` and check it measured everything. */
test('npm run bench -- --quick runs and reports every section', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ens-bench-smoke-')), 'results.json');
  const run = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/bench.ts', '--quick', '--out', out], {
    cwd: path.join(__dirname, '..', '..'),
    encoding: 'utf8',
    timeout: 240_000,
  });
  expect({ status: run.status, stderr: run.stderr.slice(-2000) }).toEqual({ status: 0, stderr: expect.any(String) });
  const results = JSON.parse(fs.readFileSync(out, 'utf8'));
  expect(results.bundles.map((b: { name: string }) => b.name)).toEqual(['ingest', 'management', 'processor']);
  // Lambda's credentials are in the environment: no other credential provider is bundled.
  for (const b of results.bundles) expect(b.credentialProviders).toEqual(['@aws-sdk/credential-provider-env']);
  // Cold start: load plus first request, tracing on and off, and load only, against the empty process.
  for (const b of results.coldStart.bundles) {
    for (const m of [b, b.tracingOff, b.loadOnly]) expect(m.ratioToEmptyNode).toBeGreaterThan(0);
  }
  // Floors in the same rounds: every first request answered, the SDK floors also loaded alone, each function against its client's floor.
  type Floor = { name: string; answered: number; loadOnly?: unknown };
  expect(results.coldStart.floors.map((f: Floor) => [f.name, f.answered, f.loadOnly !== undefined])).toEqual([
    ['https-request', results.coldStart.runs, false], ['sdk-sqs', results.coldStart.runs, true], ['sdk-dynamodb', results.coldStart.runs, true],
  ]);
  expect(results.coldStart.bundles.map((b: { aboveSdkFloorMs: { floor: string } }) => b.aboveSdkFloorMs.floor)).toEqual(['sdk-sqs', 'sdk-dynamodb', 'sdk-dynamodb']);
  // The first request with tracing on sent a subsegment per AWS call and webhook, under the invocation's.
  type Bundle = { name: string; tracing: { subsegments: string[] } };
  const subsegments = Object.fromEntries(results.coldStart.bundles.map((b: Bundle) => [b.name, b.tracing.subsegments]));
  expect(subsegments.ingest).toEqual(['## index.handler', 'SQS']);
  expect(subsegments.management).toEqual(['## index.handler', 'DynamoDB']);
  expect(subsegments.processor).toEqual(expect.arrayContaining(['## index.handler', '127.0.0.1', 'DynamoDB']));
  expect(results.warmCpu.processor.map((p: { subscriptions: number }) => p.subscriptions)).toEqual([1, 3, 25, 100]);
  // Counted, not timed: these hold on any machine.
  expect(results.warmInvocations.ingestSingle.logLines).toBe(1);
  expect(results.warmInvocations.processorBatch10.map((p: { logLines: number }) => p.logLines > 0)).toEqual([true, true, true]);
  expect(results.endToEnd.exactlyOnce).toBe(true);
  for (const r of results.endToEnd.requests) {
    expect(r.perEvent['dynamodb:PutItem'] + r.perEvent['dynamodb:BatchWriteItem']).toBeLessThanOrEqual(2);
    expect(r.perEvent['sqs:SendMessage']).toBe(1);
  }
  expect(results.endToEnd.sqsRequestsPerBatchPost).toEqual({ of10: 1, of100: 10 });
  expect(results.endToEnd.itemBytes.event).toBeLessThanOrEqual(1024);
  expect(results.endToEnd.itemBytes.notification).toBeLessThanOrEqual(1024);
  // BatchWriteItem bills per item: k notifications are k write units, besides the event's one.
  expect(results.cost.writeUnitsPerEvent).toEqual({ k1: 2, k3: 4, k25: 26 });
  for (const c of results.cost.perMillionEvents) expect(c.single.total).toBeGreaterThan(3.5);
  // One event to 200 subscriptions: 3 follow-ups of ≤ 75, each subscription exactly once.
  expect(results.fanOut[0].events[0]).toMatchObject({ followUps: 3, delivered: 200, lost: 0, duplicates: 0, badSignatures: 0 });
  // One hanging receiver: every other delivery arrived once, and it got no more requests than events.
  expect(results.hangingReceiver.complete).toBe(true);
  expect(results.hangingReceiver.hangingRequests).toBeLessThanOrEqual(results.hangingReceiver.events);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
}, 270_000);
