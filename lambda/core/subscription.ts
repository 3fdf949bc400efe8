import * as z from 'zod';
import { Channel, CHANNELS, describeChannel, TargetPolicy } from './channels';
import { EndpointHealth, healthOf, healthViewSchema, withHealthView } from './endpoint-health';
import { EVENT_TYPE_PATTERN, severitySchema } from './envelope';
import { idSchema } from './ids';
import { filterResponseValue, payloadFilterSchema } from './payload-filter';

/** The channel names live with their registration (channels/index.ts). */
export { CHANNELS } from './channels';
export type { Channel, TargetPolicy } from './channels';

/** `*`, `prefix.*` or an exact event type. */
export const eventTypePatternSchema = z
  .string({ error: 'must be a string' })
  .max(128, 'must be at most 128 characters')
  // A regular expression rather than a refinement, so the OpenAPI document carries it.
  .regex(
    new RegExp(`^(?:\\*|${EVENT_TYPE_PATTERN.source.replace(/^\^|\$$/g, '')}(?:\\.\\*)?)$`),
    'must be an event type (letters, digits and . _ : / -), "*" or "prefix.*"',
  );

const descriptionSchema = z.string().max(512, 'must be at most 512 characters');

const channelSchema = z.enum(CHANNELS, { error: () => `must be one of ${CHANNELS.join(', ')}` });

/**
 * A subscription as the API shows it (every answer of the subscriptions API): the stored item
 * without its owner and secret. The type of the stored item follows from it, so a field added to
 * subscriptions is added here, and so to the OpenAPI document.
 */
export const subscriptionViewSchema = z.object({
  subscriptionId: idSchema('sub'),
  /** An event type, `*` (all) or `prefix.*`. */
  eventType: eventTypePatternSchema,
  severityFilter: severitySchema,
  channel: channelSchema,
  target: z.string(),
  enabled: z.boolean(),
  description: z.string().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  /** The payload filter, its numbers as they were sent. */
  filter: payloadFilterSchema.optional(),
  /** Set when the processor disabled the subscription (its receiver asked never to be called again). */
  pausedReason: z.string().optional()
    .meta({ description: 'Why the service disabled the subscription (e.g. its webhook answered 410 Gone, Slack answered no_service)' }),
  /** Set when the processor disabled it because every delivery failed for `disableAfter`; a revival removes them. */
  disabledReason: z.string().optional()
    .meta({ description: 'Why the service disabled the subscription: every delivery failed for disableAfter (PATCH enabled: true revives it)' }),
  disabledAt: z.iso.datetime().optional().meta({ description: 'When the service disabled it for disableAfter' }),
  /** The endpoint's health, once a delivery failed (docs/architecture.md "Endpoint health"). */
  health: healthViewSchema.optional(),
});
export type SubscriptionView = z.infer<typeof subscriptionViewSchema>;

/** A stored subscription (one item of the Subscriptions table), with its endpoint's health as attributes (not `health`). */
export interface Subscription extends Readonly<Omit<SubscriptionView, 'filter' | 'health'>>, EndpointHealth {
  readonly ownerKeyId: string;
  /** Webhook signing secret (`whsec_…`); never returned after creation (or rotation). */
  readonly secret?: string;
  /** The secret a rotation replaced: deliveries are signed with it too until `previousSecretExpiresAt`. Never returned. */
  readonly previousSecret?: string;
  readonly previousSecretExpiresAt?: string;
  /** Payload filter as its exact compact JSON text (lambda/core/payload-filter.ts). */
  readonly filter?: string;
}

/** The answer to POST /subscriptions: the view plus, for channels that sign, the secret (shown this once). */
export const createdSubscriptionSchema = subscriptionViewSchema.extend({
  secret: z.string().startsWith('whsec_').optional().meta({ description: 'The signing secret (Standard Webhooks), returned only here' }),
});
export type CreatedSubscription = z.infer<typeof createdSubscriptionSchema>;

export const createSubscriptionSchema = z.strictObject({
  eventType: eventTypePatternSchema,
  severityFilter: severitySchema.default('LOW'),
  channel: channelSchema,
  target: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(2048, 'must be at most 2048 characters')
    .meta({ description: 'Where the channel delivers: an https URL for webhooks, an email address for email (checked by the channel)' }),
  enabled: z.boolean({ error: 'must be a boolean' }).default(true),
  description: descriptionSchema.optional(),
  filter: payloadFilterSchema.nullable().optional(),
});

export const updateSubscriptionSchema = z
  .strictObject({
    eventType: eventTypePatternSchema.optional(),
    severityFilter: severitySchema.optional(),
    target: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(2048, 'must be at most 2048 characters').optional(),
    enabled: z.boolean({ error: 'must be a boolean' }).optional(),
    description: descriptionSchema.optional(),
    /** null removes the filter. */
    filter: payloadFilterSchema.nullable().optional(),
  })
  .refine((value) => Object.keys(value).length > 0, 'must change at least one field')
  .meta({ minProperties: 1 }); // the refinement, for the OpenAPI document

export type SubscriptionChanges = Omit<z.infer<typeof updateSubscriptionSchema>, 'filter'> & {
  /** The filter's exact JSON text (`filterTextOf()`); null removes it. */
  readonly filter?: string | null;
};

/** `POST /subscriptions/{id}/secret/rotate` takes no fields: no body, or `{}`. */
export const rotateSecretSchema = z.strictObject({});

/** The answer to a rotation: the view, the new secret (shown this once) and until when the old one still signs. */
export const rotatedSecretSchema = subscriptionViewSchema.extend({
  secret: z.string().startsWith('whsec_').meta({ description: 'The new signing secret (Standard Webhooks), returned only here' }),
  previousSecretExpiresAt: z.iso.datetime().optional()
    .meta({ description: 'Until when deliveries also carry a signature with the replaced secret' }),
});
export type RotatedSecret = z.infer<typeof rotatedSecretSchema>;

/** Why a target is not acceptable for the channel, or undefined when it is (the channel decides). */
export function targetError(channel: Channel, target: string, policy: TargetPolicy): string | undefined {
  return describeChannel(channel).validateTarget(target, policy);
}

const VIEW_FIELDS = (Object.keys(subscriptionViewSchema.shape) as (keyof SubscriptionView)[]).filter((f) => f !== 'health');

/**
 * The subscription as the API shows it: the fields of the view, nothing else (never the secrets or
 * the owner, nor an attribute stored later that the view does not name); the filter as JSON, its
 * numbers as sent; its endpoint's health attributes as `health`.
 */
export function publicView(subscription: Subscription, nowMs: number): SubscriptionView {
  const view: Record<string, unknown> = {};
  for (const field of VIEW_FIELDS) {
    const value = subscription[field as keyof Subscription];
    if (value !== undefined) view[field] = field === 'filter' ? filterResponseValue(value as string) : value;
  }
  return withHealthView({ ...view, ...healthOf(subscription) }, nowMs) as SubscriptionView;
}
