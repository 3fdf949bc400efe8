import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFloors, FloorName, FLOORS, SDK_FLOOR_OF } from './floors';
import type { FunctionName } from '../local/template-config';
import {
  buildLambdaChild, bundlePath, ChildRun, FUNCTIONS, LambdaEndpoints, listSubscriptionsEvent, publishEvent, queueBatchEvent, runLambdaChild,
  startLambdaEndpoints,
} from '../test/helpers/lambda-process';

/**
 * Cold start as Lambda makes it: a new Node.js process loads a handler bundle and answers its
 * first invocation against local endpoints, with Lambda's environment and the function's
 * settings from the synthesized template (test/helpers/lambda-process.ts). Each run is a fresh
 * process timed from spawn to exit; an empty Node.js process (the same child program, loading
 * nothing) is timed the same way in the same rounds, so drift on the machine touches all alike.
 *
 * First requests: ingest a POST /events (one SQS SendMessage), management a GET /subscriptions
 * (one DynamoDB Query), processor one SQS batch of one event matching one webhook subscription
 * (DynamoDB PutItem, Query, BatchWriteItem and the webhook).
 *
 * Floors (bench/floors.ts), in the same rounds with the ingest environment and tracing off: a
 * handler with no SDK making one HTTPS request, and bundles of one SDK client alone making their
 * function's first AWS call. No handler that answers its first request over HTTPS, with AWS SDK
 * v3, can be faster than its floor in this measurement.
 */

export interface Spread {
  readonly medianMs: number;
  readonly p10Ms: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** Wall time from spawn to exit, and the process's CPU time, each against the empty process's. */
export interface Measured extends Spread {
  readonly ratioToEmptyNode: number;
  readonly cpu: { readonly medianMs: number; readonly p10Ms: number; readonly p90Ms: number; readonly ratioToEmptyNode: number };
}

export interface ColdStartBundle extends Measured {
  readonly name: FunctionName;
  /** Module load only (require the bundle, then exit). */
  readonly loadOnly: Measured;
  /** Load plus first request with `tracing: false`. */
  readonly tracingOff: Measured;
  /** Inside the process (medians): Node.js start to bundle loaded, loaded to first answer; tracing on and off. */
  readonly inProcess: {
    readonly loadedAtMs: number;
    readonly firstRequestMs: number;
    readonly loadedAtMsTracingOff: number;
    readonly firstRequestMsTracingOff: number;
  };
  /** X-Ray documents the first request sent with tracing on, and the subsegments' names. */
  readonly tracing: { readonly documents: number; readonly subsegments: readonly string[] };
  /** Median wall time of load plus first request above the SDK floor of the client it uses (bench/floors.ts). */
  readonly aboveSdkFloorMs: { readonly floor: FloorName; readonly tracingOn: number; readonly tracingOff: number };
}

/** A floor's load plus first request (ingest environment, tracing off). */
export interface ColdStartFloor extends Measured {
  readonly name: FloorName;
  readonly description: string;
  /** Bytes of its bundle (the bundle:handlers task's esbuild flags). */
  readonly bytes: number;
  /** First requests answered with a 2xx (every run, or the benchmark stops). */
  readonly answered: number;
  /** Module load only (the SDK floors). */
  readonly loadOnly?: Measured;
}

export interface ColdStartResult {
  readonly runs: number;
  /** A Node.js process that runs an empty script (the child program loading nothing). */
  readonly emptyNode: Spread & { readonly cpu: Spread };
  /** The empty process's median (as earlier results named it). */
  readonly emptyNodeMs: number;
  /** Load plus first request, tracing on (the construct's default): `ratioToEmptyNode` is the cold-start figure. */
  readonly bundles: ColdStartBundle[];
  /** What no handler can go below in this measurement (bench/floors.ts). */
  readonly floors: ColdStartFloor[];
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function spread(values: readonly number[]): Spread {
  return {
    medianMs: round(median(values)),
    p10Ms: round(percentile(values, 10)),
    p90Ms: round(percentile(values, 90)),
    minMs: round(Math.min(...values)),
    maxMs: round(Math.max(...values)),
  };
}

/** The first invocation's event of each function (new ids each time). */
export function firstEvent(fn: FunctionName): unknown {
  if (fn === 'ingest') return publishEvent();
  if (fn === 'management') return listSubscriptionsEvent();
  return queueBatchEvent(1);
}

/** What a successful first invocation answers. */
function succeeded(result: any): boolean {
  if (result && typeof result.statusCode === 'number') return result.statusCode >= 200 && result.statusCode < 300;
  return Array.isArray(result?.batchItemFailures) && result.batchItemFailures.length === 0;
}

/**
 * `runs` rounds of: the empty process, then per function its bundle loaded, loaded plus first
 * request with tracing on, and with tracing off, then each floor's load plus first request (and
 * load only, for the SDK floors).
 */
export async function coldStart(runs: number): Promise<ColdStartResult> {
  const endpoints: LambdaEndpoints = await startLambdaEndpoints();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-cold-'));
  const child = buildLambdaChild(tmp);
  const floorBundles = buildFloors(path.join(tmp, 'floors'));
  const floorBytes = Object.fromEntries(FLOORS.map((f) => [f.name, fs.statSync(floorBundles[f.name]).size])) as Record<FloorName, number>;
  const answered = new Map<FloorName, number>();
  const empty: ChildRun[] = [];
  const times = new Map<string, ChildRun[]>();
  const push = (key: string, run: ChildRun) => times.set(key, [...(times.get(key) ?? []), run]);
  const tracing = new Map<FunctionName, { documents: number; subsegments: string[] }>();
  const first = async (fn: FunctionName, on: boolean) => {
    const run = await runLambdaChild(child, ['first', bundlePath(fn), JSON.stringify(firstEvent(fn))], endpoints.environment(fn, { tracing: on }));
    if (!succeeded(run.report.result)) throw new Error(`${fn}: unexpected first answer ${JSON.stringify(run.report.result).slice(0, 500)}`);
    return run;
  };
  try {
    for (let r = 0; r < runs; r++) {
      empty.push(await runLambdaChild(child, ['empty'], endpoints.environment('ingest', { tracing: true })));
      for (const fn of FUNCTIONS) {
        push(`${fn}/load`, await runLambdaChild(child, ['load', bundlePath(fn)], endpoints.environment(fn, { tracing: true })));
        endpoints.xray.clear();
        push(`${fn}/on`, await first(fn, true));
        await new Promise((resolve) => setTimeout(resolve, 5)); // the last datagrams
        if (r === 0) {
          const subsegments = endpoints.xray.all().filter((d) => d.type === 'subsegment').map((d) => d.name).sort();
          tracing.set(fn, { documents: endpoints.xray.documents.length, subsegments });
        }
        push(`${fn}/off`, await first(fn, false));
      }
      const floorEnvironment = endpoints.environment('ingest', { tracing: false });
      for (const floor of FLOORS) {
        if (floor.sdk) push(`floor:${floor.name}/load`, await runLambdaChild(child, ['load', floorBundles[floor.name]], floorEnvironment));
        const run = await runLambdaChild(child, ['first', floorBundles[floor.name], '{}'], floorEnvironment);
        if (!succeeded(run.report.result)) throw new Error(`floor ${floor.name}: unexpected first answer ${JSON.stringify(run.report.result).slice(0, 500)}`);
        answered.set(floor.name, (answered.get(floor.name) ?? 0) + 1);
        push(`floor:${floor.name}/first`, run);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await endpoints.stop();
  }
  const emptyCpu = empty.map((r) => r.report.cpuMs!);
  const emptyMs = empty.map((r) => r.ms);
  const wall = (key: string) => times.get(key)!.map((r) => r.ms);
  const measured = (key: string): Measured => {
    const ms = wall(key);
    const cpu = times.get(key)!.map((r) => r.report.cpuMs!);
    const c = spread(cpu);
    return {
      ...spread(ms),
      ratioToEmptyNode: round(median(ms) / median(emptyMs), 2),
      cpu: { medianMs: c.medianMs, p10Ms: c.p10Ms, p90Ms: c.p90Ms, ratioToEmptyNode: round(median(cpu) / median(emptyCpu), 2) },
    };
  };
  const inside = (key: string) => ({
    loadedAt: round(median(times.get(key)!.map((r) => r.report.loadMs!))),
    first: round(median(times.get(key)!.map((r) => r.report.firstMs! - r.report.loadMs!))),
  });
  return {
    runs,
    emptyNode: { ...spread(emptyMs), cpu: spread(emptyCpu) },
    emptyNodeMs: round(median(emptyMs)),
    bundles: FUNCTIONS.map((name) => ({
      name,
      ...measured(`${name}/on`),
      loadOnly: measured(`${name}/load`),
      tracingOff: measured(`${name}/off`),
      inProcess: {
        loadedAtMs: inside(`${name}/on`).loadedAt,
        firstRequestMs: inside(`${name}/on`).first,
        loadedAtMsTracingOff: inside(`${name}/off`).loadedAt,
        firstRequestMsTracingOff: inside(`${name}/off`).first,
      },
      tracing: tracing.get(name)!,
      aboveSdkFloorMs: {
        floor: SDK_FLOOR_OF[name],
        tracingOn: round(median(wall(`${name}/on`)) - median(wall(`floor:${SDK_FLOOR_OF[name]}/first`))),
        tracingOff: round(median(wall(`${name}/off`)) - median(wall(`floor:${SDK_FLOOR_OF[name]}/first`))),
      },
    })),
    floors: FLOORS.map((floor) => ({
      name: floor.name,
      description: floor.description,
      bytes: floorBytes[floor.name],
      answered: answered.get(floor.name) ?? 0,
      ...measured(`floor:${floor.name}/first`),
      ...(floor.sdk ? { loadOnly: measured(`floor:${floor.name}/load`) } : {}),
    })),
  };
}
