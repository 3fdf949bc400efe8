import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Floor: what AWS SDK v3 itself costs ingest. Only @aws-sdk/client-sqs, with the credentials
 * from the environment as the functions take them (lambda/adapters/aws-clients.ts), the client
 * made at module load; the first request sends one SendMessage to the function's queue.
 */
const sqs = new SQSClient({ credentials: fromEnv() });

export async function handler(): Promise<{ statusCode: number }> {
  await sqs.send(new SendMessageCommand({ QueueUrl: process.env.QUEUE_URL!, MessageBody: JSON.stringify({ floor: 'sdk-sqs' }) }));
  return { statusCode: 202 };
}
