export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}

export interface WebhookResponse {
  readonly status: number;
  readonly retryAfter?: string;
  /** The start of the answer's body (a few hundred bytes): Slack says why in it (`no_service`). */
  readonly body?: string;
}

/** The target resolved to an address webhooks may not reach (SSRF guard); nothing was sent. */
export class ForbiddenTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenTargetError';
  }
}

/** Port: sends one webhook request. Throws on network errors and time-outs; follows no redirects. */
export interface WebhookTransport {
  post(request: WebhookRequest): Promise<WebhookResponse>;
}
