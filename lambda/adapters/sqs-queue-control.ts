import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { QueueControl } from '../core/processor';
import { MAX_DELAY_SECONDS } from '../core/retry-policy';

/** Retries through the message's visibility timeout; dead-letter copies carry their reason. */
export class SqsQueueControl implements QueueControl {
  constructor(
    /** Called at the first retry or dead-letter copy: a first delivery that succeeds creates no SQS client. */
    private readonly sqsClient: () => SQSClient,
    private readonly queueUrl: string,
    private readonly deadLetterQueueUrl: string,
    private readonly fifo: boolean,
  ) {}

  private get client(): SQSClient {
    return this.sqsClient();
  }

  public async retryLater(receiptHandle: string, delaySeconds: number): Promise<void> {
    await this.client.send(new ChangeMessageVisibilityCommand({
      QueueUrl: this.queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.round(delaySeconds))),
    }));
  }

  public async deadLetter(body: string, reason: string, eventId: string | undefined, groupKey: string): Promise<void> {
    await this.client.send(new SendMessageCommand({
      QueueUrl: this.deadLetterQueueUrl,
      MessageBody: body,
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: reason || 'unknown' },
        ...(eventId ? { eventId: { DataType: 'String', StringValue: eventId } } : {}),
        failedAt: { DataType: 'String', StringValue: new Date().toISOString() },
      },
      ...(this.fifo ? { MessageGroupId: groupKey, MessageDeduplicationId: `${eventId ?? 'message'}-${Date.now()}` } : {}),
    }));
  }
}
