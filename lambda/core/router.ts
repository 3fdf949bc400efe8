import { HttpRequest, HttpResponse } from './http';
import { HttpProblem, problemResponse } from './problem';
import type { ApiFunction, RoutesOf } from '../../src/contract';

export type RouteHandler = (request: HttpRequest) => Promise<HttpResponse>;

/** Routes keyed by `METHOD route-template`, e.g. `GET /subscriptions/{subscriptionId}`. */
export type Routes = Readonly<Record<string, RouteHandler>>;

/**
 * A function's route table: exactly the routes `API_ROUTES` (src/contract) gives it, no more, no
 * fewer, so a route cannot be served without being in the contract and the OpenAPI document.
 */
export type RouteTable<F extends ApiFunction> = { readonly [R in RoutesOf<F>]: RouteHandler };

/** Error reporting hook: the entry point logs unexpected errors its own way. */
export type UnexpectedErrorHook = (error: unknown, request: HttpRequest) => void;

/**
 * Dispatches a request and turns every failure into problem+json: HttpProblems keep their
 * status, anything unexpected becomes a 500 without internals.
 */
export async function dispatch(routes: Routes, request: HttpRequest, onUnexpected: UnexpectedErrorHook): Promise<HttpResponse> {
  const handler = routes[`${request.method.toUpperCase()} ${request.route}`];
  try {
    if (!handler) {
      const allowed = Object.keys(routes).filter((k) => k.endsWith(` ${request.route}`)).map((k) => k.split(' ')[0]);
      if (allowed.length > 0) {
        throw new HttpProblem(405, 'method-not-allowed', 'Method not allowed', `${request.method} is not supported here.`, undefined, { allow: allowed.join(', ') });
      }
      throw HttpProblem.notFound(`No route for ${request.method} ${request.route}.`);
    }
    return await handler(request);
  } catch (error) {
    if (error instanceof HttpProblem) return problemResponse(error);
    onUnexpected(error, request);
    return problemResponse(new HttpProblem(500, 'internal-error', 'Internal error', 'The request could not be completed. Retry later.'));
  }
}
