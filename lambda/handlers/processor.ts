import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

/**
 * Processor function. Delivery (validation, storage, matching, webhooks, email, retries) is the
 * next milestone. Until then it never acknowledges a message it has not processed: every record
 * is reported as a batch item failure, so events stay on the queue and reach the dead-letter
 * queue after maxReceiveCount receives, from where they can be redriven once processing ships.
 */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'event-notification-service' });

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  logger.error('Event processing is not available in this version; records are left on the queue', {
    records: event.Records.length,
  });
  return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
};
