/**
 * The HTTP model the handler core works with, independent of API Gateway, so the same
 * code serves Lambda proxy events and the local runtime.
 */
export interface HttpRequest {
  readonly method: string;
  /** The route template, e.g. `/subscriptions/{subscriptionId}`. */
  readonly route: string;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
  readonly queryParameters: Readonly<Record<string, string | undefined>>;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body as UTF-8 text (already base64-decoded), or undefined when there is none. */
  readonly body: string | undefined;
  /** Id of the API key that authenticated the caller (API Gateway `identity.apiKeyId`). */
  readonly callerKeyId: string | undefined;
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

export function emptyResponse(statusCode: number): HttpResponse {
  return { statusCode, headers: {}, body: '' };
}

/** Byte length of a UTF-8 body: size limits are in bytes, not characters. */
export function byteLength(body: string | undefined): number {
  return body === undefined ? 0 : Buffer.byteLength(body, 'utf8');
}
