import { Logger } from '@aws-lambda-powertools/logger';
import { apiGatewayHandler } from './http-entry';
import { dynamoDocumentClient, sqs } from '../adapters/aws-clients';
import { ingestConfigSchema, readConfig } from '../adapters/config';
import { DynamoIdempotencyStore } from '../adapters/dynamo-idempotency-store';
import { SqsEventQueue } from '../adapters/sqs-event-queue';
import { IngestService } from '../core/ingest';

/** Ingest function: POST /events and POST /events/batch. */
const config = readConfig(ingestConfigSchema);
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'event-notification-service' });

const service = new IngestService(
  {
    queue: new SqsEventQueue(sqs(), config.QUEUE_URL, config.QUEUE_FIFO),
    idempotency: new DynamoIdempotencyStore(dynamoDocumentClient(), config.EVENTS_TABLE_NAME),
  },
  { maxEventSizeBytes: config.MAX_EVENT_SIZE_BYTES },
);

export const handler = apiGatewayHandler({
  'POST /events': (request) => service.publishOne(request),
  'POST /events/batch': (request) => service.publishBatch(request),
}, logger);
