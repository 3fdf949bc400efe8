import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { HttpRequest, HttpResponse } from '../core/http';
import { HttpProblem } from '../core/problem';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes that are not UTF-8 are a 400: decoding them leniently would alter the event (U+FFFD). */
function decodeUtf8(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw HttpProblem.badRequest('The request body is not valid UTF-8.');
  }
}

/** API Gateway REST (Lambda proxy) event → the core's request model; HttpProblem for a body that is not UTF-8. */
export function fromApiGatewayEvent(event: APIGatewayProxyEvent): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const body = event.body === null || event.body === undefined
    ? undefined
    : event.isBase64Encoded ? decodeUtf8(Buffer.from(event.body, 'base64')) : event.body;
  return {
    method: event.httpMethod,
    route: event.resource,
    pathParameters: event.pathParameters ?? {},
    queryParameters: event.queryStringParameters ?? {},
    headers,
    body,
    callerKeyId: event.requestContext?.identity?.apiKeyId ?? undefined,
  };
}

export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyResult {
  return { statusCode: response.statusCode, headers: response.headers, body: response.body };
}
