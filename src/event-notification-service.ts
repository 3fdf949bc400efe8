import { ArnFormat, CfnOutput, Duration, Names, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ServiceAlarms } from './alarms';
import {
  EVENT_KEY_PREFIX, FunctionSettings, IDEMPOTENCY_KEY_PREFIX, IngestSetting, ManagementSetting, METRICS_NAMESPACE, POWERTOOLS_METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME, POWERTOOLS_TRACE_ENABLED, ProcessorSetting,
} from './contract';
import { ServiceDashboard } from './dashboard';
import { InboundWebhookSource } from './inbound-webhook-source';
import { acknowledge } from './nag';
import { NotificationApi } from './notification-api';
import { ApiKeyOptions, EventNotificationServiceProps } from './props';
import { ServiceQueues } from './queues';
import { ServiceFunction } from './service-function';
import { resolveSettings } from './settings';
import { ServiceTables } from './tables';

/**
 * What the ingest function needs to verify each inbound source (never the secret itself). It goes
 * into the function's settings file, which cannot hold deploy-time values: the secret ARNs travel
 * in the environment (INBOUND_SECRET_IDS, in the same order).
 */
function inboundSourcesJson(sources: InboundWebhookSource[]): string {
  return JSON.stringify(sources.map((s) => ({
    name: s.name,
    provider: s.provider,
    severity: s.severity,
    ...(s.hmacHeader ? { header: s.hmacHeader, algorithm: s.hmacAlgorithm, encoding: s.hmacEncoding } : {}),
    ...(s.hmacPrefix ? { prefix: s.hmacPrefix } : {}),
    ...(s.eventTypeHeader ? { eventTypeHeader: s.eventTypeHeader } : {}),
    ...(s.deliveryIdHeader ? { deliveryIdHeader: s.deliveryIdHeader } : {}),
  })));
}


/**
 * Grants exactly these DynamoDB actions on one table, optionally only on items whose partition
 * key starts with `leadingKeys`. Least privilege by construction: the handlers' requests are
 * listed in lambda/adapters/dynamo-*.ts, and test/iam evaluates every one of them.
 */
function grantItems(role: iam.IRole, table: dynamodb.ITable, actions: string[], options: { leadingKeys?: string } = {}): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: actions.map((a) => `dynamodb:${a}`),
    resources: [table.tableArn],
    ...(options.leadingKeys ? { conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${options.leadingKeys}*`] } } } : {}),
  }));
}

/** Query on a table's indexes only (the handlers never query the base table). */
function grantIndexQuery(role: iam.IRole, table: dynamodb.ITable): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/*`] }));
}

/**
 * SendMessage (and so SendMessageBatch) on one queue, and its own KMS key if it has one other
 * than the service's. CDK's grantSendMessages also gives GetQueueAttributes and GetQueueUrl,
 * which the functions never call (they get URLs from their environment).
 */
function grantSend(role: iam.IRole, queue: sqs.IQueue, serviceKey: kms.IKey): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
  if (queue.encryptionMasterKey && queue.encryptionMasterKey !== serviceKey) queue.encryptionMasterKey.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
}

/**
 * A serverless event-notification pipeline: publishers POST events to an API, an ingest function
 * queues them in SQS, and a processor stores them, matches subscriptions and delivers them by
 * email (SES) or signed webhook, with retries, a dead-letter queue and alarms.
 */
export class EventNotificationService extends Construct {
  /** The REST API (stage `v1`). Every method needs an API key of the usage plan. */
  public readonly api: apigateway.RestApi;
  /** The API key created with the service; add more with `addApiKey`. */
  public readonly apiKey: apigateway.IApiKey;
  /** The usage plan that throttles the API keys. */
  public readonly usagePlan: apigateway.UsagePlan;
  /** The events queue between the ingest and processor functions. */
  public readonly queue: sqs.IQueue;
  /** Where events go that could not be processed or delivered. */
  public readonly deadLetterQueue: sqs.IQueue;
  /** Events, keyed by `eventId`. */
  public readonly eventsTable: dynamodb.ITable;
  /** Subscriptions, keyed by `subscriptionId`, with the `byEventType` and `byOwner` indexes. */
  public readonly subscriptionsTable: dynamodb.ITable;
  /** One record per (event, subscription) with every delivery attempt. */
  public readonly notificationsTable: dynamodb.ITable;
  /** Handles `POST /events` and `POST /events/batch`. */
  public readonly ingestFunction: lambda.IFunction;
  /** Handles the subscriptions API and `GET /events/{eventId}`. */
  public readonly managementFunction: lambda.IFunction;
  /** Consumes the events queue and delivers notifications. */
  public readonly processorFunction: lambda.IFunction;
  /** The topic every alarm notifies. */
  public readonly alarmTopic: sns.ITopic;
  /** The alarms of the service. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** The KMS key of the queues, tables, alarm topic and log groups. */
  public readonly encryptionKey: kms.IKey;
  /** The CloudWatch dashboard of the service, unless `dashboard: false`. */
  public readonly dashboard?: cloudwatch.Dashboard;

  private readonly notificationApi: NotificationApi;

  constructor(scope: Construct, id: string, props: EventNotificationServiceProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props, this.node.path);
    const stack = Stack.of(this);
    const serviceName = Names.uniqueResourceName(this, { maxLength: 64 });

    this.encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: `Encrypts the queues, tables, alarm topic and log groups of ${this.node.path}`,
      enableKeyRotation: true,
      removalPolicy: settings.removalPolicy,
    });
    // CloudWatch alarms publish to the encrypted topic, so CloudWatch must be able to use the key.
    this.encryptionKey.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
    }));
    // The log groups are encrypted with the key: CloudWatch Logs may use it for this account's
    // log groups only (the encryption context names the log group).
    this.encryptionKey.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
        },
      },
    }));

    const tables = new ServiceTables(this, 'Tables', { encryptionKey: this.encryptionKey, removalPolicy: settings.removalPolicy });
    this.eventsTable = tables.events;
    this.subscriptionsTable = tables.subscriptions;
    this.notificationsTable = tables.notifications;

    const queues = new ServiceQueues(this, 'Queues', {
      fifo: settings.fifo,
      encryptionKey: this.encryptionKey,
      visibilityTimeout: settings.queueVisibilityTimeout,
      maxReceiveCount: settings.maxReceiveCount,
      removalPolicy: settings.removalPolicy,
      deadLetterQueue: props.deadLetterQueue,
    });
    this.queue = queues.events;
    this.deadLetterQueue = queues.deadLetter;

    const tracing = props.tracing ?? true;
    const common = {
      logRetention: settings.logRetention,
      logEncryptionKey: this.encryptionKey,
      removalPolicy: settings.removalPolicy,
      tracing,
    };
    const powertools = {
      [POWERTOOLS_SERVICE_NAME]: serviceName,
      [POWERTOOLS_METRICS_NAMESPACE]: METRICS_NAMESPACE,
      // The Powertools Tracer is on by default in Lambda; off, the handlers do not even load it.
      ...(tracing ? {} : { [POWERTOOLS_TRACE_ENABLED]: 'false' }),
    };

    const ingest = new ServiceFunction(this, 'Ingest', {
      ...common,
      bundle: 'ingest',
      description: 'Event notification service: accepts events and queues them',
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: {
        ...powertools,
        QUEUE_URL: this.queue.queueUrl,
        QUEUE_FIFO: String(settings.fifo),
        MAX_EVENT_SIZE_BYTES: String(settings.maxEventSizeBytes),
        EVENTS_TABLE_NAME: this.eventsTable.tableName,
        ...(settings.inboundWebhooks.length > 0 ? { INBOUND_SECRET_IDS: settings.inboundWebhooks.map((w) => w.secret.secretArn).join(',') } : {}),
      } satisfies FunctionSettings<IngestSetting>,
      settings: settings.inboundWebhooks.length > 0
        ? { INBOUND_SOURCES: inboundSourcesJson(settings.inboundWebhooks) } satisfies FunctionSettings<IngestSetting>
        : undefined,
    });
    grantSend(ingest.role, this.queue, this.encryptionKey);
    for (const source of settings.inboundWebhooks) source.secret.grantRead(ingest.role);
    grantItems(ingest.role, this.eventsTable, ['GetItem', 'PutItem', 'UpdateItem'], { leadingKeys: IDEMPOTENCY_KEY_PREFIX });
    this.encryptionKey.grantEncryptDecrypt(ingest.role);
    this.ingestFunction = ingest.function;

    const management = new ServiceFunction(this, 'Management', {
      ...common,
      bundle: 'management',
      description: 'Event notification service: subscriptions API',
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: {
        ...powertools,
        SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.tableName,
        EVENTS_TABLE_NAME: this.eventsTable.tableName,
        NOTIFICATIONS_TABLE_NAME: this.notificationsTable.tableName,
        MAX_SUBSCRIPTIONS_PER_KEY: String(settings.maxSubscriptionsPerKey),
      } satisfies FunctionSettings<ManagementSetting>,
    });
    // Exactly the requests the handler makes: no Scan, no batch, nothing of the idempotency records.
    grantItems(management.role, this.subscriptionsTable, ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);
    grantIndexQuery(management.role, this.subscriptionsTable); // byOwner
    grantItems(management.role, this.eventsTable, ['GetItem'], { leadingKeys: EVENT_KEY_PREFIX }); // GET /events/{eventId}
    grantItems(management.role, this.notificationsTable, ['Query']);
    this.encryptionKey.grantEncryptDecrypt(management.role);
    this.managementFunction = management.function;

    const processor = new ServiceFunction(this, 'Processor', {
      ...common,
      bundle: 'processor',
      description: 'Event notification service: validates, stores and delivers events',
      memorySize: 512,
      timeout: settings.processorTimeout,
      environment: {
        ...powertools,
        EVENTS_TABLE_NAME: this.eventsTable.tableName,
        SUBSCRIPTIONS_TABLE_NAME: this.subscriptionsTable.tableName,
        NOTIFICATIONS_TABLE_NAME: this.notificationsTable.tableName,
        QUEUE_URL: this.queue.queueUrl,
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        SUBSCRIPTION_CACHE_TTL_SECONDS: String(settings.subscriptionCacheTtlSeconds),
        QUEUE_FIFO: String(settings.fifo),
        RETRY_SCHEDULE_SECONDS: settings.retryScheduleSeconds.join(','),
        MAX_RECEIVE_COUNT: String(settings.maxReceiveCount),
        WEBHOOK_TIMEOUT_MS: String(settings.webhookTimeout.toMilliseconds()),
        RETENTION_SECONDS: String(settings.retention.toSeconds()),
        ISOLATION: settings.isolation,
        ...(settings.email ? {
          EMAIL_FROM_ADDRESS: settings.email.fromAddress,
          ...(settings.email.configurationSetName ? { SES_CONFIGURATION_SET: settings.email.configurationSetName } : {}),
        } : {}),
      } satisfies FunctionSettings<ProcessorSetting>,
      settings: settings.eventSchemasJson ? { EVENT_SCHEMAS: settings.eventSchemasJson } satisfies FunctionSettings<ProcessorSetting> : undefined,
    });
    // FIFO: one message per invocation. In a batch, the events behind one that waits for a retry
    // are handed back unprocessed, and every such receive counts towards maxReceiveCount: they
    // would reach the dead-letter queue without ever being attempted (found by the torture suite).
    // With one message per batch, SQS keeps the rest of a group unreceived until its head is done.
    processor.function.addEventSource(new SqsEventSource(this.queue, { batchSize: settings.fifo ? 1 : 10, reportBatchItemFailures: true }));
    acknowledge(processor.function.node.findAll().find((c) => c instanceof lambda.CfnEventSourceMapping)!, {
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason: 'The events queue has a redrive policy to the service dead-letter queue (maxReceiveCount), and the processor '
        + 'dead-letters failed deliveries itself with the reason; an on-failure destination would only duplicate them.',
    });
    grantSend(processor.role, this.deadLetterQueue, this.encryptionKey);
    grantItems(processor.role, this.eventsTable, ['PutItem'], { leadingKeys: EVENT_KEY_PREFIX });
    grantItems(processor.role, this.notificationsTable, ['Query', 'BatchWriteItem']);
    grantIndexQuery(processor.role, this.subscriptionsTable); // matching (byEventType)
    grantItems(processor.role, this.subscriptionsTable, ['UpdateItem']); // 410 Gone pauses a subscription
    this.encryptionKey.grantEncryptDecrypt(processor.role);
    if (settings.email) {
      // SES authorizes SendEmail against every identity involved: the sender's domain or, when the
      // address itself is verified, the address identity; and in the SES sandbox each recipient's
      // identity too. So any identity of this account and region, but only ever as the configured
      // sender (ses:FromAddress).
      processor.role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['ses:SendEmail'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'ses:FromAddress': settings.email.fromAddress, 'aws:RequestedRegion': stack.region },
        },
      }));
      acknowledge(processor.role, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'SES authorizes SendEmail against the sender identity (domain or address) and, in the sandbox, each '
          + 'recipient identity, so the resources are not known in advance; every send is bound to the configured '
          + 'sender (ses:FromAddress) in this region. (With tracing on, X-Ray\'s PutTraceSegments and PutTelemetryRecords '
          + 'also need Resource "*": they support no resource-level permissions.)',
      });
    }
    this.processorFunction = processor.function;
    acknowledge(ingest.function, {
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked synchronously by API Gateway, which waits for the answer and returns errors to the caller; a DLQ only serves asynchronous invocations.',
    });
    acknowledge(management.function, {
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked synchronously by API Gateway, which waits for the answer and returns errors to the caller; a DLQ only serves asynchronous invocations.',
    });
    acknowledge(processor.function, {
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked synchronously by the SQS event source mapping: a failed record returns to the events queue and, after maxReceiveCount, '
        + 'its redrive policy moves it to the service dead-letter queue; a function DLQ only serves asynchronous invocations.',
    });

    this.notificationApi = new NotificationApi(this, 'Api', {
      ingestFunction: this.ingestFunction,
      managementFunction: this.managementFunction,
      throttle: settings.throttle,
      stageThrottle: settings.stageThrottle,
      quota: props.quota,
      logRetention: settings.logRetention,
      logEncryptionKey: this.encryptionKey,
      tracing,
      removalPolicy: settings.removalPolicy,
      webAclArn: props.webAclArn,
      createCloudWatchRole: props.createApiGatewayCloudWatchRole ?? false,
      inboundWebhooks: settings.inboundWebhooks.length > 0,
    });
    this.api = this.notificationApi.api;
    this.apiKey = this.notificationApi.apiKey;
    this.usagePlan = this.notificationApi.usagePlan;

    // Whose events arrive without an API key: the queue's (grantPublish) and each inbound source's.
    // Their key ids exist only once the API does, so they are added to the environments here.
    const queuePublisherKey = props.queuePublisherApiKey ?? this.apiKey;
    processor.addEnvironment('QUEUE_PUBLISHER_KEY_ID' satisfies ProcessorSetting, queuePublisherKey.keyId);
    if (settings.inboundWebhooks.length > 0) {
      processor.addEnvironment('INBOUND_OWNER_KEY_IDS' satisfies ProcessorSetting,
        settings.inboundWebhooks.map((w) => `${w.name}=${(w.apiKey ?? this.apiKey).keyId}`).join(','));
    }

    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Event notification service alarms',
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });
    // The topic's policy (written for enforceSSL) otherwise holds only a Deny: alarms of this
    // account must be allowed to publish, or every alarm fails silently.
    topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
      },
    }));
    if (settings.alarmEmail) {
      // Alarm notifications SNS could not deliver to the address (after its own retries) are
      // kept here for 14 days instead of being dropped.
      const undelivered = new sqs.Queue(this, 'AlarmEmailDeadLetter', {
        encryption: sqs.QueueEncryption.KMS,
        encryptionMasterKey: this.encryptionKey,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy: settings.removalPolicy,
      });
      // SNS writes to the encrypted queue with the service key.
      this.encryptionKey.addToResourcePolicy(new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }));
      topic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail, { deadLetterQueue: undelivered }));
      acknowledge(undelivered,
        { id: 'AwsSolutions-SQS3', reason: 'This queue is itself a dead-letter queue: that of the alarm topic\'s email subscription.' },
        { id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is itself a dead-letter queue (the alarm email subscription\'s): there is nowhere further to redrive to.' },
      );
    }
    this.alarmTopic = topic;

    this.alarms = new ServiceAlarms(this, 'Alarms', {
      topic,
      deadLetterQueue: this.deadLetterQueue,
      eventsQueue: this.queue,
      processor: this.processorFunction,
      stage: this.api.deploymentStage,
      serviceName,
      queueAgeThreshold: settings.queueAgeAlarmThreshold,
    }).alarms;

    if (props.dashboard ?? true) {
      this.dashboard = new ServiceDashboard(this, 'Dashboard', {
        stage: this.api.deploymentStage,
        eventsQueue: this.queue,
        deadLetterQueue: this.deadLetterQueue,
        functions: [
          { name: 'Ingest', function: this.ingestFunction },
          { name: 'Management', function: this.managementFunction },
          { name: 'Processor', function: this.processorFunction },
        ],
        alarms: this.alarms,
        serviceName,
      }).dashboard;
    }

    // What the replay tool needs (`replay … --stack <name>`); outputs grant nothing.
    new CfnOutput(this, 'EventsQueueUrl', { value: this.queue.queueUrl, description: 'Events queue of the event notification service' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl, description: 'Dead-letter queue of the event notification service' });
    new CfnOutput(this, 'EventsTableName', { value: this.eventsTable.tableName, description: 'Events table of the event notification service' });

    this.acknowledgeGrantWildcards(tables.subscriptions, [ingest, management, processor], [management, processor]);


  }

  /** The wildcards that CDK's own grants write, and why each is as narrow as IAM allows. */
  private acknowledgeGrantWildcards(subscriptionsTable: dynamodb.Table, functions: ServiceFunction[], indexReaders: ServiceFunction[]): void {
    for (const fn of functions) {
      acknowledge(fn.role,
        { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: 'CDK KMS grant on the service key only: SQS and DynamoDB need GenerateDataKey and GenerateDataKeyWithoutPlaintext.' },
        { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: 'CDK KMS grant on the service key only: ReEncryptFrom/To on that one key.' },
      );
    }
    const tableId = Stack.of(this).getLogicalId(subscriptionsTable.node.defaultChild as dynamodb.CfnTable);
    for (const fn of indexReaders) {
      acknowledge(fn.role, {
        id: `AwsSolutions-IAM5[Resource::<${tableId}.Arn>/index/*]`,
        reason: 'Queries of the subscriptions table\'s own indexes (byEventType, byOwner); no other table.',
      });
    }
  }

  /**
   * Lets other code send events straight to the events queue (SendMessage), bypassing the API.
   * The message body is the event envelope `{ eventType, severity, title, details? }` as JSON.
   */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.queue.grantSendMessages(grantee);
  }

  /**
   * Adds an API key to the usage plan. Each key owns the subscriptions it creates: give each
   * publisher or team its own key.
   */
  public addApiKey(id: string, options: ApiKeyOptions = {}): apigateway.IApiKey {
    const key = this.api.addApiKey(id, { apiKeyName: options.apiKeyName, description: options.description });
    this.usagePlan.addApiKey(key);
    return key;
  }
}
