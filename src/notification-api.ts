import { Names, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { API_STAGE_NAME } from './contract';
import { acknowledge } from './nag';

export interface NotificationApiProps {
  readonly ingestFunction: lambda.IFunction;
  readonly managementFunction: lambda.IFunction;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly stageThrottle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly quota?: apigateway.QuotaSettings;
  readonly logRetention: logs.RetentionDays;
  /** Encrypts the access log group (its policy must let CloudWatch Logs use it). */
  readonly logEncryptionKey: kms.IKey;
  /** X-Ray tracing of the stage. */
  readonly tracing: boolean;
  readonly removalPolicy: RemovalPolicy;
  readonly webAclArn?: string;
  readonly createCloudWatchRole: boolean;
  /** Add `POST /webhooks/{source}` (signature-verified, no API key). */
  readonly inboundWebhooks: boolean;
}

/**
 * Problem types API Gateway itself answers with, so every error a client sees is problem+json.
 * The two catch-alls keep API Gateway's own status code (so their body carries none).
 */
const GATEWAY_PROBLEMS: { type: apigateway.ResponseType; status?: string; code: string; title: string }[] = [
  { type: apigateway.ResponseType.INVALID_API_KEY, status: '403', code: 'forbidden', title: 'Forbidden' },
  { type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, status: '404', code: 'not-found', title: 'Not found' },
  { type: apigateway.ResponseType.THROTTLED, status: '429', code: 'throttled', title: 'Too many requests' },
  { type: apigateway.ResponseType.QUOTA_EXCEEDED, status: '429', code: 'quota-exceeded', title: 'Quota exceeded' },
  { type: apigateway.ResponseType.REQUEST_TOO_LARGE, status: '413', code: 'payload-too-large', title: 'Payload too large' },
  { type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS, status: '400', code: 'invalid-request', title: 'Invalid request' },
  { type: apigateway.ResponseType.BAD_REQUEST_BODY, status: '400', code: 'invalid-request', title: 'Invalid request' },
  { type: apigateway.ResponseType.DEFAULT_4XX, code: 'client-error', title: 'Request refused' },
  { type: apigateway.ResponseType.DEFAULT_5XX, code: 'gateway-error', title: 'Gateway error' },
];

/**
 * The REST API of docs/architecture.md "Pipeline": API key on every method, a usage plan with throttling and quota,
 * access and execution logs (never bodies), problem+json for API Gateway's own errors.
 */
export class NotificationApi extends Construct {
  public readonly api: apigateway.RestApi;
  public readonly usagePlan: apigateway.UsagePlan;
  public readonly apiKey: apigateway.IApiKey;
  public readonly accessLogs: logs.LogGroup;
  /** API Gateway's execution log group (`API-Gateway-Execution-Logs_{restApiId}/v1`), created here so it is encrypted. */
  public readonly executionLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: NotificationApiProps) {
    super(scope, id);
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.removalPolicy,
    });

    this.api = new apigateway.RestApi(this, 'Api', {
      // Unique per instance: the API 5xx alarm selects its metric by ApiName, and API Gateway
      // aggregates the metrics of every API in the account and region with the same name.
      restApiName: Names.uniqueResourceName(this, { maxLength: 64 }),
      description: 'Event notification service: publish events, manage subscriptions',
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      apiKeySourceType: apigateway.ApiKeySourceType.HEADER,
      cloudWatchRole: props.createCloudWatchRole,
      defaultMethodOptions: { apiKeyRequired: true },
      deployOptions: {
        stageName: API_STAGE_NAME,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // would log request and response bodies
        metricsEnabled: true,
        tracingEnabled: props.tracing,
        // The stage's default for every method, across all callers: a ceiling that also holds for
        // requests without a (valid) API key, which the usage plan never sees.
        throttlingRateLimit: props.stageThrottle.rateLimit,
        throttlingBurstLimit: props.stageThrottle.burstLimit,
        // Inbound webhooks use no API key, so the usage plan cannot throttle them: the method can.
        ...(props.inboundWebhooks ? {
          methodOptions: {
            // A method entry replaces the stage's settings for that method: repeat them.
            '/webhooks/{source}/POST': {
              throttlingRateLimit: props.throttle.rateLimit,
              throttlingBurstLimit: props.throttle.burstLimit,
              loggingLevel: apigateway.MethodLoggingLevel.ERROR,
              dataTraceEnabled: false,
              metricsEnabled: true,
            },
          },
        } : {}),
      },
    });

    for (const problem of GATEWAY_PROBLEMS) {
      this.api.addGatewayResponse(`Problem${problem.type.responseType}`, {
        type: problem.type,
        statusCode: problem.status,
        responseHeaders: { 'Content-Type': "'application/problem+json'" },
        templates: {
          'application/json': `{"type":"urn:event-notification-service:problem:${problem.code}","title":"${problem.title}",`
            + (problem.status ? `"status":${problem.status},` : '')
            + '"detail":$context.error.messageString}',
        },
      });
    }

    // API Gateway creates its execution log group at the first request it logs: unencrypted and
    // kept for ever. Created first under the name API Gateway writes to, it uses the service key
    // and the construct's retention; the stage waits for it, so no request is logged before it.
    this.executionLogs = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${API_STAGE_NAME}`,
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.removalPolicy,
    });
    this.api.deploymentStage.node.addDependency(this.executionLogs);

    // The gateway rejects what is not even a JSON object and checks path parameters; the functions
    // validate the fields (answering with field-level problem+json) and keep unknown event fields.
    const validator = this.api.addRequestValidator('Validator', { validateRequestParameters: true, validateRequestBody: true });
    const jsonObject = this.api.addModel('JsonObject', {
      contentType: 'application/json',
      description: 'Any JSON object; fields are validated by the functions',
      schema: { schema: apigateway.JsonSchemaVersion.DRAFT4, type: apigateway.JsonSchemaType.OBJECT },
    });
    const withBody = { requestValidator: validator, requestModels: { 'application/json': jsonObject } };
    const ingest = new apigateway.LambdaIntegration(props.ingestFunction, { allowTestInvoke: false });
    const management = new apigateway.LambdaIntegration(props.managementFunction, { allowTestInvoke: false });
    const idParameter = { 'method.request.path.subscriptionId': true };

    const events = this.api.root.addResource('events');
    events.addMethod('POST', ingest, withBody);
    events.addResource('batch').addMethod('POST', ingest, withBody);
    events.addResource('{eventId}').addMethod('GET', management, {
      requestValidator: validator,
      requestParameters: { 'method.request.path.eventId': true },
    });

    if (props.inboundWebhooks) {
      // Third parties hold no API key: the ingest function verifies each delivery's signature.
      this.api.root.addResource('webhooks').addResource('{source}').addMethod('POST', ingest, {
        apiKeyRequired: false,
        requestValidator: validator,
        requestParameters: { 'method.request.path.source': true },
      });
    }

    const subscriptions = this.api.root.addResource('subscriptions');
    subscriptions.addMethod('POST', management, withBody);
    subscriptions.addMethod('GET', management);
    const subscription = subscriptions.addResource('{subscriptionId}');
    subscription.addMethod('GET', management, { requestValidator: validator, requestParameters: idParameter });
    subscription.addMethod('PATCH', management, { ...withBody, requestParameters: idParameter });
    subscription.addMethod('DELETE', management, { requestValidator: validator, requestParameters: idParameter });
    // No body model: the rotation takes no fields (no body or {}; the function checks).
    subscription.addResource('secret').addResource('rotate')
      .addMethod('POST', management, { requestValidator: validator, requestParameters: idParameter });

    this.usagePlan = this.api.addUsagePlan('UsagePlan', {
      description: 'Publishers and subscribers of the event notification service',
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      quota: props.quota,
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    this.apiKey = this.api.addApiKey('DefaultKey', { description: 'Default key of the event notification service' });
    this.usagePlan.addApiKey(this.apiKey);

    if (props.webAclArn) {
      new wafv2.CfnWebACLAssociation(this, 'WebAcl', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: props.webAclArn,
      });
    } else {
      acknowledge(this, {
        id: 'AwsSolutions-APIG3',
        reason: 'WAF is opt-in through the webAclArn prop: a web ACL has a monthly cost and its rules are an account-level choice.',
      });
    }
    if (props.createCloudWatchRole) {
      acknowledge(this.api.node.findChild('CloudWatchRole'), {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The account-wide role API Gateway writes logs with (createApiGatewayCloudWatchRole) holds only '
          + 'AmazonAPIGatewayPushToCloudWatchLogs: AWS\'s own managed policy made for exactly this role, kept current by AWS.',
      });
    }
    if (!props.tracing) {
      acknowledge(this.api.deploymentStage, {
        id: 'Serverless-APIGWXrayEnabled',
        reason: 'X-Ray tracing was turned off by the tracing: false prop of EventNotificationService (on by default).',
      });
    }
    acknowledge(this,
      { id: 'AwsSolutions-APIG4', reason: 'Callers are machines authenticated by API key + usage plan; subscriptions are scoped to the calling key. Inbound webhooks are verified by signature in the function.' },
      { id: 'AwsSolutions-COG4', reason: 'No Cognito user pool by design: publishers and subscribers are services holding API keys.' },
    );
  }
}
