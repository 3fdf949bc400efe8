import type { DeliveryResult } from '../channel';

/** SES errors that no retry can cure: the message, sender or configuration is refused. */
export const PERMANENT_EMAIL_ERRORS: readonly string[] = ['MessageRejected', 'MailFromDomainNotVerifiedException', 'BadRequestException', 'NotFoundException'];

/** A failed send: the permanent errors fail for good, everything else is retried. */
export function judgeEmailError(error: unknown): DeliveryResult {
  const permanent = error instanceof Error && PERMANENT_EMAIL_ERRORS.includes(error.name);
  return { ok: false, retryable: !permanent, error: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error) };
}
