import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, LookupFunction } from 'node:net';
import { isForbiddenAddress } from '../core/address-policy';
import { ForbiddenTargetError, WebhookRequest, WebhookResponse, WebhookTransport } from '../core/channels/webhook';

/** How much of a receiver's answer we read (and discard) so the connection can be reused. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** How much of it we keep: enough for an error code such as Slack's `channel_is_archived`. */
const KEPT_RESPONSE_BYTES = 512;

export interface HttpWebhookTransportOptions {
  /** Local runtime only: allow http:// and private, loopback and link-local targets. */
  readonly allowPrivateTargets?: boolean;
  /** Sockets kept per host across invocations of a warm container. */
  readonly maxSocketsPerHost?: number;
}

/**
 * Webhook requests over node:https with keep-alive agents. The SSRF guard runs at connect time:
 * the resolved addresses are checked before a socket opens (so DNS rebinding cannot slip past a
 * check made at subscription time), and IP-literal targets are checked before the request.
 * Redirects are never followed.
 */
export class HttpWebhookTransport implements WebhookTransport {
  private readonly allowPrivate: boolean;
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;

  constructor(options: HttpWebhookTransportOptions = {}) {
    this.allowPrivate = options.allowPrivateTargets ?? false;
    const lookup = guardedLookup(this.allowPrivate);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSocketsPerHost ?? 50, lookup };
    this.httpsAgent = new https.Agent(agentOptions);
    this.httpAgent = new http.Agent(agentOptions);
  }

  public post(request: WebhookRequest): Promise<WebhookResponse> {
    const url = new URL(request.url);
    if (url.protocol !== 'https:' && !(this.allowPrivate && url.protocol === 'http:')) {
      return Promise.reject(new ForbiddenTargetError(`refused ${url.protocol} target: webhooks are delivered over https only`));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.allowPrivate && isIP(host) !== 0 && isForbiddenAddress(host)) {
      return Promise.reject(new ForbiddenTargetError(`refused target address ${host}`));
    }
    const transport = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    const body = Buffer.from(request.body, 'utf8');

    return new Promise<WebhookResponse>((resolve, reject) => {
      const req = transport.request(url, {
        method: 'POST',
        agent,
        headers: { ...request.headers, 'content-length': String(body.length) },
        signal: AbortSignal.timeout(request.timeoutMs),
      }, (res) => {
        let received = 0;
        const kept: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (received < KEPT_RESPONSE_BYTES) kept.push(chunk.subarray(0, KEPT_RESPONSE_BYTES - received));
          received += chunk.length;
          if (received > MAX_RESPONSE_BYTES) res.destroy();
        });
        const done = () => resolve({
          status: res.statusCode ?? 0,
          retryAfter: headerValue(res.headers['retry-after']),
          body: Buffer.concat(kept).toString('utf8'),
        });
        res.on('end', done);
        res.on('close', done); // destroyed after enough bytes: the status is all we need
        res.on('error', done);
      });
      req.on('error', (error) => reject(error.name === 'AbortError' ? timeoutError(request.timeoutMs) : error));
      req.end(body);
    });
  }

  /** Closes idle keep-alive sockets (tests and the local runtime call it on shutdown). */
  public close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as unknown as LookupAddress[];
      const forbidden = allowPrivate ? undefined : list.find((a) => isForbiddenAddress(a.address));
      if (forbidden) {
        return callback(new ForbiddenTargetError(`refused target: ${hostname} resolves to ${forbidden.address}`) as NodeJS.ErrnoException, '', 0);
      }
      if (list.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function timeoutError(ms: number): Error {
  const error = new Error(`no answer within ${ms} ms`);
  error.name = 'TimeoutError';
  return error;
}
