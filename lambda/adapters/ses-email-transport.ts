import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { EmailContent, EmailTransport } from '../core/channels/email';

/** Email through SES v2 SendEmail: HTML and text bodies, from the configured identity. */
export class SesEmailTransport implements EmailTransport {
  /** `sesClient` is called at the first email: a cold start that sends none creates no SES client. */
  constructor(private readonly sesClient: () => SESv2Client, private readonly fromAddress: string, private readonly configurationSetName?: string) {}

  private get client(): SESv2Client {
    return this.sesClient();
  }

  public async send(to: string, content: EmailContent): Promise<string> {
    const result = await this.client.send(new SendEmailCommand({
      FromEmailAddress: this.fromAddress,
      Destination: { ToAddresses: [to] },
      Content: {
        Simple: {
          Subject: { Data: content.subject, Charset: 'UTF-8' },
          Body: { Text: { Data: content.text, Charset: 'UTF-8' }, Html: { Data: content.html, Charset: 'UTF-8' } },
        },
      },
      ...(this.configurationSetName ? { ConfigurationSetName: this.configurationSetName } : {}),
    }));
    if (!result.MessageId) throw new Error('SES returned no MessageId');
    return result.MessageId;
  }
}
