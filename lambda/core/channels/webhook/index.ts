import type { DeliveryChannel } from '../channel';
import { judgeWebhookError, judgeWebhookResponse } from './outcome';
import { previousSecretAt, signedWebhookHeaders, webhookBody } from './signing';
import { webhookTargetError } from './target';
import type { WebhookTransport } from './transport';

export { judgeWebhookError, judgeWebhookResponse } from './outcome';
export { newWebhookSecret, previousSecretAt, signedWebhookHeaders, webhookBody } from './signing';
export { webhookTargetError } from './target';
export { ForbiddenTargetError } from './transport';
export type { WebhookRequest, WebhookResponse, WebhookTransport } from './transport';

/**
 * Webhooks (docs/architecture.md "Delivery"): the event as JSON, signed the Standard Webhooks way
 * with the subscription's secret, POSTed through the transport and judged by its answer.
 * Without a transport every attempt fails for good.
 */
export function webhookChannel(transport: WebhookTransport | undefined, now: () => number): DeliveryChannel {
  return {
    name: 'WEBHOOK',
    hasSigningSecret: true,
    tracksEndpointHealth: true,
    validateTarget: webhookTargetError,
    async deliver(event, subscription, { notificationId, startedMs, timeoutMs }) {
      if (!transport) return { ok: false, retryable: false, error: 'the webhook channel is not enabled for this deployment' };
      if (!subscription.secret) return { ok: false, retryable: false, error: 'subscription has no signing secret' };
      const body = webhookBody(event);
      try {
        const response = await transport.post({
          url: subscription.target,
          // During a rotation's overlap both secrets sign (secret rotation, docs/architecture.md "Delivery").
          headers: signedWebhookHeaders(subscription.secret, notificationId, new Date(startedMs), body, previousSecretAt(subscription, startedMs)),
          body,
          timeoutMs,
        });
        return judgeWebhookResponse(response, now());
      } catch (error) {
        return judgeWebhookError(error);
      }
    },
  };
}
