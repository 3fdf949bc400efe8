import { BatchProcessor, EventType, processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { dynamoDocumentClient, ses, sqs } from '../adapters/aws-clients';
import { readConfig } from '../adapters/config';
import { DynamoEndpointHealthStore } from '../adapters/dynamo-endpoint-health-store';
import { DynamoEventStore } from '../adapters/dynamo-event-store';
import { DynamoNotificationStore } from '../adapters/dynamo-notification-store';
import { DynamoSubscriptionIndex } from '../adapters/dynamo-subscription-index';
import { HttpWebhookTransport } from '../adapters/http-webhook-transport';
import { processorConfigSchema } from '../adapters/processor-config';
import { SesEmailTransport } from '../adapters/ses-email-transport';
import { SqsEventQueue } from '../adapters/sqs-event-queue';
import { SqsQueueControl } from '../adapters/sqs-queue-control';
import { configureTracing } from '../adapters/tracing';
import { fanOutSize } from '../core/fan-out';
import { SubscriptionMatcher } from '../core/matching';
import { EventProcessor, RetryLaterError } from '../core/processor';
import { JsonSchemaValidator } from '../core/schema-validator';

/** Processor function: consumes the events queue with per-record partial batch failures. */
const config = readConfig(processorConfigSchema);
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'event-notification-service';
const traced = configureTracing(config.POWERTOOLS_TRACE_ENABLED, serviceName); // before the SDK clients
const logger = new Logger({ serviceName });
const metrics = new Metrics({ serviceName, namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'EventNotificationService' });
const documents = dynamoDocumentClient();
/** Whether this invocation recorded a metric: publishing none only logs a warning. */
let recorded = false;
const subscriptionIndex = new DynamoSubscriptionIndex(documents, config.SUBSCRIPTIONS_TABLE_NAME);

const queueControl = new SqsQueueControl(sqs, config.QUEUE_URL, config.DEAD_LETTER_QUEUE_URL, config.QUEUE_FIFO);

const notificationStore = new DynamoNotificationStore(documents, config.NOTIFICATIONS_TABLE_NAME);

const processor = new EventProcessor({
  events: new DynamoEventStore(documents, config.EVENTS_TABLE_NAME),
  notifications: notificationStore,
  matcher: new SubscriptionMatcher(subscriptionIndex, config.SUBSCRIPTION_CACHE_TTL_SECONDS * 1000),
  schemas: new JsonSchemaValidator(config.EVENT_SCHEMAS),
  webhooks: traced.webhooks(new HttpWebhookTransport({ allowPrivateTargets: config.ALLOW_PRIVATE_TARGETS })),
  email: config.EMAIL_FROM_ADDRESS ? new SesEmailTransport(ses, config.EMAIL_FROM_ADDRESS, config.SES_CONFIGURATION_SET) : undefined,
  queue: queueControl,
  // FIFO queues keep a large fan-out in the event's own message: follow-ups would queue behind
  // later events of the ordering key (docs/architecture.md "Fan-out").
  followUps: config.QUEUE_FIFO ? undefined : new SqsEventQueue(sqs, config.QUEUE_URL, false),
  partRecords: notificationStore,
  pauser: subscriptionIndex,
  health: new DynamoEndpointHealthStore(documents, config.SUBSCRIPTIONS_TABLE_NAME),
  metrics: {
    count: (name, value, channel) => {
      recorded = true;
      metrics.addMetric(name, MetricUnit.Count, value);
      if (channel) {
        const single = metrics.singleMetric();
        single.addDimension('channel', channel);
        single.addMetric(name, MetricUnit.Count, value);
      }
    },
    latency: (channel, milliseconds) => {
      recorded = true;
      const single = metrics.singleMetric();
      single.addDimension('channel', channel);
      single.addMetric('DeliveryLatency', MetricUnit.Milliseconds, milliseconds);
    },
  },
  log: {
    info: (message, attributes = {}) => logger.info(message, attributes),
    warn: (message, attributes = {}) => logger.warn(message, attributes),
  },
}, {
  retryScheduleSeconds: config.RETRY_SCHEDULE_SECONDS,
  webhookTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
  retentionSeconds: config.RETENTION_SECONDS,
  maxConcurrentDeliveries: config.MAX_CONCURRENT_DELIVERIES,
  maxReceiveCount: config.MAX_RECEIVE_COUNT,
  isolation: config.ISOLATION,
  queuePublisherKeyId: config.QUEUE_PUBLISHER_KEY_ID,
  inboundOwnerKeyIds: config.INBOUND_OWNER_KEY_IDS,
  endpointHealth: { disableAfterSeconds: config.DISABLE_AFTER_SECONDS, breaker: config.CIRCUIT_BREAKER },
  fanOutSize: config.FAN_OUT_SIZE ?? fanOutSize({
    functionTimeoutMs: config.FUNCTION_TIMEOUT_SECONDS * 1000,
    webhookTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
    concurrency: config.MAX_CONCURRENT_DELIVERIES,
  }),
});

async function handleRecord(record: SQSRecord, context: Context): Promise<void> {
  try {
    await processor.process({
      messageId: record.messageId,
      body: record.body,
      receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1'),
      receiptHandle: record.receiptHandle,
      sentTimestampMs: Number(record.attributes.SentTimestamp ?? Date.now()),
    }, Date.now() + context.getRemainingTimeInMillis());
  } catch (error) {
    if (error instanceof RetryLaterError) {
      logger.info('Retry scheduled', { eventId: error.eventId, delaySeconds: error.delaySeconds });
    } else {
      logger.error('Record failed; SQS will redeliver it', { messageId: record.messageId, error: error as Error });
    }
    throw error;
  }
}

export const handler = traced.handler(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  try {
    // A batch whose every record is waiting for a retry is normal, not a function error: it must
    // not count towards the ProcessorErrors alarm.
    // A batch processor per invocation: it holds the batch's records and failures, so one shared
    // by overlapping invocations would report one batch's failures for another (lost retries).
    // FIFO: records run one after another; a record that fails or waits for a retry holds back
    // the later records of its message group only, so each group stays in order.
    if (config.QUEUE_FIFO) {
      const attempted = new Set<string>();
      const result = await processPartialResponse(event, (record: SQSRecord) => {
        attempted.add(record.messageId);
        return handleRecord(record, context);
      }, new SqsFifoPartialProcessorAsync(), { context, throwOnFullBatchFailure: false, skipGroupOnError: true });
      // Records held back behind a failed record of their group were never attempted: make them
      // visible again now (SQS still holds the group while the earlier record waits), or they keep
      // the queue's visibility timeout and hold their group for minutes after a 1-second retry.
      const skipped = event.Records.filter((r) => !attempted.has(r.messageId));
      await Promise.all(skipped.map((r) => queueControl.retryLater(r.receiptHandle, 0).catch((error: unknown) => {
        logger.warn('Could not release a held-back record; it returns after the visibility timeout', { messageId: r.messageId, error: error as Error });
      })));
      return result;
    }
    return await processPartialResponse(event, (record: SQSRecord) => handleRecord(record, context), new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
  } finally {
    if (recorded) metrics.publishStoredMetrics();
    recorded = false;
  }
});
