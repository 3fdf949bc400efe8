import { parseRetryAfter } from '../../retry-policy';
import type { DeliveryResult } from '../channel';
import { ForbiddenTargetError, WebhookResponse } from './transport';

/** Judges a receiver's answer: 2xx delivered; 410 disables; 3xx and everything else retries. */
export function judgeWebhookResponse(response: WebhookResponse, nowMs: number): DeliveryResult {
  const status = response.status;
  if (status >= 200 && status < 300) return { ok: true, retryable: false, httpStatus: status };
  if (status === 410) return { ok: false, retryable: false, httpStatus: status, disableSubscription: true, error: 'receiver answered 410 Gone' };
  const retryAfterSeconds = status === 429 || status === 503 ? parseRetryAfter(response.retryAfter, nowMs) : undefined;
  const error = status >= 300 && status < 400 ? `redirect ${status} not followed` : `receiver answered ${status}`;
  return { ok: false, retryable: true, httpStatus: status, error, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
}

/** A transport failure: refused targets are final, network errors and time-outs are retried. */
export function judgeWebhookError(error: unknown): DeliveryResult {
  if (error instanceof ForbiddenTargetError) return { ok: false, retryable: false, error: error.message };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { ok: false, retryable: true, error: message.slice(0, 300) };
}
