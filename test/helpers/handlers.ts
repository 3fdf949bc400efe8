import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';

/** The entry point of an API function (ingest, management). */
export type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/** The SQS SDK module as the loaded handler sees it (for `mockClient` and `commandCalls`). */
export type SqsModule = typeof import('@aws-sdk/client-sqs');

/** The Secrets Manager SDK module as the loaded handler sees it (for `mockClient`). */
export type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');

/** The SDK client factories as the loaded handler sees them (to add middleware to its clients). */
export type AwsClientsModule = typeof import('../../lambda/adapters/aws-clients');

/** The processor's entry point (lambda/handlers/processor.ts). */
export type ProcessorHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** A handler module loaded fresh, with the copies of the modules it uses (mock those copies). */
export interface LoadedFunction<H> {
  readonly handler: H;
  /** The copy of `@aws-sdk/client-sqs` in the handler's module registry. */
  readonly sqs: SqsModule;
  /** The copy of `@aws-sdk/client-secrets-manager` in the handler's module registry (inbound webhook secrets). */
  readonly secretsManager: SecretsManagerModule;
  /** The copy of lambda/adapters/aws-clients the handler uses (same registry). */
  readonly clients: AwsClientsModule;
}

export type LoadedHandler = LoadedFunction<ApiHandler>;
export type LoadedProcessor = LoadedFunction<ProcessorHandler>;

/**
 * Loads a fresh copy of a handler module (lambda/handlers/<name>.ts) with `env` applied first:
 * handlers read their configuration and create SDK clients when the module loads. Each copy has
 * its own module registry, so it also gets its own copy of the AWS SDK; mock that copy.
 */
export function loadFunction<H>(name: 'ingest' | 'management' | 'processor', env: Readonly<Record<string, string>>): LoadedFunction<H> {
  Object.assign(process.env, env);
  let loaded: LoadedFunction<H> | undefined;
  jest.isolateModules(() => {
    // requireActual resolves through the isolated registry, exactly like require() would.
    const sqs = jest.requireActual<SqsModule>('@aws-sdk/client-sqs');
    const secretsManager = jest.requireActual<SecretsManagerModule>('@aws-sdk/client-secrets-manager');
    const clients = jest.requireActual<AwsClientsModule>('../../lambda/adapters/aws-clients');
    const module = jest.requireActual<{ handler: H }>(`../../lambda/handlers/${name}`);
    loaded = { handler: module.handler, sqs, secretsManager, clients };
  });
  if (!loaded) throw new Error(`handler ${name} did not load`);
  return loaded;
}

/** An API function (ingest, management), loaded fresh. */
export function loadHandler(name: 'ingest' | 'management', env: Readonly<Record<string, string>>): LoadedHandler {
  return loadFunction<ApiHandler>(name, env);
}

/** The processor, loaded fresh. */
export function loadProcessorHandler(env: Readonly<Record<string, string>>): LoadedProcessor {
  return loadFunction<ProcessorHandler>('processor', env);
}
