import { Logger } from '@aws-lambda-powertools/logger';
import { apiGatewayHandler } from './http-entry';
import { dynamoDocumentClient } from '../adapters/aws-clients';
import { readConfig } from '../adapters/config';
import { DynamoEventStore } from '../adapters/dynamo-event-store';
import { DynamoNotificationStore } from '../adapters/dynamo-notification-store';
import { DynamoSubscriptionStore } from '../adapters/dynamo-subscription-store';
import { managementConfigSchema } from '../adapters/management-config';
import { configureTracing } from '../adapters/tracing';
import { EventsQueryService } from '../core/events-query';
import { RouteTable } from '../core/router';
import { SubscriptionsService } from '../core/subscriptions-service';

/** Management function: the subscriptions API and GET /events/{eventId}. */
const config = readConfig(managementConfigSchema);
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'event-notification-service';
const traced = configureTracing(config.POWERTOOLS_TRACE_ENABLED, serviceName); // before the SDK clients
const logger = new Logger({ serviceName });

const subscriptions = new SubscriptionsService(
  new DynamoSubscriptionStore(dynamoDocumentClient(), config.SUBSCRIPTIONS_TABLE_NAME),
  { allowPrivateTargets: config.ALLOW_PRIVATE_TARGETS },
  Date.now,
  config.MAX_SUBSCRIPTIONS_PER_KEY,
  config.SECRET_ROTATION_OVERLAP_SECONDS,
);

const events = new EventsQueryService(
  new DynamoEventStore(dynamoDocumentClient(), config.EVENTS_TABLE_NAME),
  new DynamoNotificationStore(dynamoDocumentClient(), config.NOTIFICATIONS_TABLE_NAME),
);

const routes: RouteTable<'management'> = {
  'GET /events/{eventId}': (request) => events.get(request),
  'POST /subscriptions': (request) => subscriptions.create(request),
  'GET /subscriptions': (request) => subscriptions.list(request),
  'GET /subscriptions/{subscriptionId}': (request) => subscriptions.get(request),
  'PATCH /subscriptions/{subscriptionId}': (request) => subscriptions.update(request),
  'DELETE /subscriptions/{subscriptionId}': (request) => subscriptions.remove(request),
  'POST /subscriptions/{subscriptionId}/secret/rotate': (request) => subscriptions.rotateSecret(request),
};

export const handler = traced.handler(apiGatewayHandler(routes, logger));
