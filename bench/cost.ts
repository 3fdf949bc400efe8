import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, round } from './cold-start';
import type { RequestCounts } from './end-to-end';
import {
  buildLambdaChild, bundlePath, EVENT_BODY, publishBatchEvent, publishEvent, queueBatchEvent, runLambdaChild, startLambdaEndpoints,
} from '../test/helpers/lambda-process';

/** The subscriber counts the cost model covers. */
export const SUBSCRIBERS = [1, 3, 25] as const;

export interface Prices {
  readonly region: string;
  readonly asOf: string;
  readonly apiGatewayRestPerMillionRequests: number;
  readonly lambdaPerMillionRequests: number;
  readonly lambdaArmPerGbSecond: number;
  readonly sqsStandardPerMillionRequests: number;
  readonly dynamoDbOnDemandPerMillionWriteUnits: number;
  readonly dynamoDbOnDemandPerMillionReadUnits: number;
  readonly cloudWatchLogsPerGbIngested: number;
  readonly cloudWatchLogsEventOverheadBytes: number;
  readonly xrayPerMillionTracesRecorded: number;
}

/** Per warm invocation: bytes written to the log (log lines and EMF metrics), log lines, CPU ms. */
export interface InvocationFigures {
  readonly logBytes: number;
  readonly logLines: number;
  readonly cpuMs: number;
}

/** What the handlers do per warm invocation, measured on the real bundles (test/helpers/lambda-process.ts). */
export interface WarmInvocations {
  /** Bytes written to the log (log lines and EMF metrics) and log lines, CPU ms. */
  readonly ingestSingle: { readonly logBytes: number; readonly logLines: number; readonly cpuMs: number };
  readonly ingestBatch100: { readonly logBytes: number; readonly logLines: number; readonly cpuMs: number };
  /** One SQS batch of 10 events, each matching k webhook subscriptions. */
  readonly processorBatch10: readonly (InvocationFigures & { readonly subscriptions: number })[];
}

/**
 * Warm invocations of the real bundles in Lambda-like processes: `rounds` invocations after a
 * first (cold) one, medians. Log output is what the functions write to stdout, which Lambda
 * sends to CloudWatch Logs (the platform's own START/END/REPORT lines are INFO-level system
 * logs, which the construct's system log level WARN drops).
 */
export async function warmInvocations(rounds: number): Promise<WarmInvocations> {
  const endpoints = await startLambdaEndpoints({
    subscriptions: SUBSCRIBERS.flatMap((k) => Array.from({ length: k }, (_, i) => ({
      eventType: `bench.k${k}`, channel: 'WEBHOOK' as const, target: (url: string) => `${url}/k${k}/${i}`,
    }))),
  });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-warm-'));
  const child = buildLambdaChild(tmp);
  try {
    const warm = async (fn: 'ingest' | 'processor', events: unknown[]) => {
      const file = path.join(tmp, 'events.json');
      fs.writeFileSync(file, JSON.stringify(events));
      const run = await runLambdaChild(child, ['invoke', bundlePath(fn), `@${file}`], endpoints.environment(fn, { tracing: true }));
      const warmOnly = (values: number[] | undefined) => median(values!.slice(1)); // the first invocation was the cold one
      return {
        logBytes: warmOnly(run.report.stdoutBytes),
        logLines: warmOnly(run.report.stdoutLines),
        cpuMs: round(warmOnly(run.report.invocationCpuMs), 2),
      };
    };
    const ingestSingle = await warm('ingest', Array.from({ length: rounds + 1 }, () => publishEvent()));
    const ingestBatch100 = await warm('ingest', Array.from({ length: Math.max(2, Math.ceil(rounds / 5)) + 1 }, () => publishBatchEvent(100)));
    const processorBatch10 = [];
    for (const k of SUBSCRIBERS) {
      const body = JSON.stringify({ ...JSON.parse(EVENT_BODY), eventType: `bench.k${k}` });
      processorBatch10.push({ subscriptions: k, ...await warm('processor', Array.from({ length: rounds + 1 }, () => queueBatchEvent(10, body))) });
    }
    return { ingestSingle, ingestBatch100, processorBatch10 };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await endpoints.stop();
  }
}

export interface CostInputs {
  readonly prices: Prices;
  readonly warm: WarmInvocations;
  /** AWS requests per event counted on the local runtime, per k. */
  readonly requests: readonly RequestCounts[];
  readonly itemBytes: { readonly event: number; readonly notification: number; readonly subscription: number };
  /** INIT duration per function (process start to handler loaded, tracing on), ms. */
  readonly initMs: { readonly ingest: number; readonly processor: number };
}

/**
 * Assumptions the model makes (the README lists them with the table): latencies of AWS calls in
 * the functions' billed duration, the share of invocations that are cold starts (INIT is billed
 * since 1 August 2025 for on-demand functions), traffic high enough for the subscription cache
 * and X-Ray's sampling to behave as at scale.
 */
export const ASSUMPTIONS = {
  awsCallMs: 10,
  webhookMs: 50,
  coldStartShare: 0.01,
  /** X-Ray's default sampling rule: the first request each second, then 5 %. */
  xraySampledShare: 0.05,
  /** Processor instances refilling the cached subscription Query (30 s TTL) at 100 events/s. */
  subscriptionQueriesPerEvent: 2 / (30 * 100),
  ingestMemoryMb: 256,
  processorMemoryMb: 512,
  processorBatchSize: 10,
};

export type CostLines = Record<string, number> & { readonly total: number };

/**
 * $ per million events, per line item, for k webhook subscribers, single POSTs and batches of 100.
 * DynamoDB bills each item of a BatchWriteItem: 1 write unit per KB (rounded up) of each item.
 */
export function costModel({ prices, warm, requests, itemBytes, initMs }: CostInputs) {
  const a = ASSUMPTIONS;
  const gbSeconds = (memoryMb: number, ms: number) => (memoryMb / 1024) * (Math.ceil(ms) / 1000);
  const lambda = (memoryMb: number, ms: number) => prices.lambdaPerMillionRequests / 1e6 + gbSeconds(memoryMb, ms) * prices.lambdaArmPerGbSecond;
  const logs = (bytes: number, lines: number) =>
    ((bytes + lines * prices.cloudWatchLogsEventOverheadBytes) / 2 ** 30) * prices.cloudWatchLogsPerGbIngested;
  const perMillion = (dollarsPerEvent: number) => dollarsPerEvent * 1e6;

  const lines = (k: number, mode: 'single' | 'batch100'): CostLines => {
    const counted = requests.find((r) => r.subscriptions === k)!.perEvent;
    const processor = warm.processorBatch10.find((p) => p.subscriptions === k)!;
    const eventsPerPost = mode === 'single' ? 1 : 100;
    const ingest = mode === 'single' ? warm.ingestSingle : warm.ingestBatch100;
    // Ingest: one SQS round trip per POST (a batch's SendMessageBatch calls run in parallel).
    const ingestMs = ingest.cpuMs + a.awsCallMs;
    // Processor, per batch of 10 run in parallel: PutItem, the webhooks in parallel, BatchWriteItem.
    const processorMs = processor.cpuMs + a.awsCallMs + a.webhookMs + a.awsCallMs;
    const invocationsPerEvent = { ingest: 1 / eventsPerPost, processor: 1 / a.processorBatchSize };
    const writeUnits = Math.ceil(itemBytes.event / 1024) + k * Math.ceil(itemBytes.notification / 1024);
    const readUnits = a.subscriptionQueriesPerEvent * Math.max(1, Math.ceil((k * itemBytes.subscription) / 4096)) * 0.5;
    const sqsSends = mode === 'single' ? (counted['sqs:SendMessage'] ?? 1) : 1 / a.processorBatchSize; // SendMessageBatch of 10
    const items = {
      apiGateway: prices.apiGatewayRestPerMillionRequests / 1e6 / eventsPerPost,
      lambdaIngest: invocationsPerEvent.ingest * lambda(a.ingestMemoryMb, ingestMs),
      lambdaProcessor: invocationsPerEvent.processor * lambda(a.processorMemoryMb, processorMs),
      lambdaInit: a.coldStartShare * (invocationsPerEvent.ingest * gbSeconds(a.ingestMemoryMb, initMs.ingest)
        + invocationsPerEvent.processor * gbSeconds(a.processorMemoryMb, initMs.processor)) * prices.lambdaArmPerGbSecond,
      // Sends, retries, and the event source mapping's ReceiveMessage and DeleteMessageBatch per batch.
      sqs: (sqsSends + (counted['sqs:ChangeMessageVisibility'] ?? 0) + 2 / a.processorBatchSize) * prices.sqsStandardPerMillionRequests / 1e6,
      dynamoDbWrites: writeUnits * prices.dynamoDbOnDemandPerMillionWriteUnits / 1e6,
      dynamoDbReads: readUnits * prices.dynamoDbOnDemandPerMillionReadUnits / 1e6,
      cloudWatchLogs: invocationsPerEvent.ingest * logs(ingest.logBytes, ingest.logLines)
        + invocationsPerEvent.processor * logs(processor.logBytes, processor.logLines),
      // Tracing on (the default): a trace per API request and per processor invocation, sampled.
      xray: a.xraySampledShare * (invocationsPerEvent.ingest + invocationsPerEvent.processor) * prices.xrayPerMillionTracesRecorded / 1e6,
    };
    const total = Object.values(items).reduce((x, y) => x + y, 0);
    return { ...Object.fromEntries(Object.entries(items).map(([key, v]) => [key, round(perMillion(v), 3)])), total: round(perMillion(total), 2) };
  };

  return {
    pricesAsOf: prices.asOf,
    region: prices.region,
    assumptions: ASSUMPTIONS,
    writeUnitsPerEvent: Object.fromEntries(SUBSCRIBERS.map((k) => [`k${k}`, Math.ceil(itemBytes.event / 1024) + k * Math.ceil(itemBytes.notification / 1024)])),
    perMillionEvents: SUBSCRIBERS.map((k) => ({ subscriptions: k, single: lines(k, 'single'), batch100: lines(k, 'batch100') })),
  };
}
