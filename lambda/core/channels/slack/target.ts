import type { TargetPolicy } from '../channel';
import { webhookTargetError } from '../webhook/target';

/**
 * An incoming-webhook URL exactly as Slack issues it:
 * `https://hooks.slack.com/services/T…/B…/<secret>` (workspace id, hook id, token). No port,
 * query, fragment or credentials, so a SLACK subscription can only ever post to Slack.
 */
const SLACK_WEBHOOK_URL = /^https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{2,31}\/B[A-Z0-9]{2,31}\/[A-Za-z0-9]{8,64}$/;

/**
 * Why a Slack target is not acceptable, or undefined. With `allowPrivateTargets` (the local
 * runtime) any http(s) URL a webhook may have is accepted too, so a local receiver can stand in
 * for Slack.
 */
export function slackTargetError(target: string, policy: TargetPolicy): string | undefined {
  if (SLACK_WEBHOOK_URL.test(target)) return undefined;
  if (policy.allowPrivateTargets) return webhookTargetError(target, policy);
  return 'must be a Slack incoming-webhook URL: https://hooks.slack.com/services/T…/B…/…';
}
