import { Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_KEY_PREFIX, FunctionSettings, ProcessorSetting } from '../contract';
import { acknowledge } from '../nag';
import { ServiceFunction, ServiceFunctionContext } from '../service-function';
import { ServiceTables } from '../tables';
import { acknowledgeGrantWildcards, grantIndexQuery, grantItems, grantSend } from './grants';
import { MAX_EVENT_SOURCE_CONCURRENCY } from './sizing';

export interface ProcessorFunctionProps extends ServiceFunctionContext {
  readonly tables: ServiceTables;
  /** The events queue it consumes (and changes the visibility of, for retries). */
  readonly queue: sqs.IQueue;
  /** Where it dead-letters events itself, with the reason. */
  readonly deadLetterQueue: sqs.IQueue;
  /** The key that inbound sources without their own key attribute their events to. */
  readonly apiKey: apigateway.IApiKey;
  /** The key that events sent straight to the queue (grantPublish) belong to. */
  readonly queuePublisherApiKey: apigateway.IApiKey;
}

/**
 * The events queue's consumer: validates, stores, matches and delivers. Its environment is the
 * contract's PROCESSOR_SETTINGS; its role may write events (`evt_…`) and notification records,
 * query subscriptions by event type, pause a subscription, dead-letter, and send email only as
 * the configured sender.
 */
export class ProcessorFunction extends ServiceFunction {
  constructor(scope: Construct, id: string, props: ProcessorFunctionProps) {
    const { settings, tables } = props;
    super(scope, id, {
      context: props,
      bundle: 'processor',
      description: 'Event notification service: validates, stores and delivers events',
      environment: {
        EVENTS_TABLE_NAME: tables.events.tableName,
        SUBSCRIPTIONS_TABLE_NAME: tables.subscriptions.tableName,
        NOTIFICATIONS_TABLE_NAME: tables.notifications.tableName,
        QUEUE_URL: props.queue.queueUrl,
        DEAD_LETTER_QUEUE_URL: props.deadLetterQueue.queueUrl,
        SUBSCRIPTION_CACHE_TTL_SECONDS: String(settings.subscriptionCacheTtlSeconds),
        QUEUE_FIFO: String(settings.fifo),
        RETRY_SCHEDULE_SECONDS: settings.retryScheduleSeconds.join(','),
        MAX_RECEIVE_COUNT: String(settings.maxReceiveCount),
        WEBHOOK_TIMEOUT_MS: String(settings.webhookTimeout.toMilliseconds()),
        // Fan-out parts are sized by the time one invocation has (lambda/core/fan-out.ts).
        FUNCTION_TIMEOUT_SECONDS: String(settings.functions.processor.timeout.toSeconds()),
        RETENTION_SECONDS: String(settings.retention.toSeconds()),
        ISOLATION: settings.isolation,
        // Endpoint health (docs/architecture.md "Endpoint health").
        DISABLE_AFTER_SECONDS: String(settings.disableAfter.toSeconds()),
        CIRCUIT_BREAKER: [settings.circuitBreaker.failureThreshold, settings.circuitBreaker.cooldownSeconds, settings.circuitBreaker.maxCooldownSeconds].join(','),
        ...(settings.email ? {
          EMAIL_FROM_ADDRESS: settings.email.fromAddress,
          ...(settings.email.configurationSetName ? { SES_CONFIGURATION_SET: settings.email.configurationSetName } : {}),
        } : {}),
        // Whose events arrive without an API key: the queue's (grantPublish) and each inbound
        // source's. The processor attributes them: the ingest function cannot refer to API keys
        // (the API refers to it).
        QUEUE_PUBLISHER_KEY_ID: props.queuePublisherApiKey.keyId,
        ...(settings.inboundWebhooks.length > 0 ? {
          INBOUND_OWNER_KEY_IDS: settings.inboundWebhooks.map((w) => `${w.name}=${(w.apiKey ?? props.apiKey).keyId}`).join(','),
        } : {}),
      } satisfies FunctionSettings<ProcessorSetting>,
      settingsFile: settings.eventSchemasJson ? { EVENT_SCHEMAS: settings.eventSchemasJson } satisfies FunctionSettings<ProcessorSetting> : undefined,
    });
    // FIFO: one message per invocation. In a batch, the events behind one that waits for a retry
    // are handed back unprocessed, and every such receive counts towards maxReceiveCount: they
    // would reach the dead-letter queue without ever being attempted (found by the torture suite).
    // With one message per batch, SQS keeps the rest of a group unreceived until its head is done.
    // With reserved concurrency, the event source never invokes more instances than may run: a
    // throttled batch would go back to the queue and count towards maxReceiveCount.
    const reserved = settings.functions.processor.reservedConcurrentExecutions;
    this.function.addEventSource(new SqsEventSource(props.queue, {
      batchSize: settings.fifo ? 1 : 10,
      reportBatchItemFailures: true,
      ...(reserved !== undefined ? { maxConcurrency: Math.min(reserved, MAX_EVENT_SOURCE_CONCURRENCY) } : {}),
    }));
    acknowledge(this.function.node.findAll().find((c) => c instanceof lambda.CfnEventSourceMapping)!, {
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'The events queue has a redrive policy to the service dead-letter queue (maxReceiveCount), and the processor '
        + 'dead-letters failed deliveries itself with the reason; an on-failure destination would only duplicate them.',
    });
    grantSend(this.role, props.deadLetterQueue, props.encryptionKey);
    // A large fan-out goes on in follow-up messages on the events queue, each reading its part's
    // subscriptions by id (BatchGetItem, below). Standard queues only: docs/architecture.md "Fan-out".
    if (!settings.fifo) grantSend(this.role, props.queue, props.encryptionKey);
    grantItems(this.role, tables.events, ['PutItem'], { leadingKeys: EVENT_KEY_PREFIX });
    grantItems(this.role, tables.notifications, ['Query', 'BatchWriteItem']);
    grantIndexQuery(this.role, tables.subscriptions); // matching (byEventType)
    // 410 Gone pauses a subscription, endpoint health and disabling update it; a fan-out's follow-up reads its part's subscriptions by id.
    grantItems(this.role, tables.subscriptions, settings.fifo ? ['UpdateItem'] : ['UpdateItem', 'BatchGetItem']);
    props.encryptionKey.grantEncryptDecrypt(this.role);
    if (settings.email) {
      // SES authorizes SendEmail against every identity involved: the sender's domain or, when the
      // address itself is verified, the address identity; and in the SES sandbox each recipient's
      // identity too. So any identity of this account and region, but only ever as the configured
      // sender (ses:FromAddress).
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['ses:SendEmail'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'ses:FromAddress': settings.email.fromAddress, 'aws:RequestedRegion': Stack.of(this).region },
        },
      }));
      acknowledge(this.role, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'SES authorizes SendEmail against the sender identity (domain or address) and, in the sandbox, each '
          + 'recipient identity, so the resources are not known in advance; every send is bound to the configured '
          + 'sender (ses:FromAddress) in this region. (With tracing on, X-Ray\'s PutTraceSegments and PutTelemetryRecords '
          + 'also need Resource "*": they support no resource-level permissions.)',
      });
    }
    acknowledge(this.function, {
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked synchronously by the SQS event source mapping: a failed record returns to the events queue and, after maxReceiveCount, '
        + 'its redrive policy moves it to the service dead-letter queue; a function DLQ only serves asynchronous invocations.',
    });
    acknowledgeGrantWildcards(this.role, tables.subscriptions);
  }
}
