import * as z from 'zod';
import type { ApiRoute } from '../../src/contract';
import { eventEnvelopeSchema } from '../core/envelope';
import { eventQuerySchema, eventViewSchema, notificationViewSchema } from '../core/events-query';
import { idempotencyKeySchema } from '../core/idempotency';
import { idSchema } from '../core/ids';
import { STANDARD_WEBHOOK_HEADER_PREFIXES, STANDARD_WEBHOOK_HEADERS, inboundSourceSchema } from '../core/inbound-webhooks';
import { acceptedEventSchema, batchResultSchema, MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS, publishBatchSchema } from '../core/ingest';
import { attemptSchema } from '../core/notification';
import { fieldErrorSchema, problemSchema } from '../core/problem';
import {
  createdSubscriptionSchema, createSubscriptionSchema, rotatedSecretSchema, rotateSecretSchema, subscriptionViewSchema, updateSubscriptionSchema,
} from '../core/subscription';
import { listQuerySchema, subscriptionPageSchema } from '../core/subscriptions-service';

/*
 * What the OpenAPI document says about each route, beyond what the zod schemas of lambda/core
 * already say: which schema is the body, which statuses a route answers with and why. Keyed by
 * API_ROUTES (src/contract), so a route added there does not compile until it is described here.
 * lambda/openapi/document.ts turns this into the document.
 */

export interface ParameterSpec {
  readonly schema: z.ZodType;
  readonly description?: string;
  readonly required?: boolean;
}

export interface ResponseSpec {
  readonly description: string;
  /** An `application/json` body (a schema of COMPONENTS). */
  readonly body?: z.ZodType;
  /** An `application/problem+json` body. */
  readonly problem?: true;
  readonly headers?: Readonly<Record<string, ParameterSpec>>;
}

export interface OperationSpec {
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: keyof typeof TAGS;
  /** One entry per `{parameter}` of the route (checked when the document is built). */
  readonly path?: Readonly<Record<string, ParameterSpec>>;
  /** Each property is a query parameter. */
  readonly query?: z.ZodObject;
  readonly headers?: Readonly<Record<string, ParameterSpec>>;
  readonly body?: { readonly schema: z.ZodType; readonly description?: string; readonly mediaTypes?: readonly string[] };
  readonly responses: Readonly<Record<number, ResponseSpec>>;
}

export const TAGS = {
  'Events': 'Publish events and see what became of them',
  'Subscriptions': 'Who receives which events, and how',
  'Inbound webhooks': 'Deliveries from third parties (Shopify, GitHub, Stripe, Standard Webhooks senders), verified by signature',
} as const;

/** Named schemas (components/schemas): request bodies in their input form, answers in their output form. */
export const COMPONENTS: Readonly<Record<'input' | 'output', Readonly<Record<string, z.ZodType>>>> = {
  input: {
    EventEnvelope: eventEnvelopeSchema,
    PublishBatch: publishBatchSchema,
    SubscriptionCreate: createSubscriptionSchema,
    SubscriptionChanges: updateSubscriptionSchema,
    SecretRotation: rotateSecretSchema,
  },
  output: {
    Problem: problemSchema,
    FieldError: fieldErrorSchema,
    AcceptedEvent: acceptedEventSchema,
    BatchResult: batchResultSchema,
    EventView: eventViewSchema,
    Notification: notificationViewSchema,
    Attempt: attemptSchema,
    Subscription: subscriptionViewSchema,
    CreatedSubscription: createdSubscriptionSchema,
    SubscriptionPage: subscriptionPageSchema,
    RotatedSecret: rotatedSecretSchema,
  },
};

const retryAfter: ParameterSpec = { schema: z.string(), description: 'Seconds to wait before retrying', required: true };
const location: ParameterSpec = { schema: z.string(), description: 'Where the created resource can be read', required: true };
const replayed: ParameterSpec = { schema: z.literal('true'), description: 'Present when the answer repeats an earlier request with the same Idempotency-Key' };

const idempotencyKey: ParameterSpec = {
  schema: idempotencyKeySchema,
  description: 'Makes retries safe: within 24 hours a repeat with the same key and body returns the first event id and queues nothing; '
    + 'the same key with another body is a 422. Scoped to the API key.',
};
const eventIdParameter: ParameterSpec = { schema: idSchema('evt'), description: 'The id the 202 answer returned', required: true };
const subscriptionIdParameter: ParameterSpec = { schema: idSchema('sub'), required: true };

const invalid = (description: string): ResponseSpec => ({ description, problem: true });
const notFound: ResponseSpec = { description: 'No such resource for this API key (another key\'s resources do not exist for the caller)', problem: true };
const notJson: ResponseSpec = { description: 'The content-type is not JSON', problem: true };
const queueUnavailable: ResponseSpec = {
  description: 'Nothing was queued (the queue or the idempotency store failed); retry with the same Idempotency-Key',
  problem: true,
  headers: { 'retry-after': retryAfter },
};
const inProgress: ResponseSpec = {
  description: 'Another request with this Idempotency-Key is still being processed; retry shortly',
  problem: true,
  headers: { 'retry-after': retryAfter },
};
const keyReused: ResponseSpec = { description: 'The Idempotency-Key was used within 24 hours for a different body', problem: true };

export const OPERATIONS: { readonly [R in ApiRoute]: OperationSpec } = {
  'POST /events': {
    operationId: 'publishEvent',
    summary: 'Publish an event',
    description: 'Validates the envelope and queues the event; a 202 means it is on the queue. Delivery happens afterwards: '
      + 'follow it with GET /events/{eventId}. The event is delivered exactly as sent (every digit and key).',
    tag: 'Events',
    headers: { 'idempotency-key': idempotencyKey },
    body: { schema: eventEnvelopeSchema },
    responses: {
      202: { description: 'Queued', body: acceptedEventSchema, headers: { 'location': location, 'idempotent-replayed': replayed } },
      400: invalid('The body is not JSON, the envelope is not valid (field errors in `errors`), or the Idempotency-Key header is not valid'),
      409: inProgress,
      413: invalid('The event is larger than the deployment\'s maxEventSize'),
      415: notJson,
      422: keyReused,
      503: queueUnavailable,
    },
  },
  'POST /events/batch': {
    operationId: 'publishEvents',
    summary: `Publish 1 to ${MAX_BATCH_EVENTS} events`,
    description: 'Each event is validated and queued on its own: the answer holds one result per event, in order, either the '
      + 'accepted event or the problem that kept it off the queue. With an Idempotency-Key, a retried batch yields the same id at each position.',
    tag: 'Events',
    headers: { 'idempotency-key': idempotencyKey },
    body: { schema: publishBatchSchema },
    responses: {
      202: { description: 'At least one event was queued, or none was and no retry can help: see each result', body: batchResultSchema },
      400: invalid(`The body is not an object with 1 to ${MAX_BATCH_EVENTS} events, no event is valid, or the Idempotency-Key header is not valid`),
      413: invalid(`The body is larger than ${MAX_BATCH_BODY_BYTES} bytes`),
      415: notJson,
      503: queueUnavailable,
    },
  },
  'POST /webhooks/{source}': {
    operationId: 'receiveWebhook',
    summary: 'Receive a delivery from a third party',
    description: 'Exists for the inbound sources the deployment configures (the `inboundWebhooks` prop). No API key: the '
      + 'delivery\'s signature is checked with the source\'s secret, in the provider\'s own scheme (Shopify, GitHub and Stripe '
      + 'headers, Standard Webhooks or a configured HMAC header). The provider\'s delivery id is the idempotency key.',
    tag: 'Inbound webhooks',
    path: { source: { schema: inboundSourceSchema.shape.name, description: 'The inbound source\'s name', required: true } },
    headers: Object.fromEntries(STANDARD_WEBHOOK_HEADER_PREFIXES.flatMap((prefix) => Object.entries(STANDARD_WEBHOOK_HEADERS)
      .map(([name, description]) => [prefix + name, {
        schema: z.string(),
        description: `Standard Webhooks sources. ${description}${prefix === 'webhook-' ? '' : ` (Svix's name, read when webhook-${name} is absent)`}`,
      }]))),
    body: {
      schema: z.unknown(),
      description: 'The provider\'s payload, verified as received (GitHub may send it form-encoded)',
      mediaTypes: ['application/json', 'application/x-www-form-urlencoded'],
    },
    responses: {
      202: { description: 'Verified and queued', body: acceptedEventSchema, headers: { 'idempotent-replayed': replayed } },
      400: invalid('The delivery is signed but cannot be turned into an event (not JSON, no event type)'),
      401: invalid('The signature is missing, does not match, or its timestamp is too old'),
      404: invalid('No inbound source has this name'),
      409: inProgress,
      413: invalid('The delivery is larger than the deployment\'s maxEventSize'),
      422: invalid('A delivery with the same id but a different body was received within 24 hours'),
      503: queueUnavailable,
    },
  },
  'GET /events/{eventId}': {
    operationId: 'getEvent',
    summary: 'An event and its deliveries',
    description: 'Visible to the key that published the event and to the keys whose subscriptions it reached; other keys\' '
      + 'notifications appear only as counts. Processing takes a moment after the 202: until then the answer is 404.',
    tag: 'Events',
    path: { eventId: eventIdParameter },
    query: eventQuerySchema,
    responses: {
      200: { description: 'The event, its delivery status and the caller\'s notifications with their attempts', body: eventViewSchema },
      400: invalid('The event id or a query parameter is not valid'),
      404: notFound,
    },
  },
  'POST /subscriptions': {
    operationId: 'createSubscription',
    summary: 'Subscribe to events',
    description: 'The subscription belongs to the calling API key. For channels that sign (webhooks) the answer holds the signing secret, this once.',
    tag: 'Subscriptions',
    body: { schema: createSubscriptionSchema },
    responses: {
      201: { description: 'Created', body: createdSubscriptionSchema, headers: { location } },
      400: invalid('The subscription is not valid, or its target is not one the channel accepts'),
      409: invalid('The API key has as many subscriptions as one key may have'),
      415: notJson,
    },
  },
  'GET /subscriptions': {
    operationId: 'listSubscriptions',
    summary: 'The caller\'s subscriptions, a page at a time',
    tag: 'Subscriptions',
    query: listQuerySchema,
    responses: {
      200: { description: 'One page', body: subscriptionPageSchema },
      400: invalid('A query parameter is not valid'),
    },
  },
  'GET /subscriptions/{subscriptionId}': {
    operationId: 'getSubscription',
    summary: 'One subscription',
    tag: 'Subscriptions',
    path: { subscriptionId: subscriptionIdParameter },
    responses: {
      200: { description: 'The subscription (never its secret)', body: subscriptionViewSchema },
      400: invalid('The subscription id is not valid'),
      404: notFound,
    },
  },
  'PATCH /subscriptions/{subscriptionId}': {
    operationId: 'updateSubscription',
    summary: 'Change a subscription',
    description: 'Only the fields sent change. Setting `enabled: true` revives a subscription the service disabled.',
    tag: 'Subscriptions',
    path: { subscriptionId: subscriptionIdParameter },
    body: { schema: updateSubscriptionSchema },
    responses: {
      200: { description: 'The subscription as changed', body: subscriptionViewSchema },
      400: invalid('The id or the changes are not valid'),
      404: notFound,
      415: notJson,
    },
  },
  'DELETE /subscriptions/{subscriptionId}': {
    operationId: 'deleteSubscription',
    summary: 'Delete a subscription',
    tag: 'Subscriptions',
    path: { subscriptionId: subscriptionIdParameter },
    responses: {
      204: { description: 'Deleted' },
      400: invalid('The subscription id is not valid'),
      404: notFound,
    },
  },
  'POST /subscriptions/{subscriptionId}/secret/rotate': {
    operationId: 'rotateSubscriptionSecret',
    summary: 'Replace a subscription\'s signing secret',
    description: 'Returns the new secret, this once. Until `previousSecretExpiresAt` (the `secretRotationOverlap`, 24 hours by default) '
      + 'deliveries carry a signature with each secret (`webhook-signature: v1,<new> v1,<old>`), so receivers can switch without '
      + 'missing one. Rotating again inside the overlap drops the oldest secret. Takes no body, or `{}`.',
    tag: 'Subscriptions',
    path: { subscriptionId: subscriptionIdParameter },
    body: { schema: rotateSecretSchema, description: 'Optional: no fields' },
    responses: {
      200: { description: 'The subscription with its new secret', body: rotatedSecretSchema },
      400: invalid('The subscription id is not valid, or the body has fields'),
      404: notFound,
      409: invalid('The channel signs nothing (email, Slack), or another rotation of the same secret won'),
      415: notJson,
    },
  },
};
