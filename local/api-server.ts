import { createHash, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';

export type ProxyHandler = (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult>;

/** One API route: method + resource template, the function behind it, and whether it needs a key. */
export interface LocalRoute {
  readonly method: string;
  readonly resource: string;
  readonly handler: ProxyHandler;
  readonly apiKeyRequired: boolean;
}

/** API Gateway's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** The key id the local API reports for a key (API Gateway's `identity.apiKeyId`). */
export function localApiKeyId(apiKey: string): string {
  return 'local-' + createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
}

/** The problem+json API Gateway itself answers with (the construct's gateway responses). */
function gatewayProblem(status: number, code: string, title: string, detail: string): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: `urn:event-notification-service:problem:${code}`, title, status, detail }),
  };
}

/** Finds the route template of a path; literal segments win over `{parameters}`. */
function resolve(routes: readonly LocalRoute[], path: string): { resource: string; params: Record<string, string> } | undefined {
  const segments = path.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  const templates = [...new Set(routes.map((r) => r.resource))]
    .map((t) => ({ t, parts: t.split('/').filter(Boolean) }))
    .filter(({ parts }) => parts.length === segments.length)
    .sort((a, b) => a.parts.filter((p) => p.startsWith('{')).length - b.parts.filter((p) => p.startsWith('{')).length);
  for (const { t, parts } of templates) {
    const params: Record<string, string> = {};
    if (parts.every((p, i) => (p.startsWith('{') ? ((params[p.slice(1, -1)] = segments[i]), true) : p === segments[i]))) {
      return { resource: t, params };
    }
  }
  return undefined;
}

/**
 * Serves the API of docs/architecture.md "Pipeline" on 127.0.0.1 the way API Gateway does in front of the functions:
 * same routes, the x-api-key check, API Gateway's own errors as problem+json, and Lambda proxy
 * events to the very same handler bundles.
 */
export async function startApiServer(
  routes: readonly LocalRoute[], apiKeys: readonly string[], port = 0,
): Promise<{ url: string; stop(): Promise<void> }> {
  const keyIds = new Map(apiKeys.map((k) => [k, localApiKeyId(k)]));

  const answer = async (req: http.IncomingMessage, body: Buffer): Promise<APIGatewayProxyResult> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    let resolved;
    try {
      resolved = resolve(routes, url.pathname);
    } catch {
      resolved = undefined; // undecodable path segment
    }
    const route = resolved && routes.find((r) => r.resource === resolved.resource && r.method === method);
    // API Gateway answers an unknown path or method with "Missing Authentication Token" (→ 404).
    if (!resolved || !route) return gatewayProblem(404, 'not-found', 'Not found', 'Missing Authentication Token');
    const key = req.headers['x-api-key'];
    const keyId = typeof key === 'string' ? keyIds.get(key) : undefined;
    if (route.apiKeyRequired && !keyId) return gatewayProblem(403, 'forbidden', 'Forbidden', 'Forbidden');
    if (body.length > MAX_BODY_BYTES) return gatewayProblem(413, 'payload-too-large', 'Payload too large', 'Request Too Long');

    const text = body.toString('utf8');
    const isText = Buffer.from(text, 'utf8').equals(body);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
    const query = Object.fromEntries(url.searchParams.entries());
    const event = {
      resource: resolved.resource,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders: {},
      queryStringParameters: Object.keys(query).length > 0 ? query : null,
      multiValueQueryStringParameters: null,
      pathParameters: Object.keys(resolved.params).length > 0 ? resolved.params : null,
      stageVariables: null,
      body: body.length === 0 ? null : isText ? text : body.toString('base64'),
      isBase64Encoded: body.length > 0 && !isText,
      requestContext: { requestId: randomUUID(), identity: { apiKeyId: route.apiKeyRequired ? keyId : undefined } },
    } as unknown as APIGatewayProxyEvent;
    try {
      return await route.handler(event);
    } catch {
      return gatewayProblem(502, 'gateway-error', 'Gateway error', 'Internal server error');
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      // Keep the chunk that crosses the limit too, so an oversized body is seen as one (413).
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      void answer(req, Buffer.concat(chunks)).then((result) => {
        res.writeHead(result.statusCode, result.headers as http.OutgoingHttpHeaders);
        res.end(result.body);
      }).catch(() => {
        // A result Node cannot send (e.g. an invalid header) is API Gateway's 502, not a crash.
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'urn:event-notification-service:problem:gateway-error', title: 'Gateway error', status: 502, detail: 'Internal server error' }));
      });
    });
  });
  await new Promise<void>((resolve_, reject) => {
    // A port in use is a startup error to report, not an unhandled 'error' event.
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new Error(`Port ${port} on 127.0.0.1 is in use: choose another --port.`) : error));
    server.listen(port, '127.0.0.1', resolve_);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve_) => server.close(() => resolve_()));
    },
  };
}
