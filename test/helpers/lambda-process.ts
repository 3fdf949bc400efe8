import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Server } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, SQSEvent } from 'aws-lambda';
import sesV2Local from 'aws-ses-v2-local';
import * as esbuild from 'esbuild';
import { apiEvent } from './api-event';
import { Receiver, Responder, startReceiver } from './receivers';
import { startXRayDaemon, XRayDaemon } from './xray-daemon';
import { DynamoSubscriptionStore } from '../../lambda/adapters/dynamo-subscription-store';
import { newId } from '../../lambda/core/ids';
import { queueMessageBody } from '../../lambda/core/queue-message';
import { SubscriptionsService } from '../../lambda/core/subscriptions-service';
import { QueueStore } from '../../local/queue-store';
import { startSqsServer } from '../../local/sqs-server';
import { tableDefinitions } from '../../local/tables';
import { FunctionName, templateConfig } from '../../local/template-config';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

/**
 * The deployed handler bundles, each run in a Node.js process of its own as a Lambda execution
 * environment runs it (test/helpers/lambda-child.ts): Lambda's environment (the role's
 * credentials in environment variables, AWS_EXECUTION_ENV, the X-Ray daemon address and trace
 * header), the function's settings from the synthesized template, and local endpoints for what
 * it calls: dynalite, the local SQS server, a webhook receiver, an SES emulator, and an X-Ray
 * daemon stand-in. As in AWS, the functions reach them over HTTPS (a TLS front with a
 * certificate made for the run, trusted through NODE_EXTRA_CA_CERTS): a first request pays for
 * TLS as it does in Lambda, and takes the SDK's HTTPS path. The benchmark's cold starts and the
 * tracing tests use it.
 */

const ROOT = path.join(__dirname, '..', '..');
export const FUNCTIONS: readonly FunctionName[] = ['ingest', 'management', 'processor'];
const MEMORY_MB: Record<FunctionName, number> = { ingest: 256, management: 256, processor: 512 };
const REGION = 'us-east-1';
/** The API key id that owns the subscriptions and publishes the events. */
export const OWNER_KEY_ID = 'bench-owner-key';
export const EVENT_TYPE = 'bench.cold';
/** Credentials as Lambda passes the execution role's (fake ones: nothing here reaches AWS). */
export const LAMBDA_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLEBENCH0001',
  AWS_SECRET_ACCESS_KEY: 'benchSecretAccessKey0000000000000000000000',
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEBench'.padEnd(400, 'x'),
} as const;

export function bundlePath(fn: FunctionName): string {
  return path.join(ROOT, 'assets', fn, 'index.js');
}

/** The environment Lambda gives every function (what the SDK, Powertools and X-Ray read). */
export function lambdaEnvironment(fn: FunctionName, xrayDaemon: string, sampled: boolean): Record<string, string> {
  const name = `ens-bench-${fn}`;
  return {
    PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    ...LAMBDA_CREDENTIALS,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(MEMORY_MB[fn]),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2026/11/24/[$LATEST]0123456789abcdef',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    AWS_LAMBDA_LOG_LEVEL: 'INFO',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: path.dirname(bundlePath(fn)),
    _HANDLER: 'index.handler',
    AWS_XRAY_DAEMON_ADDRESS: xrayDaemon,
    _AWS_XRAY_DAEMON_ADDRESS: xrayDaemon.split(':')[0],
    _AWS_XRAY_DAEMON_PORT: xrayDaemon.split(':')[1],
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    // The runtime sets it per invocation; the first request of a trace is sampled.
    _X_AMZN_TRACE_ID: `Root=1-6743a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=${sampled ? 1 : 0};Lineage=1:a1b2c3d4:0`,
  };
}

/** What the child program reports (test/helpers/lambda-child.ts). */
export interface ChildReport {
  readonly loadMs?: number;
  readonly firstMs?: number;
  readonly cpuMs?: number;
  readonly xraySdkLoaded?: boolean;
  readonly result?: any;
  readonly results?: any[];
  readonly stdoutBytes?: number[];
  readonly stdoutLines?: number[];
  readonly invocationCpuMs?: number[];
  readonly error?: string;
}

export interface ChildRun {
  /** Wall time from spawn to exit. */
  readonly ms: number;
  readonly stdout: string;
  readonly report: ChildReport;
}

/** The child program, bundled into `outdir` (plain JavaScript: nothing else is loaded with it). */
export function buildLambdaChild(outdir: string): string {
  const outfile = path.join(outdir, 'lambda-child.js');
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, 'lambda-child.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** Runs the child program: `args` are its mode, bundle and event(s). Rejects if it fails. */
export function runLambdaChild(
  child: string, args: readonly string[], env: Record<string, string>, nodeOptions: readonly string[] = [],
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let ms = 0;
    const stdout: Buffer[] = [];
    let stderr = '';
    const proc = spawn(process.execPath, [...nodeOptions, child, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.on('exit', () => (ms = Number(process.hrtime.bigint() - started) / 1e6));
    proc.on('error', reject);
    proc.on('close', (code) => {
      const last = stderr.trim().split('\n').pop() ?? '';
      let report: ChildReport;
      try {
        report = JSON.parse(last) as ChildReport;
      } catch {
        report = { error: stderr.slice(-2000) };
      }
      if (code !== 0) reject(new Error(`${args.join(' ').slice(0, 200)} exited ${code}: ${report.error ?? stderr.slice(-2000)}`));
      else resolve({ ms, stdout: Buffer.concat(stdout).toString('utf8'), report });
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (openssl), in `dir`. */
function makeCertificate(dir: string): { key: string; cert: string; certFile: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile };
}

/** An HTTPS front for a local HTTP server: `https://127.0.0.1:port` → `target`. */
async function tlsFront(target: string, tls: { key: string; cert: string }): Promise<{ url: string; stop(): Promise<void> }> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const server = https.createServer(tls, (req, res) => {
    const forward = http.request({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface SubscriptionSpec {
  readonly eventType?: string;
  readonly channel: 'WEBHOOK' | 'EMAIL';
  /** The target; for webhooks, given the receiver's URL. */
  readonly target: (receiverUrl: string) => string;
}

export interface LambdaEndpointsOptions {
  /** Created before any function runs (owner OWNER_KEY_ID); default: one webhook to the receiver for EVENT_TYPE. */
  readonly subscriptions?: readonly SubscriptionSpec[];
  /** How the webhook receiver answers (default 200). */
  readonly responder?: Responder;
  /** Deploy with `email` (an SES emulator answers SendEmail). */
  readonly email?: boolean;
}

export interface LambdaEndpoints {
  readonly xray: XRayDaemon;
  readonly receiver: Receiver;
  /** The receiver's HTTPS address, as subscriptions name it. */
  readonly receiverUrl: string;
  /** The subscriptions created at start, with their secrets. */
  readonly subscriptions: readonly { readonly subscriptionId: string; readonly secret?: string; readonly target: string }[];
  /** A function process's environment: Lambda's, its settings from the template, the local endpoints. */
  environment(fn: FunctionName, options: { readonly tracing: boolean }): Record<string, string>;
  stop(): Promise<void>;
}

export async function startLambdaEndpoints(options: LambdaEndpointsOptions = {}): Promise<LambdaEndpoints> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-lambda-'));
  const tables = { events: 'ens-events', subscriptions: 'ens-subscriptions', notifications: 'ens-notifications' };
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => dynamo.listen(0, '127.0.0.1', () => resolve()));
  const dynamoEndpoint = `http://127.0.0.1:${(dynamo.address() as AddressInfo).port}`;
  const store = new QueueStore(path.join(dataDir, 'queues.log'), [
    { name: 'ens-events', fifo: false, deadLetterQueue: 'ens-events-dlq', maxReceiveCount: 13 },
    { name: 'ens-events-dlq', fifo: false },
  ]);
  const sqs = await startSqsServer(store);
  const receiver = await startReceiver({ responder: options.responder ?? (() => ({ status: 200 })) });
  const xray = await startXRayDaemon();
  const ses = options.email ? await sesV2Local({ host: '127.0.0.1', port: 0 }) : undefined;
  const tls = makeCertificate(dataDir);
  const fronts: Record<'dynamo' | 'sqs' | 'receiver', Awaited<ReturnType<typeof tlsFront>>> & { ses?: Awaited<ReturnType<typeof tlsFront>> } = {
    dynamo: await tlsFront(dynamoEndpoint, tls),
    sqs: await tlsFront(sqs.endpoint, tls),
    receiver: await tlsFront(receiver.url, tls),
    ...(ses ? { ses: await tlsFront(`http://127.0.0.1:${(ses.address() as AddressInfo).port}`, tls) } : {}),
  };

  const client = new DynamoDBClient({ endpoint: dynamoEndpoint, region: REGION, credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
  for (const definition of tableDefinitions(tables)) await client.send(new CreateTableCommand(definition));
  // Created the way the API creates them.
  const service = new SubscriptionsService(
    new DynamoSubscriptionStore(DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }), tables.subscriptions),
    { allowPrivateTargets: true },
  );
  const subscriptions = [];
  for (const spec of options.subscriptions ?? [{ channel: 'WEBHOOK', target: (url: string) => `${url}/hook` }]) {
    const target = spec.target(fronts.receiver.url);
    const created = await service.create({
      method: 'POST',
      route: '/subscriptions',
      pathParameters: {},
      queryParameters: {},
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eventType: spec.eventType ?? EVENT_TYPE, channel: spec.channel, target }),
      callerKeyId: OWNER_KEY_ID,
    });
    if (created.statusCode !== 201) throw new Error(`subscription: ${created.statusCode} ${created.body}`);
    const body = JSON.parse(created.body) as { subscriptionId: string; secret?: string };
    subscriptions.push({ subscriptionId: body.subscriptionId, secret: body.secret, target });
  }
  client.destroy();

  // The SDK sends SQS calls to the queue URL's host: the HTTPS front.
  const resources = {
    eventsQueueUrl: sqs.queueUrl('ens-events').replace(sqs.endpoint, fronts.sqs.url),
    deadLetterQueueUrl: sqs.queueUrl('ens-events-dlq').replace(sqs.endpoint, fronts.sqs.url),
    tables,
    defaultApiKeyId: OWNER_KEY_ID,
  };
  const props = options.email ? { emailFrom: 'notifications@bench.example.com' } : {};
  const settings = {
    on: templateConfig({ ...props, tracing: true }, resources).functions,
    off: templateConfig({ ...props, tracing: false }, resources).functions,
  };

  return {
    xray,
    receiver,
    receiverUrl: fronts.receiver.url,
    subscriptions,
    environment: (fn, { tracing }) => ({
      ...lambdaEnvironment(fn, xray.address, tracing),
      ...(tracing ? settings.on : settings.off)[fn],
      // Local only: where the SDK finds the local services, the certificate they present, and
      // webhooks to 127.0.0.1.
      AWS_ENDPOINT_URL_DYNAMODB: fronts.dynamo.url,
      AWS_ENDPOINT_URL_SQS: fronts.sqs.url,
      ...(fronts.ses ? { AWS_ENDPOINT_URL_SESV2: fronts.ses.url } : {}),
      NODE_EXTRA_CA_CERTS: tls.certFile,
      ...(fn === 'processor' || fn === 'management' ? { ALLOW_PRIVATE_TARGETS: 'true' } : {}),
    }),
    async stop() {
      for (const front of Object.values(fronts)) await front!.stop();
      await xray.stop();
      await receiver.close();
      await sqs.stop();
      store.close();
      if (ses) {
        ses.closeAllConnections();
        await new Promise<void>((resolve) => ses.close(() => resolve()));
      }
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The event the benchmark publishes (a deploy notice of ~200 bytes). */
export const EVENT_BODY = JSON.stringify({
  eventType: EVENT_TYPE,
  severity: 'HIGH',
  title: 'Deploy 4711 of billing finished',
  details: { service: 'billing', version: 'v42', region: 'eu-west-1', commit: '4f1c2a9e', durationSeconds: 312 },
});

/** POST /events with `body` (default EVENT_BODY), as API Gateway passes it. */
export function publishEvent(body: string = EVENT_BODY): APIGatewayProxyEvent {
  return apiEvent({ method: 'POST', resource: '/events', body, apiKeyId: OWNER_KEY_ID });
}

/** POST /events/batch of `count` events. */
export function publishBatchEvent(count: number, body: string = EVENT_BODY): APIGatewayProxyEvent {
  const events = Array.from({ length: count }, () => JSON.parse(body) as unknown);
  return apiEvent({ method: 'POST', resource: '/events/batch', body: JSON.stringify({ events }), apiKeyId: OWNER_KEY_ID });
}

/** GET /subscriptions of the owner key. */
export function listSubscriptionsEvent(): APIGatewayProxyEvent {
  return apiEvent({ method: 'GET', resource: '/subscriptions', apiKeyId: OWNER_KEY_ID });
}

/** One SQS batch of `count` events (new ids), as the event source mapping passes it. */
export function queueBatchEvent(count = 1, body: string = EVENT_BODY): SQSEvent {
  const now = Date.now();
  return {
    Records: Array.from({ length: count }, () => {
      const eventId = newId('evt');
      return {
        messageId: `m-${eventId}`,
        receiptHandle: `r-${eventId}`,
        body: queueMessageBody({ eventId, receivedAt: new Date(now).toISOString(), source: 'api', publisherKeyId: OWNER_KEY_ID, eventJson: body }),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(now), SenderId: 'AIDAEXAMPLE', ApproximateFirstReceiveTimestamp: String(now) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${REGION}:000000000000:ens-events`,
        awsRegion: REGION,
      };
    }),
  };
}
