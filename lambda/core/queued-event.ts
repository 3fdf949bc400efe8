import { QueuedEvent } from './queue-message';

/** Per-message outcome of a send: either the queue has the message, or it does not. */
export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Port: the events queue (SQS in AWS, the local queue stand-in on one machine). */
export interface EventQueue {
  /**
   * Sends messages and reports, in order, which ones the queue accepted. Resolves only when
   * every message has an outcome; it never reports success for a message the queue did not take.
   * `redrive` marks them as a redrive's (the processor's follow-ups of a replayed event).
   */
  send(messages: readonly QueuedEvent[], options?: { readonly redrive?: boolean }): Promise<SendOutcome[]>;
}
