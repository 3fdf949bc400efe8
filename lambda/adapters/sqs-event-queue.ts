import {
  SendMessageBatchCommand, SendMessageBatchRequestEntry, SendMessageCommand, SQSClient,
} from '@aws-sdk/client-sqs';
import { messageGroupOf, QueuedEvent, queueMessageBody } from '../core/queue-message';
import { EventQueue, SendOutcome } from '../core/queued-event';

/** SQS limits for one SendMessageBatch call. */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 1024 * 1024;

/** The events queue on SQS: one SendMessage for one event, SendMessageBatch of ≤ 10 otherwise. */
export class SqsEventQueue implements EventQueue {
  constructor(
    /** Called at the first send (the processor's follow-ups are rare: no SQS client until one is sent). */
    private readonly sqsClient: () => SQSClient,
    private readonly queueUrl: string,
    private readonly fifo: boolean,
  ) {}

  private get client(): SQSClient {
    return this.sqsClient();
  }

  public async send(messages: readonly QueuedEvent[], options: { readonly redrive?: boolean } = {}): Promise<SendOutcome[]> {
    const bodies = messages.map((m) => queueMessageBody(m, options)); // once: sent, and sized for batching
    if (messages.length === 1) {
      const [message] = messages;
      try {
        await this.client.send(new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: bodies[0],
          ...this.fifoFields(message),
        }));
        return [{ ok: true }];
      } catch (error) {
        return [{ ok: false, reason: describe(error) }];
      }
    }
    const outcomes: SendOutcome[] = new Array(messages.length);
    if (!this.fifo) {
      await Promise.all(this.chunks(bodies).map((chunk) => this.sendChunk(messages, bodies, chunk, outcomes)));
      return outcomes;
    }
    // FIFO: chunks one after another, so the queue gets a request's events in their order; after
    // a message that was not queued, the later ones of its group are not sent either (their
    // retry must not land behind them).
    const failedGroups = new Set<string>();
    for (const chunk of this.chunks(bodies)) {
      const sendable = chunk.filter((i) => !failedGroups.has(messageGroupOf(messages[i].event)));
      for (const i of chunk) {
        if (!sendable.includes(i)) outcomes[i] = { ok: false, reason: 'held back behind an earlier event of its ordering key that was not queued' };
      }
      if (sendable.length > 0) await this.sendChunk(messages, bodies, sendable, outcomes);
      for (const i of chunk) if (!outcomes[i].ok) failedGroups.add(messageGroupOf(messages[i].event));
    }
    return outcomes;
  }

  private async sendChunk(messages: readonly QueuedEvent[], bodies: readonly string[], indexes: number[], outcomes: SendOutcome[]): Promise<void> {
    const entries: SendMessageBatchRequestEntry[] = indexes.map((i) => ({
      Id: String(i),
      MessageBody: bodies[i],
      ...this.fifoFields(messages[i]),
    }));
    try {
      const result = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
      for (const ok of result.Successful ?? []) outcomes[Number(ok.Id)] = { ok: true };
      for (const failed of result.Failed ?? []) outcomes[Number(failed.Id)] = { ok: false, reason: `${failed.Code}: ${failed.Message ?? ''}` };
    } catch (error) {
      for (const i of indexes) outcomes[i] = { ok: false, reason: describe(error) };
    }
    // An entry SQS reported neither way did not provably land: never call it a success.
    for (const i of indexes) outcomes[i] ??= { ok: false, reason: 'no result from SQS' };
  }

  /** Groups message indexes into SendMessageBatch calls within SQS's count and size limits. */
  private chunks(bodies: readonly string[]): number[][] {
    const chunks: number[][] = [];
    let current: number[] = [];
    let bytes = 0;
    bodies.forEach((body, i) => {
      const size = Buffer.byteLength(body);
      if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(i);
      bytes += size;
    });
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  private fifoFields(message: QueuedEvent): { MessageGroupId?: string; MessageDeduplicationId?: string } {
    // The event id deduplicates re-sends of the same event within SQS's 5-minute window.
    return this.fifo ? { MessageGroupId: messageGroupOf(message.event), MessageDeduplicationId: message.eventId } : {};
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
