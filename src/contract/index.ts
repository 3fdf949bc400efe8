/**
 * The runtime contract: every name the construct, the handlers and the local runtime must agree
 * on, in one place. The construct writes these names into each function's environment (or its
 * settings file); the handlers' config schemas read exactly these names (lambda/adapters/*-config.ts
 * check it at compile time with `satisfies`); the local runtime sets them the same way.
 *
 * Not exported from src/index.ts: it is the service's inside, not its public (jsii) API.
 */

/**
 * Powertools Tracer's switch (it reads the variable itself; the handlers read it too, to load the
 * Tracer only when it is on). The construct sets it to `false` for `tracing: false`.
 */
export const POWERTOOLS_TRACE_ENABLED = 'POWERTOOLS_TRACE_ENABLED';

/** Settings of the ingest function (POST /events, /events/batch, /webhooks/{source}). */
export const INGEST_SETTINGS = [
  'QUEUE_URL', 'QUEUE_FIFO', 'MAX_EVENT_SIZE_BYTES', 'EVENTS_TABLE_NAME', 'INBOUND_SOURCES', 'INBOUND_SECRET_IDS',
  POWERTOOLS_TRACE_ENABLED,
] as const;

/** Settings of the management function (subscriptions API, GET /events/{eventId}). */
export const MANAGEMENT_SETTINGS = [
  'SUBSCRIPTIONS_TABLE_NAME', 'EVENTS_TABLE_NAME', 'NOTIFICATIONS_TABLE_NAME', 'ALLOW_PRIVATE_TARGETS', 'MAX_SUBSCRIPTIONS_PER_KEY',
  'SECRET_ROTATION_OVERLAP_SECONDS', POWERTOOLS_TRACE_ENABLED,
] as const;

/** Settings of the processor function (the events queue's consumer). */
export const PROCESSOR_SETTINGS = [
  'EVENTS_TABLE_NAME', 'SUBSCRIPTIONS_TABLE_NAME', 'NOTIFICATIONS_TABLE_NAME', 'QUEUE_URL', 'DEAD_LETTER_QUEUE_URL', 'QUEUE_FIFO',
  'RETRY_SCHEDULE_SECONDS', 'MAX_RECEIVE_COUNT', 'WEBHOOK_TIMEOUT_MS', 'RETENTION_SECONDS', 'SUBSCRIPTION_CACHE_TTL_SECONDS',
  'MAX_CONCURRENT_DELIVERIES', 'EMAIL_FROM_ADDRESS', 'SES_CONFIGURATION_SET', 'EVENT_SCHEMAS', 'ALLOW_PRIVATE_TARGETS',
  'ISOLATION', 'QUEUE_PUBLISHER_KEY_ID', 'INBOUND_OWNER_KEY_IDS', 'FAN_OUT_SIZE', 'FUNCTION_TIMEOUT_SECONDS',
  'DISABLE_AFTER_SECONDS', 'CIRCUIT_BREAKER',
  POWERTOOLS_TRACE_ENABLED,
] as const;

export type IngestSetting = (typeof INGEST_SETTINGS)[number];
export type ManagementSetting = (typeof MANAGEMENT_SETTINGS)[number];
export type ProcessorSetting = (typeof PROCESSOR_SETTINGS)[number];

/** Names of the settings file and of the variable that points at it (Lambda's environment is 4 KB at most). */
export const SETTINGS_FILE_VARIABLE = 'SETTINGS_FILE';
export const SETTINGS_FILE_NAME = 'settings.json';

/** Powertools reads these itself. */
export const POWERTOOLS_SERVICE_NAME = 'POWERTOOLS_SERVICE_NAME';
export const POWERTOOLS_METRICS_NAMESPACE = 'POWERTOOLS_METRICS_NAMESPACE';

/** CloudWatch namespace of the processor's EMF metrics, and the metric names. */
export const METRICS_NAMESPACE = 'EventNotificationService';
export const METRIC_NAMES = [
  'EventsAccepted', 'EventsRejected', 'DeliveriesSucceeded', 'DeliveriesFailed', 'DeliveriesRetried',
  /** Milliseconds from an event's receivedAt to the end of its successful delivery attempt, per channel. */
  'DeliveryLatency',
  /** Deliveries not sent because the endpoint's circuit breaker was open (they wait for it), per channel. */
  'DeliveriesDeferred',
  /** Subscriptions the processor disabled because every delivery failed for `disableAfter`, per channel. */
  'SubscriptionsDisabled',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Indexes of the Subscriptions table. */
export const SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX = 'byEventType';
export const SUBSCRIPTIONS_BY_OWNER_INDEX = 'byOwner';
/** The TTL attribute of the Events and Notifications tables. */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * Partition-key prefixes of the Events table: events (`evt_…`) and idempotency records
 * (`idem_…`). IAM grants use them (dynamodb:LeadingKeys) to keep each function to its own items.
 */
export const EVENT_KEY_PREFIX = 'evt_';
export const IDEMPOTENCY_KEY_PREFIX = 'idem_';

/**
 * Who receives whose events: `SHARED`, every key's subscriptions match every event; `API_KEY`,
 * a subscription matches only events published with its own key.
 */
export const ISOLATION_MODES = ['SHARED', 'API_KEY'] as const;
export type IsolationMode = (typeof ISOLATION_MODES)[number];

/**
 * The most subscriptions one follow-up message of a fan-out may carry, whatever FAN_OUT_SIZE
 * says: a bound on its body, its records (one Query page) and its round.
 */
export const MAX_FAN_OUT_PART_SIZE = 1000;

/** Event types as the API accepts them. */
export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;

/** A function's environment or settings file, limited to the names of its contract (and Powertools'). */
export type FunctionSettings<S extends string> = Partial<Record<S | typeof POWERTOOLS_SERVICE_NAME | typeof POWERTOOLS_METRICS_NAMESPACE, string>>;

/** The REST API's stage: the path prefix of every route in AWS (`…/v1/events`). */
export const API_STAGE_NAME = 'v1';

/** Which function serves an API route. */
export type ApiFunction = 'ingest' | 'management';

/**
 * Every route of the HTTP API, `METHOD /resource/{parameter}`, with the function behind it and
 * whether API Gateway requires an API key. The handlers' route tables are typed by it
 * (lambda/core/router.ts `RouteTable`), the local runtime serves exactly these, the OpenAPI
 * document (lambda/openapi) describes exactly these, and test/src/api-routes.test.ts checks the
 * construct's API Gateway methods against it. `POST /webhooks/{source}` exists in AWS only when
 * inbound webhook sources are configured.
 */
export const API_ROUTES = {
  'POST /events': { function: 'ingest', apiKeyRequired: true },
  'POST /events/batch': { function: 'ingest', apiKeyRequired: true },
  'POST /webhooks/{source}': { function: 'ingest', apiKeyRequired: false },
  'GET /events/{eventId}': { function: 'management', apiKeyRequired: true },
  'POST /subscriptions': { function: 'management', apiKeyRequired: true },
  'GET /subscriptions': { function: 'management', apiKeyRequired: true },
  'GET /subscriptions/{subscriptionId}': { function: 'management', apiKeyRequired: true },
  'PATCH /subscriptions/{subscriptionId}': { function: 'management', apiKeyRequired: true },
  'DELETE /subscriptions/{subscriptionId}': { function: 'management', apiKeyRequired: true },
  'POST /subscriptions/{subscriptionId}/secret/rotate': { function: 'management', apiKeyRequired: true },
} as const satisfies Record<string, { readonly function: ApiFunction; readonly apiKeyRequired: boolean }>;

export type ApiRoute = keyof typeof API_ROUTES;
/** The routes one function serves. */
export type RoutesOf<F extends ApiFunction> = { [R in ApiRoute]: (typeof API_ROUTES)[R]['function'] extends F ? R : never }[ApiRoute];

/** `POST /events/batch` → `{ method: 'POST', resource: '/events/batch' }`. */
export function splitRoute(route: ApiRoute): { readonly method: string; readonly resource: string } {
  const [method, resource] = route.split(' ');
  return { method, resource };
}
