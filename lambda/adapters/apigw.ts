import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { HttpRequest, HttpResponse } from '../core/http';

/** API Gateway REST (Lambda proxy) event → the core's request model. */
export function fromApiGatewayEvent(event: APIGatewayProxyEvent): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const body = event.body === null || event.body === undefined
    ? undefined
    : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
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
