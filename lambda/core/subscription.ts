import * as z from 'zod';
import { Channel, CHANNELS, describeChannel, TargetPolicy } from './channels';
import { EVENT_TYPE_PATTERN, Severity, severitySchema } from './envelope';
import { filterResponseValue, payloadFilterSchema } from './payload-filter';

/** The channel names live with their registration (channels/index.ts). */
export { CHANNELS } from './channels';
export type { Channel, TargetPolicy } from './channels';

/** A stored subscription (one item of the Subscriptions table). */
export interface Subscription {
  readonly subscriptionId: string;
  readonly ownerKeyId: string;
  /** An event type, `*` (all) or `prefix.*`. */
  readonly eventType: string;
  readonly severityFilter: Severity;
  readonly channel: Channel;
  readonly target: string;
  /** Webhook signing secret (`whsec_…`); never returned after creation (or rotation). */
  readonly secret?: string;
  /** The secret a rotation replaced: deliveries are signed with it too until `previousSecretExpiresAt`. Never returned. */
  readonly previousSecret?: string;
  readonly previousSecretExpiresAt?: string;
  readonly enabled: boolean;
  readonly description?: string;
  /** Payload filter as its exact compact JSON text (lambda/core/payload-filter.ts). */
  readonly filter?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** `*`, `prefix.*` or an exact event type. */
export const eventTypePatternSchema = z
  .string({ error: 'must be a string' })
  .max(128, 'must be at most 128 characters')
  .refine(
    (value) => value === '*' || EVENT_TYPE_PATTERN.test(value.endsWith('.*') ? value.slice(0, -2) : value),
    'must be an event type (letters, digits and . _ : / -), "*" or "prefix.*"',
  );

const descriptionSchema = z.string().max(512, 'must be at most 512 characters');

export const createSubscriptionSchema = z.strictObject({
  eventType: eventTypePatternSchema,
  severityFilter: severitySchema.default('LOW'),
  channel: z.enum(CHANNELS, { error: () => `must be one of ${CHANNELS.join(', ')}` }),
  target: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(2048, 'must be at most 2048 characters'),
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
  .refine((value) => Object.keys(value).length > 0, 'must change at least one field');

export type SubscriptionChanges = Omit<z.infer<typeof updateSubscriptionSchema>, 'filter'> & {
  /** The filter's exact JSON text (`filterTextOf()`); null removes it. */
  readonly filter?: string | null;
};

/** `POST /subscriptions/{id}/secret/rotate` takes no fields: no body, or `{}`. */
export const rotateSecretSchema = z.strictObject({});

/** Why a target is not acceptable for the channel, or undefined when it is (the channel decides). */
export function targetError(channel: Channel, target: string, policy: TargetPolicy): string | undefined {
  return describeChannel(channel).validateTarget(target, policy);
}

/** The subscription as the API shows it: everything but the secrets and the owner; the filter as JSON, its numbers as sent. */
export function publicView(
  subscription: Subscription,
): Omit<Subscription, 'secret' | 'previousSecret' | 'previousSecretExpiresAt' | 'ownerKeyId' | 'filter'> & { readonly filter?: unknown } {
  const { secret: _secret, previousSecret: _previous, previousSecretExpiresAt: _expires, ownerKeyId: _owner, filter, ...rest } = subscription;
  return { ...rest, ...(filter !== undefined ? { filter: filterResponseValue(filter) } : {}) };
}
