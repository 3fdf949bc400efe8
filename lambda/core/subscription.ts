import * as z from 'zod';
import { Channel, CHANNELS, describeChannel, TargetPolicy } from './channels';
import { EVENT_TYPE_PATTERN, severitySchema } from './envelope';
import { idSchema } from './ids';

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
  /** Set when the processor disabled the subscription (its webhook answered 410 Gone). */
  pausedReason: z.string().optional().meta({ description: 'Why the service disabled the subscription (its webhook answered 410 Gone)' }),
});
export type SubscriptionView = z.infer<typeof subscriptionViewSchema>;

/** A stored subscription (one item of the Subscriptions table). */
export interface Subscription extends Readonly<SubscriptionView> {
  readonly ownerKeyId: string;
  /** Webhook signing secret (`whsec_…`); never returned after creation. */
  readonly secret?: string;
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
});

export const updateSubscriptionSchema = z
  .strictObject({
    eventType: eventTypePatternSchema.optional(),
    severityFilter: severitySchema.optional(),
    target: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(2048, 'must be at most 2048 characters').optional(),
    enabled: z.boolean({ error: 'must be a boolean' }).optional(),
    description: descriptionSchema.optional(),
  })
  .refine((value) => Object.keys(value).length > 0, 'must change at least one field')
  .meta({ minProperties: 1 }); // the refinement, for the OpenAPI document

export type SubscriptionChanges = z.infer<typeof updateSubscriptionSchema>;

/** Why a target is not acceptable for the channel, or undefined when it is (the channel decides). */
export function targetError(channel: Channel, target: string, policy: TargetPolicy): string | undefined {
  return describeChannel(channel).validateTarget(target, policy);
}

const VIEW_FIELDS = Object.keys(subscriptionViewSchema.shape) as (keyof SubscriptionView)[];

/**
 * The subscription as the API shows it: the fields of the view, nothing else (never the secret or
 * the owner, nor an attribute stored later that the view does not name).
 */
export function publicView(subscription: Subscription): SubscriptionView {
  const view: Record<string, unknown> = {};
  for (const field of VIEW_FIELDS) if (subscription[field] !== undefined) view[field] = subscription[field];
  return view as SubscriptionView;
}
