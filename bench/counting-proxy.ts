import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a local AWS service that counts the requests the handlers make, by
 * operation: `X-Amz-Target` for JSON-protocol services (DynamoDB, SQS), method and path for
 * REST ones (SES v2). Counting on the wire includes the SDK's own retries.
 */
export class CountingProxy {
  public readonly counts = new Map<string, number>();
  private server?: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(public readonly service: string, private readonly target: string) {}

  public async start(): Promise<string> {
    const target = new URL(this.target);
    this.server = http.createServer((req, res) => {
      const amzTarget = req.headers['x-amz-target'];
      const operation = typeof amzTarget === 'string'
        ? amzTarget.split('.').pop()!
        : `${req.method} ${(req.url ?? '').split('?')[0].replace(/\/[^/]*[0-9][^/]*$/, '/{id}')}`;
      this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
      const upstream = http.request({
        host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent,
      }, (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public reset(): void {
    this.counts.clear();
  }

  public snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort());
  }

  public async stop(): Promise<void> {
    this.agent.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
