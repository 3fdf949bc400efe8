import type { APIGatewayProxyResult } from 'aws-lambda';

/** Reading and asserting the API handlers' answers (headers, JSON bodies, RFC 9457 problems). */

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
