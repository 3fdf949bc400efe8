import { App, CfnElement, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';
import { EventNotificationService, EventNotificationServiceProps, InboundWebhookSource, Isolation } from '../../src';

const ENV = { account: '123456789012', region: 'us-east-1' };

interface Synthesized {
  readonly stack: Stack;
  readonly svc: EventNotificationService;
  readonly template: Template;
}

/** One stack with one service; `extend` may add more to the stack before the template is taken. */
function synth(props: EventNotificationServiceProps = {}, extend?: (svc: EventNotificationService, stack: Stack) => void): Synthesized {
  const app = new App();
  const stack = new Stack(app, 'TestStack', { env: ENV });
  const svc = new EventNotificationService(stack, 'Svc', props);
  extend?.(svc, stack);
  return { stack, svc, template: Template.fromStack(stack) };
}

/** Logical id of the CloudFormation resource behind an L2 construct. */
function logicalId(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

const arnOf = (stack: Stack, construct: IConstruct) => ({ 'Fn::GetAtt': [logicalId(stack, construct), 'Arn'] });
const refOf = (stack: Stack, construct: IConstruct) => ({ Ref: logicalId(stack, construct) });

interface Statement {
  Effect: string;
  Action: string[];
  Resource: unknown[];
  Condition?: Record<string, Record<string, unknown>>;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every statement of every IAM policy attached to the function's role. */
function statementsOf(s: Synthesized, fn: lambda.IFunction): Statement[] {
  const roleId = logicalId(s.stack, fn.role!);
  const policies = Object.values(s.template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId));
  expect(policies.length).toBeGreaterThan(0);
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, unknown>[]).map((st) => ({
    Effect: st.Effect as string,
    Action: asArray(st.Action as string | string[]),
    Resource: asArray(st.Resource),
    Condition: st.Condition as Statement['Condition'],
  }));
}

const withActionPrefix = (statements: Statement[], prefix: string) =>
  statements.filter((st) => st.Action.some((a) => a.startsWith(prefix)));

/** Resolves `Fn::Join` ARNs built by `Stack.formatArn` into plain strings (partition `aws`). */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v.Ref === 'AWS::Partition') return 'aws';
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  return JSON.stringify(value);
}

function functionProps(s: Synthesized, fn: lambda.IFunction): Record<string, any> {
  return s.template.toJSON().Resources[logicalId(s.stack, fn)].Properties;
}

describe('EventNotificationService with default props', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  describe('DynamoDB tables', () => {
    test('there are exactly three tables, on demand, with point-in-time recovery and KMS SSE with the service key', () => {
      s.template.resourceCountIs('AWS::DynamoDB::Table', 3);
      const tables = s.template.findResources('AWS::DynamoDB::Table');
      for (const table of Object.values(tables)) {
        expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
        expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
        expect(table.Properties.SSESpecification).toEqual({
          SSEEnabled: true,
          SSEType: 'KMS',
          KMSMasterKeyId: arnOf(s.stack, s.svc.encryptionKey),
        });
        expect(table.Properties.ProvisionedThroughput).toBeUndefined();
      }
    });

    test('Events: partition key eventId, TTL on expiresAt, no indexes', () => {
      const props = s.template.toJSON().Resources[logicalId(s.stack, s.svc.eventsTable)].Properties;
      expect(props.KeySchema).toEqual([{ AttributeName: 'eventId', KeyType: 'HASH' }]);
      expect(props.AttributeDefinitions).toEqual([{ AttributeName: 'eventId', AttributeType: 'S' }]);
      expect(props.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
      expect(props.GlobalSecondaryIndexes).toBeUndefined();
    });

    test('Notifications: eventId + subscriptionId, TTL on expiresAt', () => {
      const props = s.template.toJSON().Resources[logicalId(s.stack, s.svc.notificationsTable)].Properties;
      expect(props.KeySchema).toEqual([
        { AttributeName: 'eventId', KeyType: 'HASH' },
        { AttributeName: 'subscriptionId', KeyType: 'RANGE' },
      ]);
      expect(props.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
      expect(props.GlobalSecondaryIndexes).toBeUndefined();
    });

    test('Subscriptions: partition key subscriptionId, the byEventType and byOwner GSIs, no TTL', () => {
      const props = s.template.toJSON().Resources[logicalId(s.stack, s.svc.subscriptionsTable)].Properties;
      expect(props.KeySchema).toEqual([{ AttributeName: 'subscriptionId', KeyType: 'HASH' }]);
      expect(props.TimeToLiveSpecification).toBeUndefined();
      expect(props.AttributeDefinitions).toEqual(expect.arrayContaining([
        { AttributeName: 'subscriptionId', AttributeType: 'S' },
        { AttributeName: 'eventType', AttributeType: 'S' },
        { AttributeName: 'ownerKeyId', AttributeType: 'S' },
      ]));
      const byName = Object.fromEntries((props.GlobalSecondaryIndexes as { IndexName: string }[]).map((i) => [i.IndexName, i]));
      expect(Object.keys(byName).sort()).toEqual(['byEventType', 'byOwner']);
      expect(byName.byEventType).toEqual({
        IndexName: 'byEventType',
        KeySchema: [{ AttributeName: 'eventType', KeyType: 'HASH' }, { AttributeName: 'subscriptionId', KeyType: 'RANGE' }],
        Projection: { ProjectionType: 'ALL' },
      });
      expect(byName.byOwner).toEqual({
        IndexName: 'byOwner',
        KeySchema: [{ AttributeName: 'ownerKeyId', KeyType: 'HASH' }, { AttributeName: 'subscriptionId', KeyType: 'RANGE' }],
        Projection: { ProjectionType: 'ALL' },
      });
    });
  });

  describe('SQS queues', () => {
    test('there are exactly two queues, neither FIFO', () => {
      s.template.resourceCountIs('AWS::SQS::Queue', 2);
      for (const queue of Object.values(s.template.findResources('AWS::SQS::Queue'))) {
        expect(queue.Properties.FifoQueue).toBeUndefined();
      }
    });

    test('events queue: KMS with the service key, DLQ redrive after 10 receives, 360 s visibility, 14 days, 1 MiB', () => {
      s.template.hasResourceProperties('AWS::SQS::Queue', {
        KmsMasterKeyId: arnOf(s.stack, s.svc.encryptionKey),
        RedrivePolicy: Match.objectEquals({ deadLetterTargetArn: arnOf(s.stack, s.svc.deadLetterQueue), maxReceiveCount: 13 }),
        VisibilityTimeout: 360,
        MessageRetentionPeriod: 14 * 24 * 3600,
        MaximumMessageSize: 1024 * 1024,
      });
      const props = s.template.toJSON().Resources[logicalId(s.stack, s.svc.queue)].Properties;
      expect(props.VisibilityTimeout).toBe(6 * functionProps(s, s.svc.processorFunction).Timeout);
    });

    test('dead-letter queue: KMS with the service key, 14 days, 1 MiB, no redrive of its own', () => {
      const props = s.template.toJSON().Resources[logicalId(s.stack, s.svc.deadLetterQueue)].Properties;
      expect(props).toEqual(expect.objectContaining({
        KmsMasterKeyId: arnOf(s.stack, s.svc.encryptionKey),
        MessageRetentionPeriod: 1209600,
        MaximumMessageSize: 1048576,
      }));
      expect(props.RedrivePolicy).toBeUndefined();
    });

    test.each([['events queue', 'queue'], ['dead-letter queue', 'deadLetterQueue']] as const)('%s has a policy that denies non-TLS access', (_name, prop) => {
      const queue = s.svc[prop];
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [refOf(s.stack, queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([{
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sqs:*',
            Resource: arnOf(s.stack, queue),
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }]),
        },
      });
    });
  });

  describe('Lambda functions', () => {
    test('there are exactly three functions: Node.js 24, arm64, index.handler, own log group', () => {
      s.template.resourceCountIs('AWS::Lambda::Function', 3);
      for (const fn of Object.values(s.template.findResources('AWS::Lambda::Function'))) {
        expect(fn.Properties.Runtime).toBe('nodejs24.x');
        expect(fn.Properties.Architectures).toEqual(['arm64']);
        expect(fn.Properties.Handler).toBe('index.handler');
        expect(fn.Properties.LoggingConfig).toEqual(expect.objectContaining({ LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } }));
      }
      s.template.resourceCountIs('AWS::Logs::LogGroup', 5); // three functions + API access and execution logs
      s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    test('ingest: 256 MB, 10 s, and exactly its environment', () => {
      const props = functionProps(s, s.svc.ingestFunction);
      expect(props.MemorySize).toBe(256);
      expect(props.Timeout).toBe(10);
      expect(props.Environment.Variables).toEqual({
        POWERTOOLS_SERVICE_NAME: expect.any(String),
        POWERTOOLS_METRICS_NAMESPACE: 'EventNotificationService',
        QUEUE_URL: refOf(s.stack, s.svc.queue),
        QUEUE_FIFO: 'false',
        MAX_EVENT_SIZE_BYTES: String(256 * 1024),
        EVENTS_TABLE_NAME: refOf(s.stack, s.svc.eventsTable),
      });
    });

    test('management: exactly its environment', () => {
      const props = functionProps(s, s.svc.managementFunction);
      expect(props.Environment.Variables).toEqual({
        POWERTOOLS_SERVICE_NAME: expect.any(String),
        POWERTOOLS_METRICS_NAMESPACE: 'EventNotificationService',
        SUBSCRIPTIONS_TABLE_NAME: refOf(s.stack, s.svc.subscriptionsTable),
        EVENTS_TABLE_NAME: refOf(s.stack, s.svc.eventsTable),
        NOTIFICATIONS_TABLE_NAME: refOf(s.stack, s.svc.notificationsTable),
        MAX_SUBSCRIPTIONS_PER_KEY: '100',
        SECRET_ROTATION_OVERLAP_SECONDS: '86400',
      });
    });

    test('processor: 512 MB, 60 s, exactly its environment (no email settings without email)', () => {
      const props = functionProps(s, s.svc.processorFunction);
      expect(props.MemorySize).toBe(512);
      expect(props.Timeout).toBe(60);
      expect(props.Environment.Variables).toEqual({
        POWERTOOLS_SERVICE_NAME: expect.any(String),
        POWERTOOLS_METRICS_NAMESPACE: 'EventNotificationService',
        EVENTS_TABLE_NAME: refOf(s.stack, s.svc.eventsTable),
        SUBSCRIPTIONS_TABLE_NAME: refOf(s.stack, s.svc.subscriptionsTable),
        NOTIFICATIONS_TABLE_NAME: refOf(s.stack, s.svc.notificationsTable),
        QUEUE_URL: refOf(s.stack, s.svc.queue),
        DEAD_LETTER_QUEUE_URL: refOf(s.stack, s.svc.deadLetterQueue),
        SUBSCRIPTION_CACHE_TTL_SECONDS: '30',
        QUEUE_FIFO: 'false',
        RETRY_SCHEDULE_SECONDS: '0,5,300,1800,7200,18000,36000,36000',
        // The queue's redrive maxReceiveCount: the processor finishes a message on that receive.
        MAX_RECEIVE_COUNT: '13',
        WEBHOOK_TIMEOUT_MS: '15000',
        // The function's own time limit: fan-out parts are sized by it.
        FUNCTION_TIMEOUT_SECONDS: '60',
        RETENTION_SECONDS: String(30 * 86400),
        ISOLATION: 'SHARED',
        DISABLE_AFTER_SECONDS: String(5 * 86400),
        CIRCUIT_BREAKER: '5,30,900',
        // Events sent straight to the queue (grantPublish) belong to the service's own key.
        QUEUE_PUBLISHER_KEY_ID: refOf(s.stack, s.svc.apiKey),
      });
    });

    test('all three functions share one service name', () => {
      const names = [s.svc.ingestFunction, s.svc.managementFunction, s.svc.processorFunction]
        .map((fn) => functionProps(s, fn).Environment.Variables.POWERTOOLS_SERVICE_NAME);
      expect(new Set(names).size).toBe(1);
      expect(names[0]).toMatch(/^[A-Za-z0-9]{1,64}$/);
    });

    test('the processor consumes the events queue: batch size 10, ReportBatchItemFailures', () => {
      s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: arnOf(s.stack, s.svc.queue),
        FunctionName: refOf(s.stack, s.svc.processorFunction),
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });
  });

  describe('IAM least privilege', () => {
    test('function roles have no managed policies and no inline policies of their own', () => {
      s.template.resourceCountIs('AWS::IAM::Role', 3);
      for (const role of Object.values(s.template.findResources('AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
        expect(role.Properties.Policies).toBeUndefined();
        expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
        ]);
      }
      s.template.resourceCountIs('AWS::ApiGateway::Account', 0); // createApiGatewayCloudWatchRole defaults to false
    });

    test('no function statement allows every resource, and every statement is an Allow', () => {
      for (const fn of [s.svc.ingestFunction, s.svc.managementFunction, s.svc.processorFunction]) {
        for (const st of statementsOf(s, fn)) {
          expect(st.Effect).toBe('Allow');
          // X-Ray's actions support no resource-level permissions: the one statement IAM forces to '*'.
          if (st.Resource.includes('*')) {
            expect(st.Resource).toEqual(['*']);
            expect(st.Action).toEqual(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);
            continue;
          }
          expect(st.Resource).not.toContain('*');
          expect(st.Action).not.toContain('*');
        }
      }
    });

    test('KMS permissions are on the service key only', () => {
      for (const fn of [s.svc.ingestFunction, s.svc.managementFunction, s.svc.processorFunction]) {
        for (const st of withActionPrefix(statementsOf(s, fn), 'kms:')) {
          expect(st.Resource).toEqual([arnOf(s.stack, s.svc.encryptionKey)]);
        }
      }
    });

    test('ingest: sqs:SendMessage on the events queue only', () => {
      const sqsStatements = withActionPrefix(statementsOf(s, s.svc.ingestFunction), 'sqs:');
      expect(sqsStatements).toEqual([{ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: [arnOf(s.stack, s.svc.queue)] }]);
      expect(sqsStatements.some((st) => st.Action.includes('sqs:SendMessage'))).toBe(true);
      for (const st of sqsStatements) {
        expect(st.Resource).toEqual([arnOf(s.stack, s.svc.queue)]);
        expect(st.Action).not.toContain('sqs:ReceiveMessage');
        expect(st.Action).not.toContain('sqs:DeleteMessage');
      }
    });

    // Exactly the requests each handler makes (lambda/adapters/dynamo-*.ts), nothing more.
    const indexesOf = (table: dynamodb.ITable) => ({ 'Fn::Join': ['', [arnOf(s.stack, table), '/index/*']] });
    const evtKeys = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['evt_*'] } };

    test('ingest: GetItem, PutItem, UpdateItem on the Events table only, limited to idem_* keys', () => {
      const dynamo = withActionPrefix(statementsOf(s, s.svc.ingestFunction), 'dynamodb:');
      expect(dynamo).toEqual([{
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: [arnOf(s.stack, s.svc.eventsTable)],
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['idem_*'] } },
      }]);
    });

    test('management: item actions on Subscriptions and Query of its indexes, GetItem of evt_* Events, Query of Notifications; no Scan, no SQS, no SES', () => {
      const statements = statementsOf(s, s.svc.managementFunction);
      expect(withActionPrefix(statements, 'sqs:')).toEqual([]);
      expect(withActionPrefix(statements, 'ses:')).toEqual([]);
      expect(withActionPrefix(statements, 'dynamodb:')).toEqual([
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], Resource: [arnOf(s.stack, s.svc.subscriptionsTable)] },
        { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: [indexesOf(s.svc.subscriptionsTable)] },
        { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: [arnOf(s.stack, s.svc.eventsTable)], Condition: evtKeys },
        { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: [arnOf(s.stack, s.svc.notificationsTable)] },
      ]);
    });

    test('processor: PutItem of evt_* Events, Query and BatchWriteItem of Notifications, Query of Subscriptions\' indexes, UpdateItem and BatchGetItem of Subscriptions', () => {
      expect(withActionPrefix(statementsOf(s, s.svc.processorFunction), 'dynamodb:')).toEqual([
        { Effect: 'Allow', Action: ['dynamodb:PutItem'], Resource: [arnOf(s.stack, s.svc.eventsTable)], Condition: evtKeys },
        { Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:BatchWriteItem'], Resource: [arnOf(s.stack, s.svc.notificationsTable)] },
        { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: [indexesOf(s.svc.subscriptionsTable)] },
        { Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:BatchGetItem'], Resource: [arnOf(s.stack, s.svc.subscriptionsTable)] },
      ]);
    });

    test('processor: consumes the events queue, sends to the DLQ and (fan-out follow-ups) the events queue, and has no SES without email', () => {
      const statements = statementsOf(s, s.svc.processorFunction);
      expect(withActionPrefix(statements, 'ses:')).toEqual([]);
      const sqsStatements = withActionPrefix(statements, 'sqs:');
      const sendTargets = sqsStatements.filter((st) => st.Action.includes('sqs:SendMessage')).flatMap((st) => st.Resource);
      expect(sendTargets).toEqual([arnOf(s.stack, s.svc.deadLetterQueue), arnOf(s.stack, s.svc.queue)]);
      const receiveTargets = sqsStatements.filter((st) => st.Action.includes('sqs:ReceiveMessage')).flatMap((st) => st.Resource);
      expect(receiveTargets).toEqual([arnOf(s.stack, s.svc.queue)]);
    });
  });

  describe('REST API', () => {
    test('one regional REST API with a unique name, stage v1', () => {
      s.template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
      s.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        EndpointConfiguration: { Types: ['REGIONAL'] },
        ApiKeySourceType: 'HEADER',
      });
      s.template.resourceCountIs('AWS::ApiGateway::Stage', 1);
      s.template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'v1', RestApiId: refOf(s.stack, s.svc.api) });
    });

    test('stage: JSON access logs to its log group, ERROR execution logs, no data trace, stage-wide default throttle, X-Ray', () => {
      const stage = Object.values(s.template.findResources('AWS::ApiGateway::Stage'))[0].Properties;
      expect(stage.AccessLogSetting.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/AccessLogs/), 'Arn'] });
      const format = JSON.parse(stage.AccessLogSetting.Format);
      expect(format).toEqual(expect.objectContaining({ requestId: '$context.requestId', status: '$context.status' }));
      expect(stage.MethodSettings).toEqual([{
        HttpMethod: '*',
        ResourcePath: '/*',
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        MetricsEnabled: true,
        ThrottlingRateLimit: 1000,
        ThrottlingBurstLimit: 2000,
      }]);
      expect(stage.TracingEnabled).toBe(true);
    });

    test('every method requires an API key (no exceptions)', () => {
      const methods = Object.values(s.template.findResources('AWS::ApiGateway::Method'));
      expect(methods.map((m) => m.Properties.HttpMethod).sort()).toEqual(['DELETE', 'GET', 'GET', 'GET', 'PATCH', 'POST', 'POST', 'POST', 'POST']);
      for (const method of methods) {
        expect(method.Properties.ApiKeyRequired).toBe(true);
        expect(method.Properties.AuthorizationType).toBe('NONE');
      }
    });

    test('usage plan: throttle rate 100 / burst 200 on the v1 stage, no quota by default', () => {
      s.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
      s.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
        Throttle: { RateLimit: 100, BurstLimit: 200 },
        Quota: Match.absent(),
        ApiStages: [Match.objectLike({ ApiId: refOf(s.stack, s.svc.api), Stage: refOf(s.stack, s.svc.api.deploymentStage) })],
      });
    });

    test('one API key, attached to the usage plan', () => {
      s.template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
      s.template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 1);
      s.template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
        KeyId: refOf(s.stack, s.svc.apiKey),
        KeyType: 'API_KEY',
        UsagePlanId: refOf(s.stack, s.svc.usagePlan),
      });
    });

    test('gateway responses are application/problem+json with a consistent status', () => {
      const responses = Object.values(s.template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => r.Properties);
      expect(responses.length).toBe(9);
      const statusByType: Record<string, string> = {};
      for (const r of responses) {
        expect(r.ResponseParameters).toEqual({ 'gatewayresponse.header.Content-Type': "'application/problem+json'" });
        const body = JSON.parse((r.ResponseTemplates['application/json'] as string).replace('$context.error.messageString', '"detail"'));
        // The catch-alls keep API Gateway's own status code, so their body names none.
        const expected = r.StatusCode === undefined
          ? { type: expect.stringMatching(/^urn:event-notification-service:problem:[a-z-]+$/), title: expect.any(String), detail: 'detail' }
          : { type: expect.stringMatching(/^urn:event-notification-service:problem:[a-z-]+$/), title: expect.any(String), status: Number(r.StatusCode), detail: 'detail' };
        expect(body).toEqual(expected);
        statusByType[r.ResponseType] = r.StatusCode;
      }
      expect(statusByType).toEqual(expect.objectContaining({
        INVALID_API_KEY: '403',
        MISSING_AUTHENTICATION_TOKEN: '404',
        THROTTLED: '429',
        QUOTA_EXCEEDED: '429',
        REQUEST_TOO_LARGE: '413',
        BAD_REQUEST_BODY: '400',
      }));
      expect(statusByType.DEFAULT_4XX).toBeUndefined();
      expect(statusByType.DEFAULT_5XX).toBeUndefined();
    });

    test('no web ACL association without webAclArn', () => {
      s.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    });
  });

  describe('KMS key', () => {
    test('one key, rotation enabled, CloudWatch may use it (for alarms publishing to the encrypted topic)', () => {
      s.template.resourceCountIs('AWS::KMS::Key', 1);
      s.template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([{
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          }]),
        },
      });
    });
  });

  describe('SNS alarm topic', () => {
    test('one topic, encrypted with the service key, TLS only, and no subscription without alarmEmail', () => {
      s.template.resourceCountIs('AWS::SNS::Topic', 1);
      s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf(s.stack, s.svc.encryptionKey) });
      s.template.resourceCountIs('AWS::SNS::Subscription', 0);
      s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    });
  });

  describe('CloudWatch alarms', () => {
    let alarms: Record<string, any>[];
    beforeAll(() => {
      alarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    });
    const alarmFor = (metricName: string) => {
      const found = alarms.filter((a) => a.MetricName === metricName);
      expect(found).toHaveLength(1);
      return found[0];
    };

    test('six alarms, each notifying the topic on ALARM and on OK', () => {
      expect(alarms).toHaveLength(6);
      expect(s.svc.alarms).toHaveLength(6);
      const topic = refOf(s.stack, s.svc.alarmTopic);
      for (const alarm of alarms) {
        expect(alarm.AlarmActions).toEqual([topic]);
        expect(alarm.OKActions).toEqual([topic]);
        expect(alarm.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
        expect(alarm.TreatMissingData).toBe('notBreaching');
      }
    });

    test('DLQ visible messages >= 1', () => {
      expect(alarmFor('ApproximateNumberOfMessagesVisible')).toEqual(expect.objectContaining({
        Namespace: 'AWS/SQS',
        Threshold: 1,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(s.stack, s.svc.deadLetterQueue), 'QueueName'] } }],
      }));
    });

    test('processor Errors >= 1', () => {
      expect(alarmFor('Errors')).toEqual(expect.objectContaining({
        Namespace: 'AWS/Lambda',
        Statistic: 'Sum',
        Threshold: 1,
        Dimensions: [{ Name: 'FunctionName', Value: refOf(s.stack, s.svc.processorFunction) }],
      }));
    });

    test('events queue ApproximateAgeOfOldestMessage >= 3600 s', () => {
      expect(alarmFor('ApproximateAgeOfOldestMessage')).toEqual(expect.objectContaining({
        Namespace: 'AWS/SQS',
        Threshold: 3600,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(s.stack, s.svc.queue), 'QueueName'] } }],
      }));
    });

    test('API 5XXError average >= 0.05, for this API by name and stage', () => {
      const apiName = s.template.toJSON().Resources[logicalId(s.stack, s.svc.api)].Properties.Name;
      expect(alarmFor('5XXError')).toEqual(expect.objectContaining({
        Namespace: 'AWS/ApiGateway',
        Statistic: 'Average',
        Threshold: 0.05,
        Dimensions: expect.arrayContaining([
          { Name: 'ApiName', Value: apiName },
          { Name: 'Stage', Value: refOf(s.stack, s.svc.api.deploymentStage) },
        ]),
      }));
    });

    test('DeliveriesFailed >= 1 in namespace EventNotificationService, for this service', () => {
      const serviceName = functionProps(s, s.svc.processorFunction).Environment.Variables.POWERTOOLS_SERVICE_NAME;
      expect(alarmFor('DeliveriesFailed')).toEqual(expect.objectContaining({
        Namespace: 'EventNotificationService',
        Statistic: 'Sum',
        Threshold: 1,
        Dimensions: [{ Name: 'service', Value: serviceName }],
      }));
    });
  });

  describe('removal policy', () => {
    test.each([
      ['AWS::DynamoDB::Table', 3],
      ['AWS::SQS::Queue', 2],
      ['AWS::KMS::Key', 1],
      ['AWS::Logs::LogGroup', 5],
    ])('%s defaults to RETAIN', (type, count) => {
      const resources = Object.values(s.template.findResources(type));
      expect(resources).toHaveLength(count);
      for (const r of resources) {
        expect(r.DeletionPolicy).toBe('Retain');
        expect(r.UpdateReplacePolicy).toBe('Retain');
      }
    });
  });
});

describe('options', () => {
  test('removalPolicy DESTROY deletes tables, queues, key and log groups', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.DESTROY });
    for (const type of ['AWS::DynamoDB::Table', 'AWS::SQS::Queue', 'AWS::KMS::Key', 'AWS::Logs::LogGroup']) {
      const resources = Object.values(template.findResources(type));
      expect(resources.length).toBeGreaterThan(0);
      for (const r of resources) {
        expect(r.DeletionPolicy).toBe('Delete');
        expect(r.UpdateReplacePolicy).toBe('Delete');
      }
    }
  });

  describe('fifo: true', () => {
    let s: Synthesized;
    beforeAll(() => {
      s = synth({ fifo: true });
    });

    test('the processor takes one message per batch: events behind a retrying one are never received early (their receives would count towards maxReceiveCount)', () => {
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 1, FunctionResponseTypes: ['ReportBatchItemFailures'] });
    });

    test('both queues are FIFO, the events queue with per-group deduplication and throughput', () => {
      s.template.resourceCountIs('AWS::SQS::Queue', 2);
      s.template.allResourcesProperties('AWS::SQS::Queue', { FifoQueue: true });
      const events = s.template.toJSON().Resources[logicalId(s.stack, s.svc.queue)].Properties;
      expect(events).toEqual(expect.objectContaining({
        FifoQueue: true,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        RedrivePolicy: { deadLetterTargetArn: arnOf(s.stack, s.svc.deadLetterQueue), maxReceiveCount: 13 },
      }));
      const dlq = s.template.toJSON().Resources[logicalId(s.stack, s.svc.deadLetterQueue)].Properties;
      expect(dlq.FifoQueue).toBe(true);
      expect(s.svc.queue.fifo).toBe(true);
      expect(s.svc.deadLetterQueue.fifo).toBe(true);
    });

    test('ingest and processor are told the queue is FIFO', () => {
      expect(functionProps(s, s.svc.ingestFunction).Environment.Variables.QUEUE_FIFO).toBe('true');
      expect(functionProps(s, s.svc.processorFunction).Environment.Variables.QUEUE_FIFO).toBe('true');
    });
  });

  describe('email', () => {
    test('email: { fromAddress } lets the processor send only as that address, through any identity SES checks (domain, address, sandbox recipients)', () => {
      const s = synth({ email: { fromAddress: 'alerts@example.com' } });
      const ses = withActionPrefix(statementsOf(s, s.svc.processorFunction), 'ses:');
      expect(ses).toHaveLength(1);
      expect(ses[0].Action).toEqual(['ses:SendEmail']);
      expect(ses[0].Resource).toEqual(['*']);
      expect(ses[0].Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'alerts@example.com', 'aws:RequestedRegion': 'us-east-1' } });
      expect(functionProps(s, s.svc.processorFunction).Environment.Variables.EMAIL_FROM_ADDRESS).toBe('alerts@example.com');
      expect(functionProps(s, s.svc.processorFunction).Environment.Variables.SES_CONFIGURATION_SET).toBeUndefined();
      for (const fn of [s.svc.ingestFunction, s.svc.managementFunction]) {
        expect(withActionPrefix(statementsOf(s, fn), 'ses:')).toEqual([]);
      }
    });

    test('configurationSetName reaches the processor; identityName must cover the sender', () => {
      const s = synth({ email: { fromAddress: 'alerts@mail.example.com', identityName: 'example.com', configurationSetName: 'notifications' } });
      const ses = withActionPrefix(statementsOf(s, s.svc.processorFunction), 'ses:');
      expect(ses).toHaveLength(1);
      expect(ses[0].Condition?.StringEquals['ses:FromAddress']).toBe('alerts@mail.example.com');
      expect(functionProps(s, s.svc.processorFunction).Environment.Variables.SES_CONFIGURATION_SET).toBe('notifications');
    });
  });

  test('the alarm topic lets CloudWatch alarms of this account publish (its enforceSSL policy alone holds only a Deny)', () => {
    const s = synth({ alarmEmail: 'ops@example.com' });
    const policies = s.template.findResources('AWS::SNS::TopicPolicy');
    const statements = Object.values(policies).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    const allow = statements.filter((st: any) => st.Effect === 'Allow');
    expect(allow).toHaveLength(1);
    expect(allow[0]).toMatchObject({
      Action: 'sns:Publish',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
    });
    expect(flatten(allow[0].Condition.ArnLike['aws:SourceArn'])).toBe('arn:aws:cloudwatch:us-east-1:123456789012:alarm:*');
    expect(statements.some((st: any) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false')).toBe(true);
  });

  describe('tenants', () => {
    test('isolation: API_KEY, a queue publisher key and per-source owner keys reach the processor; maxSubscriptionsPerKey the management function', () => {
      const app = new App();
      const stack = new Stack(app, 'Tenants', { env: ENV });
      const partner = new apigateway.ApiKey(stack, 'PartnerKey');
      const publisher = new apigateway.ApiKey(stack, 'PublisherKey');
      const secret = new secretsmanager.Secret(stack, 'ShopSecret');
      const svc = new EventNotificationService(stack, 'Svc', {
        isolation: Isolation.API_KEY,
        maxSubscriptionsPerKey: 7,
        queuePublisherApiKey: publisher,
        inboundWebhooks: [
          InboundWebhookSource.shopify({ name: 'shop', secret, apiKey: partner }),
          InboundWebhookSource.github({ name: 'gh', secret }),
        ],
      });
      const s = { stack, svc, template: Template.fromStack(stack) };
      const processor = functionProps(s, svc.processorFunction).Environment.Variables;
      expect(processor.ISOLATION).toBe('API_KEY');
      expect(processor.QUEUE_PUBLISHER_KEY_ID).toEqual({ Ref: logicalId(stack, publisher) });
      expect(processor.INBOUND_OWNER_KEY_IDS).toEqual({ 'Fn::Join': ['', ['shop=', { Ref: logicalId(stack, partner) }, ',gh=', { Ref: logicalId(stack, svc.apiKey) }]] });
      expect(functionProps(s, svc.managementFunction).Environment.Variables.MAX_SUBSCRIPTIONS_PER_KEY).toBe('7');
      // Only the processor refers to the API's keys: the API refers to the other functions.
      expect(JSON.stringify(functionProps(s, svc.ingestFunction).Environment.Variables)).not.toContain(logicalId(stack, partner));
    });

    test.each([0, 10_001, 2.5])('maxSubscriptionsPerKey %p is refused', (maxSubscriptionsPerKey) => {
      expect(() => synth({ maxSubscriptionsPerKey })).toThrow(/maxSubscriptionsPerKey must be a whole number from 1 to 10000/);
    });
  });

  test('alarmEmail subscribes that address to the alarm topic', () => {
    const s = synth({ alarmEmail: 'ops@example.com' });
    s.template.resourceCountIs('AWS::SNS::Subscription', 1);
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: refOf(s.stack, s.svc.alarmTopic),
    });
  });

  test('throttle and quota reach the usage plan (per key); the stage default is 1,000/2,000 (or throttle, if higher) unless stageThrottle is given', () => {
    const s = synth({ throttle: { rateLimit: 5, burstLimit: 10 }, quota: { limit: 10000, period: apigateway.Period.DAY } });
    s.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 5, BurstLimit: 10 },
      Quota: { Limit: 10000, Period: 'DAY' },
    });
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ResourcePath: '/*', ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 })],
    });
    const raised = synth({ throttle: { rateLimit: 5, burstLimit: 10 }, stageThrottle: { rateLimit: 500, burstLimit: 1000 } });
    raised.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: 5, BurstLimit: 10 } });
    raised.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ResourcePath: '/*', ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 })],
    });
    expect(() => synth({ stageThrottle: { rateLimit: 0 } })).toThrow(/stageThrottle.rateLimit must be positive/);
  });

  test('retrySchedule sets maxReceiveCount (length + 5) and the processor schedule; webhook timeout sets visibility (6 x processor timeout)', () => {
    const s = synth({
      retrySchedule: [Duration.seconds(0), Duration.minutes(1), Duration.hours(1)],
      webhook: { timeout: Duration.seconds(60) },
      maxEventSize: Size.kibibytes(64),
      retention: Duration.days(7),
    });
    const processor = functionProps(s, s.svc.processorFunction);
    expect(processor.Timeout).toBe(150); // 2 x 60 s + 30 s
    expect(processor.Environment.Variables).toEqual(expect.objectContaining({
      RETRY_SCHEDULE_SECONDS: '0,60,3600',
      MAX_RECEIVE_COUNT: '8',
      WEBHOOK_TIMEOUT_MS: '60000',
      RETENTION_SECONDS: String(7 * 86400),
    }));
    expect(functionProps(s, s.svc.ingestFunction).Environment.Variables.MAX_EVENT_SIZE_BYTES).toBe(String(64 * 1024));
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { maxReceiveCount: 8 },
      VisibilityTimeout: 900,
    });
  });

  test('queueAgeAlarmThreshold sets the queue-age alarm threshold', () => {
    const { template } = synth({ queueAgeAlarmThreshold: Duration.minutes(15) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 900 });
  });

  test('webAclArn associates the web ACL with the v1 stage', () => {
    const webAclArn = 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/notifications/a1b2c3d4';
    const s = synth({ webAclArn });
    s.template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    const association = Object.values(s.template.findResources('AWS::WAFv2::WebACLAssociation'))[0].Properties;
    expect(association.WebACLArn).toBe(webAclArn);
    const resourceArn = flatten(association.ResourceArn);
    expect(resourceArn).toContain(`:apigateway:us-east-1::/restapis/${JSON.stringify(refOf(s.stack, s.svc.api))}/stages/`);
    expect(resourceArn).toContain(JSON.stringify(refOf(s.stack, s.svc.api.deploymentStage)));
  });

  test('an imported encryptionKey is used everywhere and no key is created', () => {
    const keyArn = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const app = new App();
    const stack = new Stack(app, 'Imported', { env: ENV });
    new EventNotificationService(stack, 'Svc', { encryptionKey: kms.Key.fromKeyArn(stack, 'Key', keyArn) });
    const imported = Template.fromStack(stack);
    imported.resourceCountIs('AWS::KMS::Key', 0);
    imported.allResourcesProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn });
    imported.allResourcesProperties('AWS::DynamoDB::Table', { SSESpecification: { KMSMasterKeyId: keyArn } });
    imported.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
  });

  test('a given deadLetterQueue is the redrive target and no DLQ is created', () => {
    const app = new App();
    const stack = new Stack(app, 'Byo', { env: ENV });
    const dlq = new sqs.Queue(stack, 'MyDlq', { encryption: sqs.QueueEncryption.KMS_MANAGED, enforceSSL: true });
    const svc = new EventNotificationService(stack, 'Svc', { deadLetterQueue: dlq });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SQS::Queue', 2); // the events queue and MyDlq
    expect(svc.deadLetterQueue).toBe(dlq);
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, dlq), 'Arn'] }, maxReceiveCount: 13 },
    });
  });

  test('two services in one account get distinct API names (the 5xx alarm selects its metric by ApiName)', () => {
    const app = new App();
    const stack = new Stack(app, 'Two', { env: ENV });
    const a = new EventNotificationService(stack, 'A');
    const b = new EventNotificationService(stack, 'B');
    const otherStack = new Stack(app, 'Other', { env: ENV });
    const c = new EventNotificationService(otherStack, 'A');
    const resources = Template.fromStack(stack).toJSON().Resources;
    const names = [
      resources[logicalId(stack, a.api)].Properties.Name,
      resources[logicalId(stack, b.api)].Properties.Name,
      Template.fromStack(otherStack).toJSON().Resources[logicalId(otherStack, c.api)].Properties.Name,
    ];
    expect(new Set(names).size).toBe(3);
  });
});

describe('methods', () => {
  test('grantPublish(role) grants sqs:SendMessage on the events queue (and encrypt with the key)', () => {
    let role: iam.Role | undefined;
    let grant: iam.Grant | undefined;
    const s = synth({}, (svc, stack) => {
      role = new iam.Role(stack, 'Publisher', { assumedBy: new iam.AccountRootPrincipal() });
      grant = svc.grantPublish(role);
    });
    expect(grant!.success).toBe(true);
    const roleId = logicalId(s.stack, role!);
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Action: Match.arrayWith(['sqs:SendMessage']), Resource: arnOf(s.stack, s.svc.queue) }),
          Match.objectLike({ Effect: 'Allow', Action: Match.arrayWith(['kms:GenerateDataKey*']), Resource: arnOf(s.stack, s.svc.encryptionKey) }),
        ]),
      },
    });
  });

  test('addApiKey adds a key to the usage plan', () => {
    let extra: apigateway.IApiKey | undefined;
    const s = synth({}, (svc) => {
      extra = svc.addApiKey('Extra', { apiKeyName: 'team-a', description: 'Team A' });
    });
    s.template.resourceCountIs('AWS::ApiGateway::ApiKey', 2);
    s.template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 2);
    s.template.hasResourceProperties('AWS::ApiGateway::ApiKey', { Name: 'team-a', Description: 'Team A', Enabled: true });
    s.template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyId: refOf(s.stack, extra!),
      KeyType: 'API_KEY',
      UsagePlanId: refOf(s.stack, s.svc.usagePlan),
    });
  });
});
