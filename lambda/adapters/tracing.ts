import type { WebhookTransport } from '../core/channels/webhook';

/**
 * X-Ray tracing of the functions: a subsegment per AWS call (SQS, DynamoDB, SES)
 * and per webhook request, under one subsegment per invocation. The construct turns it off with
 * `tracing: false`, which sets POWERTOOLS_TRACE_ENABLED=false (src/contract).
 */
export interface Tracing {
  /** Records the client's calls as subsegments (service, operation, status; never payloads). */
  captureClient<C extends object>(client: C): C;
  /** Each webhook request in a subsegment named by its host, with the status code (no path, query, headers or body). */
  webhooks(transport: WebhookTransport): WebhookTransport;
  /** The invocation in a subsegment of its own, annotated ColdStart and Service. */
  handler<E, C, R>(handler: (event: E, context: C) => Promise<R>): (event: E, context: C) => Promise<R>;
}

const off: Tracing = {
  captureClient: (client) => client,
  webhooks: (transport) => transport,
  handler: (handler) => handler,
};

let current: Tracing = off;

/**
 * Turns tracing on for this function instance, if it is wanted and can work: the Powertools
 * Tracer (and the X-Ray SDK under it) is loaded only then. Outside Lambda (the local runtime, the
 * tests) the Tracer would turn itself off anyway; not loading it there also keeps the X-Ray SDK's
 * async hooks out of the local runtime's process. Call it before creating the SDK clients.
 */
export function configureTracing(enabled: boolean, serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing {
  const inLambda = !!env.AWS_EXECUTION_ENV && !env.AWS_SAM_LOCAL && env.AWS_EXECUTION_ENV !== 'AWS_Lambda_amplify-mock';
  current = enabled && inLambda
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ? (require('./xray-tracing') as typeof import('./xray-tracing')).xrayTracing(serviceName)
    : off;
  return current;
}

/** The tracing configured for this instance (none until configureTracing turns it on). */
export function tracing(): Tracing {
  return current;
}
