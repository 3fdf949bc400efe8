import { CfnOutput, Names } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { alarmTopic } from './alarm-topic';
import { ServiceAlarms } from './alarms';
import { ServiceDashboard } from './dashboard';
import { serviceEncryptionKey } from './encryption-key';
import { IngestFunction } from './functions/ingest-function';
import { ManagementFunction } from './functions/management-function';
import { ProcessorFunction } from './functions/processor-function';
import { NotificationApi } from './notification-api';
import { ApiKeyOptions, EventNotificationServiceProps } from './props';
import { ServiceQueues } from './queues';
import { ServiceFunctionContext } from './service-function';
import { resolveSettings } from './settings';
import { ServiceTables } from './tables';

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
  /** The events queue between the ingest and processor functions (its visibility timeout is 6 × the processor's timeout). */
  public readonly queue: sqs.Queue;
  /** Where events go that could not be processed or delivered. */
  public readonly deadLetterQueue: sqs.IQueue;
  /** Events, keyed by `eventId` (and the idempotency records, `idem_…`). */
  public readonly eventsTable: dynamodb.Table;
  /** Subscriptions, keyed by `subscriptionId`, with the `byEventType` and `byOwner` indexes. */
  public readonly subscriptionsTable: dynamodb.Table;
  /** One record per (event, subscription) with every delivery attempt. */
  public readonly notificationsTable: dynamodb.Table;
  /**
   * Handles `POST /events`, `POST /events/batch` and `POST /webhooks/{source}`. The concrete
   * function, as an escape hatch; size it with `ingestFunctionProps` (validated) rather than here.
   */
  public readonly ingestFunction: lambda.Function;
  /**
   * Handles the subscriptions API and `GET /events/{eventId}`. The concrete function, as an
   * escape hatch; size it with `managementFunctionProps` (validated) rather than here.
   */
  public readonly managementFunction: lambda.Function;
  /**
   * Consumes the events queue and delivers notifications. The concrete function, as an escape
   * hatch; size it with `processorFunctionProps`: its timeout also sets the queue's visibility.
   */
  public readonly processorFunction: lambda.Function;
  /** The topic every alarm notifies. */
  public readonly alarmTopic: sns.Topic;
  /** The alarms of the service. */
  public readonly alarms: cloudwatch.Alarm[];
  /** The KMS key of the queues, tables, alarm topic and log groups. */
  public readonly encryptionKey: kms.IKey;
  /** The CloudWatch dashboard of the service, unless `dashboard: false`. */
  public readonly dashboard?: cloudwatch.Dashboard;

  private readonly notificationApi: NotificationApi;

  constructor(scope: Construct, id: string, props: EventNotificationServiceProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props, this.node.path);
    const serviceName = Names.uniqueResourceName(this, { maxLength: 64 });
    this.encryptionKey = serviceEncryptionKey(this, props.encryptionKey, settings.removalPolicy);

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

    // Each function owns its environment (the contract's names) and its grants (src/functions).
    const tracing = props.tracing ?? true;
    const context: ServiceFunctionContext = { serviceName, settings, encryptionKey: this.encryptionKey, tracing };
    this.ingestFunction = new IngestFunction(this, 'Ingest', { ...context, queue: this.queue, eventsTable: this.eventsTable }).function;
    this.managementFunction = new ManagementFunction(this, 'Management', { ...context, tables }).function;

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

    // After the API: the processor attributes key-less events to API keys, which exist only now.
    this.processorFunction = new ProcessorFunction(this, 'Processor', {
      ...context,
      tables,
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      apiKey: this.apiKey,
      queuePublisherApiKey: props.queuePublisherApiKey ?? this.apiKey,
    }).function;

    this.alarmTopic = alarmTopic(this, { encryptionKey: this.encryptionKey, alarmEmail: settings.alarmEmail, removalPolicy: settings.removalPolicy });
    this.alarms = new ServiceAlarms(this, 'Alarms', {
      topic: this.alarmTopic,
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
