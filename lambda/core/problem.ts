import type * as z from 'zod';
import { HttpResponse } from './http';

/** One field-level error of a problem: a JSON Pointer to the field and what is wrong with it. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

const PROBLEM_TYPE_BASE = 'urn:event-notification-service:problem:';

/**
 * An RFC 9457 problem. Thrown by the core to end a request with a 4xx/5xx answer;
 * the entry points turn it into an `application/problem+json` response.
 */
export class HttpProblem extends Error {
  public static badRequest(detail: string, errors?: readonly FieldError[]): HttpProblem {
    return new HttpProblem(400, 'invalid-request', 'Invalid request', detail, errors);
  }

  public static notFound(detail: string): HttpProblem {
    return new HttpProblem(404, 'not-found', 'Not found', detail);
  }

  public static fromZod(error: z.ZodError, detail: string, pathPrefix = ''): HttpProblem {
    return HttpProblem.badRequest(detail, zodFieldErrors(error, pathPrefix));
  }

  constructor(
    public readonly status: number,
    public readonly code: string,
    public readonly title: string,
    public readonly detail: string,
    public readonly errors?: readonly FieldError[],
    public readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${title}: ${detail}`);
    this.name = 'HttpProblem';
  }

  public toJSON(): Record<string, unknown> {
    return {
      type: PROBLEM_TYPE_BASE + this.code,
      title: this.title,
      status: this.status,
      detail: this.detail,
      ...(this.errors && this.errors.length > 0 ? { errors: this.errors } : {}),
    };
  }
}

export function problemResponse(problem: HttpProblem): HttpResponse {
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', ...problem.headers },
    body: JSON.stringify(problem.toJSON()),
  };
}

/** zod issues as field errors with JSON Pointer paths (`/events/3/severity`). */
export function zodFieldErrors(error: z.ZodError, pathPrefix = ''): FieldError[] {
  return error.issues.slice(0, 50).map((issue) => ({
    path: pathPrefix + issue.path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join(''),
    message: issue.message,
  }));
}
