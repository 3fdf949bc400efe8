import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got, body read in full. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path and query, e.g. `/hooks/a`. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** Epoch ms when the request arrived. */
  readonly at: number;
}

/** How a receiver answers: a status (headers, body, delay) or `hang` (never answers). */
export type Reply = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string; readonly delayMs?: number } | 'hang';

/** Chooses the answer to the `index`-th request (0-based, counted per receiver). */
export type Responder = (request: ReceivedRequest, index: number) => Reply;

export interface Receiver {
  /** `http://<host>:<port>` (IPv6 hosts in brackets). */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly ReceivedRequest[];
  /** TCP connections accepted (counted on `connection`, before any HTTP is parsed). */
  readonly connections: number;
  /** Most requests in progress at once (arrived, not yet answered). */
  readonly maxInFlight: number;
  /** Replaces the responder (the default answers 204). */
  respond(responder: Responder): void;
  /** Starts counting `connections` and `maxInFlight` afresh (requests are kept). */
  resetCounters(): void;
  requestsTo(path: string): ReceivedRequest[];
  close(): Promise<void>;
}

/** A webhook receiver: a real HTTP server on a free port of `host` (default 127.0.0.1). */
export async function startReceiver(options: { host?: string; responder?: Responder } = {}): Promise<Receiver> {
  const host = options.host ?? '127.0.0.1';
  const requests: ReceivedRequest[] = [];
  let responder: Responder = options.responder ?? (() => ({ status: 204 }));
  let connections = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let finished = false;
    const finish = () => {
      if (!finished) inFlight--;
      finished = true;
    };
    res.on('close', finish);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      const index = requests.length;
      requests.push(request);
      const reply = responder(request, index);
      if (reply === 'hang') return;
      const answer = () => {
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
        finish();
      };
      if (reply.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, reply.delayMs);
        timers.add(timer);
      } else {
        answer();
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    port,
    requests,
    get connections() {
      return connections;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    respond(next: Responder) {
      responder = next;
    },
    resetCounters() {
      connections = 0;
      maxInFlight = inFlight;
    },
    requestsTo(path: string) {
      return requests.filter((r) => r.path === path);
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released): connections are refused. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts receivers and closes every one of them at the end of a test. */
export class ReceiverPool {
  private readonly started: Receiver[] = [];

  public async start(options: { host?: string; responder?: Responder } = {}): Promise<Receiver> {
    const receiver = await startReceiver(options);
    this.started.push(receiver);
    return receiver;
  }

  public async closeAll(): Promise<void> {
    const all = this.started.splice(0);
    await Promise.all(all.map((r) => r.close()));
  }
}
