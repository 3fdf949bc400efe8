import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { defaultProvider as lambdaCredentials } from './lambda-credentials';
import { tracing } from './tracing';

/*
 * SDK clients are created once per container and reused by every invocation. Endpoints come
 * from the SDK's own settings (e.g. AWS_ENDPOINT_URL_DYNAMODB), which is how the local runtime
 * points the same adapters at its local servers. Credentials come from the environment, as
 * Lambda provides them (lambda-credentials.ts), and only from there. With tracing on
 * (configureTracing, before the first client), each client's calls are X-Ray subsegments.
 * Adapters that a first request may not need take the getter itself (`sqs`, not `sqs()`) and
 * call it at their first request, so a cold start creates only the clients its request uses.
 */
const clientConfig = () => ({ credentials: lambdaCredentials() });
let documentClient: DynamoDBDocumentClient | undefined;
let sqsClient: SQSClient | undefined;

export function dynamoDocumentClient(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(tracing().captureClient(new DynamoDBClient(clientConfig())), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}

export function sqs(): SQSClient {
  sqsClient ??= tracing().captureClient(new SQSClient(clientConfig()));
  return sqsClient;
}

let sesClient: SESv2Client | undefined;

export function ses(): SESv2Client {
  sesClient ??= tracing().captureClient(new SESv2Client(clientConfig()));
  return sesClient;
}

let secretsClient: SecretsManagerClient | undefined;

export function secretsManager(): SecretsManagerClient {
  secretsClient ??= tracing().captureClient(new SecretsManagerClient(clientConfig()));
  return secretsClient;
}
