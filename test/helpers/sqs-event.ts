import { createHash, randomUUID } from 'node:crypto';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';

/** SQS event source mapping batches and a Lambda context, as the processor receives them. */

export const EVENTS_QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:ens-events';

export interface SqsRecordOptions {
  readonly body: string;
  readonly messageId?: string;
  /** ApproximateReceiveCount (default 1). */
  readonly receiveCount?: number;
  /** SentTimestamp, epoch ms (default now). */
  readonly sentTimestampMs?: number;
  /** A new one per receive, as SQS does (default random). */
  readonly receiptHandle?: string;
  /** FIFO queues: the record's MessageGroupId attribute. */
  readonly messageGroupId?: string;
}

/** One record of an SQS event source mapping batch. */
export function sqsRecord(options: SqsRecordOptions): SQSRecord {
  const sent = options.sentTimestampMs ?? Date.now();
  return {
    messageId: options.messageId ?? randomUUID(),
    receiptHandle: options.receiptHandle ?? `rh-${randomUUID()}`,
    body: options.body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(sent),
      SenderId: 'AIDAEXAMPLEEXAMPLE001',
      ApproximateFirstReceiveTimestamp: String(sent),
      ...(options.messageGroupId ? { MessageGroupId: options.messageGroupId } : {}),
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(options.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: EVENTS_QUEUE_ARN,
    awsRegion: 'us-east-1',
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A Lambda context for handlers under test. */
export function lambdaContext(functionName = 'processor'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2024/01/01/[$LATEST]0000',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
