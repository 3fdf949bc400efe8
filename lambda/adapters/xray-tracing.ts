import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Tracing } from './tracing';
import type { WebhookRequest, WebhookResponse, WebhookTransport } from '../core/channels/webhook';

/** Subsegment methods used here (the X-Ray SDK's Subsegment). */
interface Subsegment {
  http?: unknown;
  addNewSubsegment(name: string): Subsegment;
  addAttribute(name: string, value: unknown): void;
  addErrorFlag(): void;
  addFaultFlag(): void;
  addThrottleFlag(): void;
  close(): void;
}

/**
 * The Powertools Tracer behind the Tracing port (loaded by tracing.ts only when tracing is on).
 * What a trace may hold is decided here: service and operation of each AWS call (the X-Ray SDK
 * records only its allow-listed request fields, such as table and queue names), and for a
 * webhook its host, method and status code. Never a body, a header, a URL path or query (they
 * can carry tokens), credentials or subscription secrets. Outgoing HTTP is not captured
 * globally: that would record every webhook's full URL.
 */
export function xrayTracing(serviceName: string): Tracing {
  const tracer = new Tracer({ serviceName, captureHTTPsRequests: false });
  const parent = () => tracer.getSegment() as unknown as Subsegment | undefined;

  const webhook = async (transport: WebhookTransport, request: WebhookRequest): Promise<WebhookResponse> => {
    let url: URL | undefined;
    try {
      url = new URL(request.url);
    } catch {
      // the transport refuses it; nothing to name a subsegment after
    }
    const subsegment = url ? parent()?.addNewSubsegment(url.hostname) : undefined;
    if (!subsegment) return transport.post(request);
    subsegment.addAttribute('namespace', 'remote');
    const http: { request: { method: string; url: string }; response?: { status: number } } = {
      request: { method: 'POST', url: `${url!.protocol}//${url!.host}` },
    };
    subsegment.http = http;
    try {
      const response = await transport.post(request);
      http.response = { status: response.status };
      if (response.status === 429) subsegment.addThrottleFlag();
      if (response.status >= 400 && response.status < 500) subsegment.addErrorFlag();
      if (response.status >= 500) subsegment.addFaultFlag();
      return response;
    } catch (error) {
      // Refused, unreachable or timed out: flagged, without the error's text.
      subsegment.addFaultFlag();
      throw error;
    } finally {
      subsegment.close();
    }
  };

  return {
    captureClient: (client) => tracer.captureAWSv3Client(client),
    webhooks: (transport) => ({ post: (request) => webhook(transport, request) }),
    handler: (handler) => async (event, context) => {
      const segment = tracer.getSegment();
      const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER ?? 'index.handler'}`);
      if (subsegment) tracer.setSegment(subsegment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
      try {
        return await handler(event, context);
      } catch (error) {
        subsegment?.addFaultFlag();
        throw error;
      } finally {
        subsegment?.close();
        if (segment) tracer.setSegment(segment);
      }
    },
  };
}
