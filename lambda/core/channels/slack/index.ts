import type { DeliveryChannel } from '../channel';
import { slackBody } from './message';
import { judgeSlackError, judgeSlackResponse } from './outcome';
import { slackTargetError } from './target';
import type { WebhookTransport } from '../webhook/transport';

export { SLACK_LIMITS } from './limits';
export { renderSlackMessage, slackBody } from './message';
export type { SlackBlock, SlackMessage, SlackTextObject } from './message';
export { judgeSlackError, judgeSlackResponse, slackError } from './outcome';
export { slackTargetError } from './target';
export { slackText } from './text';

/**
 * Slack (docs/architecture.md "Delivery"): a Block Kit message POSTed to an incoming-webhook URL
 * through the webhook transport (same HTTP client, same SSRF guard, same time-out), unsigned —
 * the URL is the credential — and judged by Slack's documented answers. Without a transport every
 * attempt fails for good.
 */
export function slackChannel(transport: WebhookTransport | undefined, now: () => number): DeliveryChannel {
  return {
    name: 'SLACK',
    hasSigningSecret: false,
    validateTarget: slackTargetError,
    async deliver(event, subscription, { timeoutMs }) {
      if (!transport) return { ok: false, retryable: false, error: 'the Slack channel is not enabled for this deployment' };
      try {
        const response = await transport.post({
          url: subscription.target,
          headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'event-notification-service' },
          body: slackBody(event),
          timeoutMs,
        });
        return judgeSlackResponse(response, now());
      } catch (error) {
        return judgeSlackError(error);
      }
    },
  };
}
