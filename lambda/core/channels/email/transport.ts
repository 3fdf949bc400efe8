import type { EmailContent } from './content';

/** Port: sends one email; resolves to the provider's message id. */
export interface EmailTransport {
  send(to: string, content: EmailContent): Promise<string>;
}
