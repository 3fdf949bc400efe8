import type { DeliveryChannel } from '../channel';
import { renderEmail } from './content';
import { judgeEmailError } from './outcome';
import { emailTargetError } from './target';
import type { EmailTransport } from './transport';

export { escapeHtml, renderEmail, subjectLine } from './content';
export type { EmailContent } from './content';
export { judgeEmailError, PERMANENT_EMAIL_ERRORS } from './outcome';
export { emailTargetError } from './target';
export type { EmailTransport } from './transport';

/**
 * Email (docs/architecture.md "Delivery"): the rendered event sent through the transport (SES).
 * Without a transport (no `email` props) every attempt fails for good with that reason.
 */
export function emailChannel(transport: EmailTransport | undefined): DeliveryChannel {
  return {
    name: 'EMAIL',
    hasSigningSecret: false,
    validateTarget: (target) => emailTargetError(target),
    async deliver(event, subscription) {
      if (!transport) return { ok: false, retryable: false, error: 'the email channel is not enabled for this deployment' };
      try {
        const messageId = await transport.send(subscription.target, renderEmail(event));
        return { ok: true, retryable: false, messageId };
      } catch (error) {
        return judgeEmailError(error);
      }
    },
  };
}
