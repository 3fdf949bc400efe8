import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Duration, Size, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct } from 'constructs';
import { EventNotificationService, EventNotificationServiceProps, InboundWebhookSource, Isolation, Severity } from '../src';
import { SETTINGS_FILE_VARIABLE } from '../src/contract';

/**
 * The local runtime's configuration, read from the synthesized template of the construct with
 * the props given on the command line (docs/architecture.md "Local runtime"): each function's environment and settings
 * file, the event source mapping's batch size and window, the events queue's FIFO-ness,
 * visibility timeout and maxReceiveCount, the processor's time limit. Nothing here is a copy of
 * the construct's choices; deploy-time values (queue URLs, table names, secret ARNs) are replaced
 * by the local runtime's own.
 */

export type FunctionName = 'ingest' | 'management' | 'processor';

/** Props of the construct that the local runtime takes from its command line. */
export interface LocalServiceProps {
  readonly fifo?: boolean;
  readonly isolation?: 'SHARED' | 'API_KEY';
  readonly retryScheduleSeconds?: readonly number[];
  readonly webhookTimeoutMs?: number;
  /** The processor's time limit (processorFunctionProps.timeout); the queue's visibility follows it. */
  readonly processorTimeoutSeconds?: number;
  readonly maxEventSizeBytes?: number;
  readonly subscriptionCacheTtlSeconds?: number;
  /** The construct's disableAfter, seconds. */
  readonly disableAfterSeconds?: number;
  /** The construct's circuitBreaker (seconds; failureThreshold 0: off). */
  readonly circuitBreaker?: LocalCircuitBreaker;
  readonly secretRotationOverlapSeconds?: number;
  readonly emailFrom?: string;
  /** JSON Schemas per event type (standard JSON Schema passes through the construct's mapping unchanged). */
  readonly eventSchemas?: Readonly<Record<string, object>>;
  readonly inboundWebhooks?: readonly { readonly name: string; readonly provider: string; readonly severity?: string }[];
  /** The construct's tracing prop (on by default): the benchmark measures both. */
  readonly tracing?: boolean;
}

/** The construct's `circuitBreaker`, in seconds. */
export interface LocalCircuitBreaker {
  readonly failureThreshold?: number;
  readonly cooldownSeconds?: number;
  readonly maxCooldownSeconds?: number;
}

/** What the deploy-time values become locally. */
export interface LocalResources {
  readonly eventsQueueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tables: { readonly events: string; readonly subscriptions: string; readonly notifications: string };
  /** The key id of the service's own API key (the local runtime's first --api-key). */
  readonly defaultApiKeyId: string;
}

export interface TemplateConfig {
  /** Each function's settings as its handler reads them: environment plus settings file. */
  readonly functions: Readonly<Record<FunctionName, Readonly<Record<string, string>>>>;
  readonly eventSource: { readonly batchSize: number; readonly maximumBatchingWindowSeconds: number };
  readonly eventsQueue: { readonly fifo: boolean; readonly visibilityTimeoutSeconds: number; readonly maxReceiveCount: number };
  readonly processorTimeoutSeconds: number;
  /** The secret ARN each inbound source reads (serve these locally). */
  readonly inboundSecretArns: Readonly<Record<string, string>>;
}

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

/** The secret ARN the local runtime gives an inbound source. */
export function localSecretArn(name: string): string {
  return `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:local/inbound/${name}-local0`;
}

const PROVIDERS: Record<string, (name: string, secret: secretsmanager.ISecret, severity?: Severity) => InboundWebhookSource> = {
  'shopify': (name, secret, severity) => InboundWebhookSource.shopify({ name, secret, severity }),
  'github': (name, secret, severity) => InboundWebhookSource.github({ name, secret, severity }),
  'stripe': (name, secret, severity) => InboundWebhookSource.stripe({ name, secret, severity }),
  'standard-webhooks': (name, secret, severity) => InboundWebhookSource.standardWebhooks({ name, secret, severity }),
};

/** The construct's props for the local runtime's options. */
function propsOf(stack: Stack, options: LocalServiceProps): EventNotificationServiceProps {
  const seconds = (s: number) => Duration.millis(Math.round(s * 1000));
  return {
    fifo: options.fifo ?? false,
    ...(options.tracing !== undefined ? { tracing: options.tracing } : {}),
    ...(options.isolation ? { isolation: options.isolation === 'API_KEY' ? Isolation.API_KEY : Isolation.SHARED } : {}),
    ...(options.retryScheduleSeconds ? { retrySchedule: options.retryScheduleSeconds.map(seconds) } : {}),
    ...(options.webhookTimeoutMs !== undefined ? { webhook: { timeout: Duration.millis(options.webhookTimeoutMs) } } : {}),
    ...(options.processorTimeoutSeconds !== undefined ? { processorFunctionProps: { timeout: seconds(options.processorTimeoutSeconds) } } : {}),
    ...(options.maxEventSizeBytes !== undefined ? { maxEventSize: Size.bytes(options.maxEventSizeBytes) } : {}),
    ...(options.subscriptionCacheTtlSeconds !== undefined ? { subscriptionCacheTtl: seconds(options.subscriptionCacheTtlSeconds) } : {}),
    ...(options.disableAfterSeconds !== undefined ? { disableAfter: seconds(options.disableAfterSeconds) } : {}),
    ...(options.circuitBreaker ? {
      circuitBreaker: {
        failureThreshold: options.circuitBreaker.failureThreshold,
        ...(options.circuitBreaker.cooldownSeconds !== undefined ? { cooldown: seconds(options.circuitBreaker.cooldownSeconds) } : {}),
        ...(options.circuitBreaker.maxCooldownSeconds !== undefined ? { maxCooldown: seconds(options.circuitBreaker.maxCooldownSeconds) } : {}),
      },
    } : {}),
    ...(options.secretRotationOverlapSeconds !== undefined ? { secretRotationOverlap: seconds(options.secretRotationOverlapSeconds) } : {}),
    ...(options.emailFrom ? { email: { fromAddress: options.emailFrom } } : {}),
    ...(options.eventSchemas ? { eventSchemas: options.eventSchemas as Record<string, apigateway.JsonSchema> } : {}),
    ...(options.inboundWebhooks && options.inboundWebhooks.length > 0 ? {
      inboundWebhooks: options.inboundWebhooks.map((s) => {
        const make = PROVIDERS[s.provider];
        if (!make) throw new Error(`inbound source ${s.name}: the local runtime does not serve provider ${s.provider}`);
        const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, `Secret-${s.name}`, localSecretArn(s.name));
        return make(s.name, secret, s.severity as Severity | undefined);
      }),
    } : {}),
  };
}

/** Synthesizes the construct with these props and reads the configuration the local runtime needs. */
export function templateConfig(options: LocalServiceProps, local: LocalResources): TemplateConfig {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-local-synth-'));
  try {
    const app = new App({ outdir });
    const stack = new Stack(app, 'Local', { env: { account: LOCAL_ACCOUNT, region: LOCAL_REGION } });
    const svc = new EventNotificationService(stack, 'Service', propsOf(stack, options));
    const assembly = app.synth();
    const template = JSON.parse(fs.readFileSync(path.join(assembly.directory, assembly.getStackArtifact(stack.artifactId).templateFile), 'utf8'));
    const resources: Record<string, { Type: string; Properties: Record<string, any> }> = template.Resources;
    const idOf = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as lambda.CfnFunction);

    // Deploy-time values → local ones. Anything else the template refers to is a new dependency
    // of the handlers that the local runtime does not serve yet: say so rather than guess.
    const refs = new Map<string, string>([
      [idOf(svc.queue), local.eventsQueueUrl],
      [idOf(svc.deadLetterQueue), local.deadLetterQueueUrl],
      [idOf(svc.eventsTable), local.tables.events],
      [idOf(svc.subscriptionsTable), local.tables.subscriptions],
      [idOf(svc.notificationsTable), local.tables.notifications],
      [idOf(svc.apiKey), local.defaultApiKeyId],
      ['AWS::Region', LOCAL_REGION],
      ['AWS::AccountId', LOCAL_ACCOUNT],
      ['AWS::Partition', 'aws'],
      ['AWS::URLSuffix', 'amazonaws.com'],
    ]);
    const resolve = (value: unknown, where: string): string => {
      if (typeof value === 'string') return value;
      const v = value as Record<string, any>;
      if (typeof v?.Ref === 'string') {
        const local_ = refs.get(v.Ref);
        if (local_ === undefined) throw new Error(`local runtime: ${where} refers to ${v.Ref}, which the local runtime does not serve`);
        return local_;
      }
      if (Array.isArray(v?.['Fn::Join'])) return (v['Fn::Join'][1] as unknown[]).map((p) => resolve(p, where)).join(v['Fn::Join'][0]);
      throw new Error(`local runtime: ${where} is ${JSON.stringify(value)}, which the local runtime cannot resolve`);
    };

    const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'));
    const settingsOf = (fn: lambda.IFunction, name: FunctionName): Record<string, string> => {
      const properties = resources[idOf(fn)].Properties;
      const variables: Record<string, unknown> = properties.Environment?.Variables ?? {};
      const environment = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, resolve(v, `${name} ${k}`)]));
      const file = environment[SETTINGS_FILE_VARIABLE];
      if (!file) return environment;
      // The settings file of the function's asset, exactly as it would be uploaded.
      const asset = Object.values(manifest.files as Record<string, any>)
        .find((f) => Object.values(f.destinations as Record<string, any>).some((d) => d.objectKey === properties.Code.S3Key));
      const settings = JSON.parse(fs.readFileSync(path.join(assembly.directory, asset.source.path, file), 'utf8')) as Record<string, string>;
      const { [SETTINGS_FILE_VARIABLE]: _file, ...rest } = environment;
      return { ...rest, ...settings };
    };

    const mapping = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping')!.Properties;
    const queue = resources[idOf(svc.queue)].Properties;
    return {
      functions: {
        ingest: settingsOf(svc.ingestFunction, 'ingest'),
        management: settingsOf(svc.managementFunction, 'management'),
        processor: settingsOf(svc.processorFunction, 'processor'),
      },
      eventSource: { batchSize: mapping.BatchSize ?? 10, maximumBatchingWindowSeconds: mapping.MaximumBatchingWindowInSeconds ?? 0 },
      eventsQueue: {
        fifo: queue.FifoQueue === true,
        visibilityTimeoutSeconds: queue.VisibilityTimeout ?? 30,
        maxReceiveCount: queue.RedrivePolicy.maxReceiveCount,
      },
      processorTimeoutSeconds: resources[idOf(svc.processorFunction)].Properties.Timeout ?? 3,
      inboundSecretArns: Object.fromEntries((options.inboundWebhooks ?? []).map((s) => [s.name, localSecretArn(s.name)])),
    };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
