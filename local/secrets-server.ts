import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The one Secrets Manager call the ingest function makes (GetSecretValue, AWS JSON 1.1),
 * served from secrets given on the command line, for inbound webhooks on the local runtime.
 */
export async function startSecretsServer(secrets: ReadonlyMap<string, string>): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let status = 200;
      let payload: unknown;
      try {
        const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { SecretId?: string; VersionStage?: string };
        const value = secrets.get(String(input.SecretId));
        if (String(req.headers['x-amz-target']) !== 'secretsmanager.GetSecretValue' || value === undefined || input.VersionStage === 'AWSPREVIOUS') {
          status = 400;
          payload = { __type: 'ResourceNotFoundException', message: `Secrets Manager can't find the specified secret value: ${input.SecretId}` };
        } else {
          payload = { ARN: input.SecretId, Name: input.SecretId, SecretString: value, VersionStages: ['AWSCURRENT'] };
        }
      } catch {
        status = 400;
        payload = { __type: 'InvalidRequestException', message: 'malformed request' };
      }
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
