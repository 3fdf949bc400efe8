import * as fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import sesV2Local from 'aws-ses-v2-local';
import { LocalRoute, localApiKeyId, ProxyHandler, startApiServer } from './api-server';
import { lockDataFolder } from './data-lock';
import { LocalEventSource, SqsHandler } from './event-source';
import { loadFunction } from './load-function';
import { QueueStore } from './queue-store';
import { startSecretsServer } from './secrets-server';
import { startSqsServer } from './sqs-server';
import { tableDefinitions } from './tables';
import { LocalCircuitBreaker, templateConfig } from './template-config';
import { openApiDocument } from '../lambda/openapi/document';
import { API_ROUTES, ApiRoute, splitRoute } from '../src/contract';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export interface RuntimeOptions {
  /** API port on 127.0.0.1 (0: a free port). */
  readonly port?: number;
  /** Email viewer (SES emulator) port (0: a free port). */
  readonly sesPort?: number;
  readonly apiKeys: readonly string[];
  /**
   * Everything accepted is kept here: DynamoDB data and the queues. One runtime per folder: a
   * second one is refused (DataFolderInUseError) while the first runs.
   */
  readonly dataDir: string;
  readonly retryScheduleSeconds?: readonly number[];
  /**
   * The pipeline as `fifo: true` deploys it: FIFO events queue and dead-letter queue (names
   * ending in .fifo), deduplication per message group, and QUEUE_FIFO=true for the functions.
   */
  readonly fifo?: boolean;
  /** The construct's isolation prop: who receives whose events. */
  readonly isolation?: 'SHARED' | 'API_KEY';
  /** Let webhooks reach private and loopback addresses (local receivers). */
  readonly allowPrivateTargets?: boolean;
  readonly webhookTimeoutMs?: number;
  /** The construct's disableAfter: a subscription whose every delivery failed for this long is disabled. */
  readonly disableAfterSeconds?: number;
  /** The construct's circuitBreaker (failureThreshold 0: off). */
  readonly circuitBreaker?: LocalCircuitBreaker;
  /** The processor's time limit, as the construct's processorFunctionProps.timeout (the events queue's visibility is 6 ×). */
  readonly processorTimeoutSeconds?: number;
  readonly maxEventSizeBytes?: number;
  /** The construct's secretRotationOverlap, in seconds. */
  readonly secretRotationOverlapSeconds?: number;
  /** Sender of notification emails. */
  readonly emailFrom?: string;
  /** Log level of the handlers (WARN keeps the console quiet). */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Let the functions print their metrics (EMF JSON lines, as CloudWatch would read them) on stdout. */
  readonly metrics?: boolean;
  /** Visibility timeout of a batch whose processing failed as a whole. */
  readonly visibilityTimeoutSeconds?: number;
  /**
   * Processor batches in flight at once, each in a processor instance of its own (as in Lambda);
   * batches waiting over 500 ms on a receiver do not count, up to 64 (LocalEventSource scaleOut).
   */
  readonly concurrency?: number;
  /**
   * Lets a caller put something between the handlers and a local service (the benchmark counts
   * AWS requests with a proxy): given the service's endpoint, returns the one to use.
   */
  readonly endpointFor?: (service: 'dynamodb' | 'sqs' | 'sesv2', endpoint: string) => Promise<string>;
  /** JSON Schemas per event type (the construct's eventSchemas, in standard JSON Schema). */
  readonly eventSchemas?: Readonly<Record<string, object>>;
  /** Inbound webhook sources (`POST /webhooks/{name}`) with their signing secrets. */
  readonly inboundWebhooks?: readonly LocalInboundSource[];
}

/** An inbound webhook source of the local runtime. */
export interface LocalInboundSource {
  readonly name: string;
  readonly provider: 'shopify' | 'github' | 'stripe' | 'standard-webhooks';
  readonly secret: string;
  readonly severity?: 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
}

export interface Runtime {
  readonly apiUrl: string;
  readonly emailViewerUrl: string;
  readonly sqsEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly fifo: boolean;
  readonly queueNames: { readonly events: string; readonly deadLetter: string };
  readonly queueUrls: { readonly events: string; readonly deadLetter: string };
  /** The events queue's redrive maxReceiveCount (MAX_RECEIVE_COUNT of the processor). */
  readonly maxReceiveCount: number;
  readonly tableNames: { readonly events: string; readonly subscriptions: string; readonly notifications: string };
  readonly store: QueueStore;
  stop(): Promise<void>;
}

export const DEFAULT_RETRY_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];
/** Queue names per kind: SQS requires a FIFO queue's name to end with .fifo. */
const QUEUE_NAMES = {
  standard: { events: 'ens-events', deadLetter: 'ens-events-dlq' },
  fifo: { events: 'ens-events.fifo', deadLetter: 'ens-events-dlq.fifo' },
} as const;
const TABLES = { events: 'ens-events', subscriptions: 'ens-subscriptions', notifications: 'ens-notifications' };
/** Stand-ins for the queue URLs in the template's values until the local SQS server has its port. */
const QUEUE_URL_PLACEHOLDERS = { events: '@@events-queue-url@@', deadLetter: '@@dead-letter-queue-url@@' };

/** Where the prebuilt handler bundles are (the same files the construct deploys). */
export function bundlePath(name: 'ingest' | 'management' | 'processor'): string {
  const file = path.join(__dirname, '..', 'assets', name, 'index.js');
  if (!fs.existsSync(file)) throw new Error(`Missing ${file}: run "npx projen bundle:handlers" first.`);
  return file;
}

/**
 * The whole pipeline on one machine with the real handler code: the deployed bundles, DynamoDB
 * from dynalite (kept in dataDir), SES from aws-ses-v2-local, and SQS from a local queue whose
 * messages are kept in dataDir. One runtime per process: the bundles read their settings from
 * process.env when first loaded.
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const schedule = options.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE;
  // Before anything opens the folder: a second runtime would replace the queue log under the
  // first one (which would then lose what it appends) and fight it over the DynamoDB files.
  const lock = lockDataFolder(options.dataDir);
  // What has started so far, stopped in reverse order if a later step fails.
  const started: (() => Promise<void> | void)[] = [() => lock.release()];
  try {
    const runtime = await startPipeline(options, schedule, started);
    return {
      ...runtime,
      async stop() {
        await runtime.stop();
        lock.release();
      },
    };
  } catch (error) {
    for (const stop of started.reverse()) {
      try {
        await stop();
      } catch {
        // the error that stopped the start is the one to report
      }
    }
    throw error;
  }
}

async function startPipeline(options: RuntimeOptions, schedule: readonly number[], started: (() => Promise<void> | void)[]): Promise<Runtime> {
  const dynamo = dynalite({ path: path.join(options.dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => dynamo.listen(0, '127.0.0.1', () => resolve()));
  started.push(() => new Promise<void>((resolve) => dynamo.close(() => resolve())));
  const dynamoEndpoint = `http://127.0.0.1:${(dynamo.address() as AddressInfo).port}`;

  const ses = await sesV2Local({ host: '127.0.0.1', port: options.sesPort ?? 0 });
  started.push(() => {
    ses.closeAllConnections();
    return new Promise<void>((resolve) => ses.close(() => resolve()));
  });
  const emailViewerUrl = `http://127.0.0.1:${(ses.address() as AddressInfo).port}`;

  // Everything the construct decides comes from its synthesized template, with these props
  // (local/template-config.ts). The queue URLs are known only once the local SQS server runs.
  const config = templateConfig({
    fifo: options.fifo ?? false,
    isolation: options.isolation,
    retryScheduleSeconds: schedule,
    webhookTimeoutMs: options.webhookTimeoutMs,
    disableAfterSeconds: options.disableAfterSeconds,
    circuitBreaker: options.circuitBreaker,
    processorTimeoutSeconds: options.processorTimeoutSeconds,
    maxEventSizeBytes: options.maxEventSizeBytes,
    // Locally a new subscription should work at once; in AWS it is cached for 30 s by default.
    subscriptionCacheTtlSeconds: 1,
    secretRotationOverlapSeconds: options.secretRotationOverlapSeconds,
    emailFrom: options.emailFrom ?? 'notifications@local.test',
    eventSchemas: options.eventSchemas,
    inboundWebhooks: options.inboundWebhooks,
  }, {
    eventsQueueUrl: QUEUE_URL_PLACEHOLDERS.events,
    deadLetterQueueUrl: QUEUE_URL_PLACEHOLDERS.deadLetter,
    tables: TABLES,
    defaultApiKeyId: localApiKeyId(options.apiKeys[0]),
  });
  const fifo = config.eventsQueue.fifo;
  const queueNames = fifo ? QUEUE_NAMES.fifo : QUEUE_NAMES.standard;
  // The processor reads it as MAX_RECEIVE_COUNT to dead-letter a message itself, with its
  // reason, before the redrive would.
  const maxReceiveCount = config.eventsQueue.maxReceiveCount;
  const store = new QueueStore(path.join(options.dataDir, 'queues.log'), [
    // FIFO as the construct deploys it: explicit deduplication ids, scoped per message group.
    { name: queueNames.events, fifo, deadLetterQueue: queueNames.deadLetter, maxReceiveCount, ...(fifo ? { deduplicationScope: 'messageGroup' as const } : {}) },
    { name: queueNames.deadLetter, fifo },
  ]);
  started.push(() => store.close());
  // Messages on the other kind's queues were accepted by a run in the other mode: refuse
  // rather than leave them unprocessed.
  const stranded = store.queuesWithMessages().filter((name) => !store.hasQueue(name));
  if (stranded.length > 0) {
    const other = fifo ? 'without --fifo' : 'with --fifo';
    throw new Error(`Data folder ${options.dataDir} holds messages on ${stranded.join(', ')} from a run ${other}: start it ${other} until they are processed, or use another --data-dir.`);
  }
  // Batches received before a kill died with it: they come back now, not after their visibility timeout.
  store.releaseInFlight(queueNames.events);
  const sqs = await startSqsServer(store);
  started.push(() => sqs.stop());
  const endpointFor = options.endpointFor ?? (async (_service: string, endpoint: string) => endpoint);
  const handlerEndpoints = {
    dynamodb: await endpointFor('dynamodb', dynamoEndpoint),
    sqs: await endpointFor('sqs', sqs.endpoint),
    sesv2: await endpointFor('sesv2', emailViewerUrl),
  };
  // The SDK sends SQS calls to the queue URL's host, so the URLs name the handlers' endpoint.
  const queueUrls = {
    events: `${handlerEndpoints.sqs}/000000000000/${queueNames.events}`,
    deadLetter: `${handlerEndpoints.sqs}/000000000000/${queueNames.deadLetter}`,
  };
  const inbound = options.inboundWebhooks ?? [];
  // Served under the secret ARNs the template gives the ingest function.
  const secrets = await startSecretsServer(new Map(inbound.map((s) => [config.inboundSecretArns[s.name], s.secret])));
  started.push(() => secrets.stop());

  // One process, so one environment for the three functions: their settings from the template
  // (they agree wherever they overlap, checked here), plus what only the local runtime sets.
  const functionSettings: Record<string, string> = {};
  for (const [fn, settings] of Object.entries(config.functions)) {
    for (const [name, value] of Object.entries(settings)) {
      const local = value
        .replaceAll(QUEUE_URL_PLACEHOLDERS.events, queueUrls.events)
        .replaceAll(QUEUE_URL_PLACEHOLDERS.deadLetter, queueUrls.deadLetter);
      if (functionSettings[name] !== undefined && functionSettings[name] !== local) {
        throw new Error(`local runtime: the template gives ${fn} ${name}=${local}, another function ${functionSettings[name]}`);
      }
      functionSettings[name] = local;
    }
  }
  Object.assign(process.env, {
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: handlerEndpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: handlerEndpoints.sqs,
    AWS_ENDPOINT_URL_SESV2: handlerEndpoints.sesv2,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    ...functionSettings,
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
    POWERTOOLS_METRICS_DISABLED: String(!options.metrics),
    // Local only (never in AWS): webhooks to local receivers.
    ALLOW_PRIVATE_TARGETS: String(options.allowPrivateTargets ?? false),
  });

  const client = new DynamoDBClient({ endpoint: dynamoEndpoint });
  for (const definition of tableDefinitions(TABLES)) {
    try {
      await client.send(new CreateTableCommand(definition));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error; // kept from an earlier run
    }
  }
  client.destroy();

  // In Lambda the API functions too answer one request at a time per instance, but they keep
  // nothing between requests except caches and the logger's request context (at worst a log
  // line names another request): one instance each serves concurrent requests here. The
  // processor gets an instance per batch in flight (LocalEventSource), as Lambda runs it.
  const ingest = loadFunction<ProxyHandler>(bundlePath('ingest'));
  const management = loadFunction<ProxyHandler>(bundlePath('management'));
  const processorBundle = bundlePath('processor');

  let openApiText: string | undefined;
  let apiUrl = '';
  const routes: LocalRoute[] = [
    // The API's routes as the contract lists them (the construct's, the handlers' and the OpenAPI document's).
    ...(Object.keys(API_ROUTES) as ApiRoute[]).map((route) => ({
      ...splitRoute(route),
      handler: API_ROUTES[route].function === 'ingest' ? ingest : management,
      apiKeyRequired: API_ROUTES[route].apiKeyRequired,
    })),
    // The OpenAPI document (lambda/openapi), with this runtime as its server. No key, as a
    // client generator or Swagger UI fetches it.
    {
      method: 'GET',
      resource: '/openapi.json',
      apiKeyRequired: false,
      handler: async () => ({
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: (openApiText ??= JSON.stringify(openApiDocument({ servers: [{ url: apiUrl, description: 'This local runtime' }] }))),
      }),
    },
    // Local only: where the queues and table are, for the replay tool (--local URL), and how
    // the queue and the functions are configured.
    {
      method: 'GET',
      resource: '/__local/config',
      apiKeyRequired: false,
      handler: async () => ({
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          queueUrl: queueUrls.events,
          deadLetterQueueUrl: queueUrls.deadLetter,
          eventsTable: TABLES.events,
          region: process.env.AWS_REGION,
          sqsEndpoint: handlerEndpoints.sqs,
          dynamoEndpoint,
          queue: { name: queueNames.events, fifo, maxReceiveCount: store.definition(queueNames.events)?.maxReceiveCount },
          // As the functions read them (process.env, now).
          functionEnvironment: Object.fromEntries(['QUEUE_URL', 'DEAD_LETTER_QUEUE_URL', 'QUEUE_FIFO', 'MAX_RECEIVE_COUNT', 'RETRY_SCHEDULE_SECONDS']
            .map((name) => [name, process.env[name]])),
        }),
      }),
    },
  ];
  const api = await startApiServer(routes, options.apiKeys, options.port ?? 0);
  apiUrl = api.url;
  started.push(() => api.stop());

  const events = new LocalEventSource(store, () => loadFunction<SqsHandler>(processorBundle), {
    queue: queueNames.events,
    queueArn: `arn:aws:sqs:local:000000000000:${queueNames.events}`,
    batchSize: config.eventSource.batchSize,
    // As the template sets them (the queue's visibility timeout is 6 × the function's timeout).
    visibilityTimeoutMs: (options.visibilityTimeoutSeconds ?? config.eventsQueue.visibilityTimeoutSeconds) * 1000,
    functionTimeoutMs: config.processorTimeoutSeconds * 1000,
    concurrency: options.concurrency ?? 4,
    // As Lambda scales out while messages wait: a receiver that hangs holds up its own batch only.
    scaleOut: { afterMs: 500, maxConcurrency: Math.max(64, options.concurrency ?? 4) },
    pollIntervalMs: 50,
    onError: (error) => console.error('processor invocation failed; the batch will be retried:', error),
  });
  events.start();

  return {
    apiUrl: api.url,
    emailViewerUrl,
    sqsEndpoint: sqs.endpoint,
    dynamoEndpoint,
    fifo,
    queueNames,
    queueUrls,
    maxReceiveCount,
    tableNames: TABLES,
    store,
    async stop() {
      await api.stop();
      await events.stop();
      await sqs.stop();
      await secrets.stop();
      store.close();
      ses.closeAllConnections();
      await new Promise<void>((resolve) => ses.close(() => resolve()));
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}
