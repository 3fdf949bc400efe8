import * as https from 'node:https';

/**
 * Floor: the least any handler can do for a first request that reaches AWS. No SDK: one HTTPS
 * POST with node:https (a SendMessage in the SQS JSON protocol, unsigned: the local queue does not
 * check signatures) to the function's queue. What remains is Node.js starting, a TLS handshake
 * verified against NODE_EXTRA_CA_CERTS as any Lambda function verifies AWS's certificate, and one
 * round trip.
 */
export async function handler(): Promise<{ statusCode: number }> {
  const queueUrl = process.env.QUEUE_URL!;
  const body = JSON.stringify({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ floor: 'https-request' }) });
  const status = await new Promise<number>((resolve, reject) => {
    const request = https.request(new URL(queueUrl).origin, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AmazonSQS.SendMessage',
        'content-length': Buffer.byteLength(body),
      },
    }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(body);
  });
  // A failed SendMessage is not an answer the benchmark accepts.
  return { statusCode: status === 200 ? 202 : 502 };
}
