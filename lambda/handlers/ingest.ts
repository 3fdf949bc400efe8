import { Logger } from '@aws-lambda-powertools/logger';
import { apiGatewayHandler } from './http-entry';
import { dynamoDocumentClient, secretsManager, sqs } from '../adapters/aws-clients';
import { readConfig } from '../adapters/config';
import { DynamoIdempotencyStore } from '../adapters/dynamo-idempotency-store';
import { ingestConfigSchema } from '../adapters/ingest-config';
import { SecretsManagerSource } from '../adapters/secrets-manager-source';
import { SqsEventQueue } from '../adapters/sqs-event-queue';
import { configureTracing } from '../adapters/tracing';
import { InboundWebhookService } from '../core/inbound-service';
import { IngestService } from '../core/ingest';
import { RouteTable } from '../core/router';

/** Ingest function: POST /events, POST /events/batch and POST /webhooks/{source}. */
const config = readConfig(ingestConfigSchema);
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'event-notification-service';
const traced = configureTracing(config.POWERTOOLS_TRACE_ENABLED, serviceName); // before the SDK clients
const logger = new Logger({ serviceName });

const service = new IngestService(
  {
    queue: new SqsEventQueue(sqs, config.QUEUE_URL, config.QUEUE_FIFO),
    idempotency: new DynamoIdempotencyStore(dynamoDocumentClient, config.EVENTS_TABLE_NAME),
  },
  { maxEventSizeBytes: config.MAX_EVENT_SIZE_BYTES, keepOrder: config.QUEUE_FIFO },
);

// Secrets Manager only for a deployment with inbound sources; without, every source name is a 404.
const noSecrets = { secrets: () => Promise.reject(new Error('no inbound webhook sources are configured')) };
const inbound = new InboundWebhookService(
  config.INBOUND_SOURCES,
  config.INBOUND_SOURCES.length > 0 ? new SecretsManagerSource(secretsManager()) : noSecrets,
  service,
  { maxEventSizeBytes: config.MAX_EVENT_SIZE_BYTES },
);

const routes: RouteTable<'ingest'> = {
  'POST /events': (request) => service.publishOne(request),
  'POST /events/batch': (request) => service.publishBatch(request),
  'POST /webhooks/{source}': (request) => inbound.receive(request),
};

export const handler = traced.handler(apiGatewayHandler(routes, logger));
