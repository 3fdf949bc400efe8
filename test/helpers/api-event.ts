import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface ApiEventOptions {
  readonly method: string;
  /** The API Gateway resource (route template), e.g. `/subscriptions/{subscriptionId}`. */
  readonly resource: string;
  readonly pathParameters?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /**
   * A string is sent as is; a Buffer is sent base64-encoded (raw bytes, `isBase64Encoded`);
   * anything else (object, array, number, null...) is JSON-encoded.
   */
  readonly body?: unknown;
  /** The caller's API key id (`requestContext.identity.apiKeyId`); `null` for none. */
  readonly apiKeyId?: string | null;
  /** Sends the body base64-encoded, as API Gateway does for binary media types. */
  readonly isBase64Encoded?: boolean;
}

export const DEFAULT_API_KEY_ID = 'key-default-0001';

/** An API Gateway REST (Lambda proxy) event for a handler under test. */
export function apiEvent(options: ApiEventOptions): APIGatewayProxyEvent {
  const { method, resource } = options;
  const pathParameters = options.pathParameters ?? null;
  let path = resource;
  for (const [name, value] of Object.entries(options.pathParameters ?? {})) {
    path = path.replace(`{${name}}`, encodeURIComponent(value));
  }
  const raw = Buffer.isBuffer(options.body);
  const isBase64Encoded = options.isBase64Encoded ?? raw;
  let body: string | null = null;
  if (raw) {
    body = (options.body as Buffer).toString('base64');
  } else if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    if (isBase64Encoded) body = Buffer.from(body, 'utf8').toString('base64');
  }
  const headers: Record<string, string> = {
    ...(body !== null ? { 'Content-Type': 'application/json' } : {}),
    ...(options.headers ?? {}),
  };
  const apiKeyId = options.apiKeyId === undefined ? DEFAULT_API_KEY_ID : options.apiKeyId;

  return {
    httpMethod: method,
    resource,
    path,
    pathParameters,
    queryStringParameters: options.query ?? null,
    multiValueQueryStringParameters: options.query
      ? Object.fromEntries(Object.entries(options.query).map(([k, v]) => [k, [v]]))
      : null,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    body,
    isBase64Encoded,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api0000001',
      authorizer: null,
      httpMethod: method,
      path: `/v1${path}`,
      protocol: 'HTTP/1.1',
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      requestTimeEpoch: Date.now(),
      resourceId: 'res001',
      resourcePath: resource,
      stage: 'v1',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: apiKeyId === null ? null : `secret-value-of-${apiKeyId}`,
        apiKeyId,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '203.0.113.10',
        user: null,
        userAgent: 'jest',
        userArn: null,
      },
    },
  };
}

export type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/** A case-insensitive header lookup on a handler result. */
export function header(result: APIGatewayProxyResult, name: string): string | undefined {
  const entry = Object.entries(result.headers ?? {}).find(([key]) => key.toLowerCase() === name.toLowerCase());
  return entry === undefined ? undefined : String(entry[1]);
}

/** The result body parsed as JSON (fails the test with the raw body if it is not JSON). */
export function jsonBody<T = any>(result: APIGatewayProxyResult): T {
  try {
    return JSON.parse(result.body) as T;
  } catch {
    throw new Error(`Response body is not JSON: ${result.body.slice(0, 200)}`);
  }
}

/** Problem types are `urn:event-notification-service:problem:<code>`. */
export const PROBLEM_TYPE = 'urn:event-notification-service:problem:';

/**
 * Asserts an RFC 9457 answer: the status, application/problem+json, and a body with type,
 * title, status and detail (type ending in `code` when given). Returns the body.
 */
export function expectProblem(result: APIGatewayProxyResult, status: number, code?: string): Record<string, any> {
  expect(result.statusCode).toBe(status);
  expect(header(result, 'content-type')).toBe('application/problem+json');
  const problem = jsonBody(result);
  expect(problem).toMatchObject({
    type: code === undefined ? expect.any(String) : PROBLEM_TYPE + code,
    title: expect.any(String),
    status,
    detail: expect.any(String),
  });
  return problem;
}

/** The SQS SDK module as the loaded handler sees it (for `mockClient` and `commandCalls`). */
export type SqsModule = typeof import('@aws-sdk/client-sqs');

/** The Secrets Manager SDK module as the loaded handler sees it (for `mockClient`). */
export type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');

export interface LoadedHandler {
  readonly handler: ApiHandler;
  /** The copy of `@aws-sdk/client-sqs` in the handler's module registry. */
  readonly sqs: SqsModule;
  /** The copy of `@aws-sdk/client-secrets-manager` in the handler's module registry (inbound webhook secrets). */
  readonly secretsManager: SecretsManagerModule;
}

/**
 * Loads a fresh copy of a handler module (lambda/handlers/<name>.ts) with `env` applied first:
 * handlers read their configuration and create SDK clients when the module loads. Each copy has
 * its own module registry, so it also gets its own copy of the AWS SDK; mock that copy.
 */
export function loadHandler(name: 'ingest' | 'management', env: Readonly<Record<string, string>>): LoadedHandler {
  Object.assign(process.env, env);
  let loaded: LoadedHandler | undefined;
  jest.isolateModules(() => {
    // requireActual resolves through the isolated registry, exactly like require() would.
    const sqs = jest.requireActual<SqsModule>('@aws-sdk/client-sqs');
    const secretsManager = jest.requireActual<SecretsManagerModule>('@aws-sdk/client-secrets-manager');
    const module = jest.requireActual<{ handler: ApiHandler }>(`../../lambda/handlers/${name}`);
    loaded = { handler: module.handler, sqs, secretsManager };
  });
  if (!loaded) throw new Error(`handler ${name} did not load`);
  return loaded;
}

/** The processor's entry point (lambda/handlers/processor.ts). */
export type ProcessorHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The SDK client factories as the loaded processor sees them (to add middleware to its clients). */
export type AwsClientsModule = typeof import('../../lambda/adapters/aws-clients');

export interface LoadedProcessor {
  readonly handler: ProcessorHandler;
  /** The copy of `@aws-sdk/client-sqs` in the handler's module registry. */
  readonly sqs: SqsModule;
  /** The copy of lambda/adapters/aws-clients the handler uses (same registry). */
  readonly clients: AwsClientsModule;
}

/**
 * Loads a fresh copy of the processor handler with `env` applied first (it reads its settings
 * and creates its SDK clients when the module loads), like `loadHandler` for the API handlers.
 */
export function loadProcessorHandler(env: Readonly<Record<string, string>>): LoadedProcessor {
  Object.assign(process.env, env);
  let loaded: LoadedProcessor | undefined;
  jest.isolateModules(() => {
    const sqs = jest.requireActual<SqsModule>('@aws-sdk/client-sqs');
    const clients = jest.requireActual<AwsClientsModule>('../../lambda/adapters/aws-clients');
    const module = jest.requireActual<{ handler: ProcessorHandler }>('../../lambda/handlers/processor');
    loaded = { handler: module.handler, sqs, clients };
  });
  if (!loaded) throw new Error('processor handler did not load');
  return loaded;
}

export const EVENTS_QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:ens-events';

export interface SqsRecordOptions {
  readonly body: string;
  readonly messageId?: string;
  /** ApproximateReceiveCount (default 1). */
  readonly receiveCount?: number;
  /** SentTimestamp, epoch ms (default now). */
  readonly sentTimestampMs?: number;
  /** A new one per receive, as SQS does (default random). */
  readonly receiptHandle?: string;
  /** FIFO queues: the record's MessageGroupId attribute. */
  readonly messageGroupId?: string;
}

/** One record of an SQS event source mapping batch. */
export function sqsRecord(options: SqsRecordOptions): SQSRecord {
  const sent = options.sentTimestampMs ?? Date.now();
  return {
    messageId: options.messageId ?? randomUUID(),
    receiptHandle: options.receiptHandle ?? `rh-${randomUUID()}`,
    body: options.body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(sent),
      SenderId: 'AIDAEXAMPLEEXAMPLE001',
      ApproximateFirstReceiveTimestamp: String(sent),
      ...(options.messageGroupId ? { MessageGroupId: options.messageGroupId } : {}),
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(options.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: EVENTS_QUEUE_ARN,
    awsRegion: 'us-east-1',
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A Lambda context for handlers under test. */
export function lambdaContext(functionName = 'processor'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2024/01/01/[$LATEST]0000',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
