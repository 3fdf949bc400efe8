import type { APIGatewayProxyEvent } from 'aws-lambda';

/** API Gateway proxy events, as the REST API hands them to the ingest and management functions. */

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
