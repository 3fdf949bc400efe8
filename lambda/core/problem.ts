import * as z from 'zod';
import { HttpResponse } from './http';

/** One field-level error of a problem: a JSON Pointer to the field and what is wrong with it. */
export const fieldErrorSchema = z.object({
  path: z.string().meta({ description: 'JSON Pointer to the field (`/events/3/severity`), or to `/headers/…`, `/path/…`, `/query/…`' }),
  message: z.string(),
});
export type FieldError = Readonly<z.infer<typeof fieldErrorSchema>>;

export const PROBLEM_TYPE_BASE = 'urn:event-notification-service:problem:';

/**
 * An error answer, `application/problem+json` (RFC 9457), from the functions and from API Gateway
 * itself (the construct's gateway responses; its two catch-alls carry no `status`).
 */
export const problemSchema = z.object({
  type: z.string().startsWith(PROBLEM_TYPE_BASE).meta({ description: `\`${PROBLEM_TYPE_BASE}<code>\`, e.g. \`invalid-request\`, \`not-found\`` }),
  title: z.string(),
  status: z.number().int().min(400).max(599).optional(),
  detail: z.string(),
  errors: z.array(fieldErrorSchema).optional(),
});
export type Problem = z.infer<typeof problemSchema>;

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

  public toJSON(): Problem {
    return {
      type: PROBLEM_TYPE_BASE + this.code,
      title: this.title,
      status: this.status,
      detail: this.detail,
      ...(this.errors && this.errors.length > 0 ? { errors: [...this.errors] } : {}),
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
