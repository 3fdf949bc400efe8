import { parseRetryAfter } from '../../retry-policy';
import type { DeliveryResult } from '../channel';
import { judgeWebhookError } from '../webhook/outcome';
import type { WebhookResponse } from '../webhook/transport';

/**
 * Slack's 403 answers that mean the hook will never post again (the token behind the URL was
 * revoked, or the workspace forbids the hook). Other 403s (e.g. posting_to_general_channel_denied)
 * fail the notification without disabling the subscription.
 */
const DISABLING_403 = new Set(['invalid_token', 'action_prohibited']);

/**
 * Judges an incoming webhook's answer as Slack documents it
 * (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks,
 * https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks, rate limits:
 * https://api.slack.com/docs/rate-limits):
 * - 200 `ok`: delivered.
 * - 404 (`no_service`, `channel_not_found`, `no_team`), 410 (`channel_is_archived`) and 403
 *   `invalid_token` / `action_prohibited`: the hook is gone; the subscription is disabled with
 *   Slack's reason.
 * - 429 (rate limited, with `Retry-After`), 5xx (`rollup_error`, outages), 408: retried; a
 *   `Retry-After` on 429 and 503 is honoured (retry-policy.ts).
 * - Any other 4xx (`invalid_payload`, `user_not_found`, …): no retry can help; failed for good
 *   with Slack's error text.
 */
export function judgeSlackResponse(response: WebhookResponse, nowMs: number): DeliveryResult {
  const status = response.status;
  if (status >= 200 && status < 300) return { ok: true, retryable: false, httpStatus: status };
  const said = slackError(response.body);
  const error = `Slack answered ${status}${said ? ` ${said}` : ''}`;
  if (status === 404 || status === 410 || (status === 403 && DISABLING_403.has(said))) {
    return { ok: false, retryable: false, httpStatus: status, disableSubscription: true, error };
  }
  if (status === 408 || status === 429 || status >= 500 || (status >= 300 && status < 400)) {
    const retryAfterSeconds = status === 429 || status === 503 ? parseRetryAfter(response.retryAfter, nowMs) : undefined;
    return { ok: false, retryable: true, httpStatus: status, error, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
  }
  return { ok: false, retryable: false, httpStatus: status, error };
}

/** Network errors and time-outs are retried; a refused target fails for good (as for webhooks). */
export const judgeSlackError = judgeWebhookError;

/**
 * Slack's error code from a response body: the plain text it sends (`no_service`), or the
 * `error` of a JSON body; one line, printable, at most 100 characters.
 */
export function slackError(body: string | undefined): string {
  if (!body) return '';
  let text = body.trim();
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (typeof parsed.error === 'string') text = parsed.error;
    } catch {
      // not JSON after all: the text itself
    }
  }
  return text.split(/\r?\n/, 1)[0].replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 100).trim();
}
