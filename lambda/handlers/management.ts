import { Logger } from '@aws-lambda-powertools/logger';
import { apiGatewayHandler } from './http-entry';
import { dynamoDocumentClient } from '../adapters/aws-clients';
import { managementConfigSchema, readConfig } from '../adapters/config';
import { DynamoSubscriptionStore } from '../adapters/dynamo-subscription-store';
import { SubscriptionsService } from '../core/subscriptions-service';

/** Management function: the subscriptions API. */
const config = readConfig(managementConfigSchema);
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'event-notification-service' });

const subscriptions = new SubscriptionsService(
  new DynamoSubscriptionStore(dynamoDocumentClient(), config.SUBSCRIPTIONS_TABLE_NAME),
  { allowPrivateTargets: config.ALLOW_PRIVATE_TARGETS },
);

export const handler = apiGatewayHandler({
  'POST /subscriptions': (request) => subscriptions.create(request),
  'GET /subscriptions': (request) => subscriptions.list(request),
  'GET /subscriptions/{subscriptionId}': (request) => subscriptions.get(request),
  'PATCH /subscriptions/{subscriptionId}': (request) => subscriptions.update(request),
  'DELETE /subscriptions/{subscriptionId}': (request) => subscriptions.remove(request),
}, logger);
