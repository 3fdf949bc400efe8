import type { DeliveryChannel } from './channel';
import { emailChannel, EmailTransport } from './email';
import { slackChannel } from './slack';
import { webhookChannel, WebhookTransport } from './webhook';

export type { DeliveryAttempt, DeliveryChannel, DeliveryResult, TargetPolicy } from './channel';

/**
 * The registration of channels (docs/architecture.md "How to add … A channel"). Adding a channel
 * touches its folder under `channels/` and this file only: its name in `CHANNELS`, its transport
 * in `ChannelTransports` and its factory in `FACTORIES`.
 */
export const CHANNELS = ['EMAIL', 'WEBHOOK', 'SLACK'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The transport ports a deployment provides; a channel without its transport fails every attempt for good. */
export interface ChannelTransports {
  /** HTTP POSTs with the SSRF guard: webhooks and Slack's incoming webhooks. */
  readonly webhook?: WebhookTransport;
  readonly email?: EmailTransport;
}

/** Builds a channel from the deployment's transports; `now` is the processor's clock. */
export type ChannelFactory = (transports: ChannelTransports, now: () => number) => DeliveryChannel;

const FACTORIES: Readonly<Record<Channel, ChannelFactory>> = {
  EMAIL: (t) => emailChannel(t.email),
  WEBHOOK: (t, now) => webhookChannel(t.webhook, now),
  SLACK: (t, now) => slackChannel(t.webhook, now),
};

/** Every channel, built over the given transports. */
export type ChannelRegistry = ReadonlyMap<string, DeliveryChannel>;

export function channelRegistry(transports: ChannelTransports = {}, now: () => number = Date.now): ChannelRegistry {
  return new Map(CHANNELS.map((name) => [name, FACTORIES[name](transports, now)]));
}

/**
 * The channels without transports: enough to validate targets and decide on secrets (the
 * management function sends nothing).
 */
const DESCRIPTIONS = channelRegistry();

/** The channel of that name (no transports: it validates, it does not deliver). */
export function describeChannel(name: Channel): DeliveryChannel {
  return DESCRIPTIONS.get(name)!;
}

/** A new signing secret for a subscription whose channel has one (Standard Webhooks: `whsec_…`). */
export { newWebhookSecret as newSigningSecret } from './webhook';
