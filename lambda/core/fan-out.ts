import type { NotificationRecord } from './notification';
import type { ProcessorLog } from './processor';
import { FanOutPart, MAX_FAN_OUT_PARTS, QueuedEvent, QueuedEventText } from './queue-message';
import type { EventQueue } from './queued-event';
import type { Subscription } from './subscription';

/**
 * Large fan-outs (docs/architecture.md "Fan-out"). An event matching more subscriptions than one
 * round can serve is not delivered from its own message: the processor stores it, sends follow-up
 * messages of at most `fanOutSize()` subscriptions each to the events queue, and only then lets
 * the message go. Each follow-up is an ordinary message of the event (same id, same exact text,
 * same `webhook-id` per subscription) restricted to its part: it reads only its part's
 * subscriptions (by id, SubscriptionMatcher.match's `among`) and records, retries, comes back and
 * is dead-lettered on its own.
 */

/**
 * Time a round needs besides its deliveries: the processor's margin before the deadline
 * (DEADLINE_MARGIN_MS, 3 s) plus 5 s for matching, reading the part's records and writing them.
 */
const ROUND_RESERVE_MS = 8000;
/**
 * Parts hold at most this many subscriptions unless FAN_OUT_SIZE says otherwise: their records are
 * 4 BatchWriteItem requests and one Query page, their list of ids about 3 KB.
 */
export const DEFAULT_MAX_PART_SIZE = 100;
/** Follow-ups sent at once (10 SendMessageBatch requests), so a 10,000-way fan-out does not hold every body in memory. */
const SEND_WAVE = 100;

/** What sizes a part: the processor function's time limit, the webhook timeout, deliveries in flight at once. */
export interface FanOutLimits {
  readonly functionTimeoutMs: number;
  readonly webhookTimeoutMs: number;
  readonly concurrency: number;
}

/**
 * Subscriptions per follow-up: what one message's round can attempt within one invocation even
 * when every receiver holds its request for the whole webhook timeout. A delivery starts only if
 * it can finish before the deadline, so `concurrency` requests run in each of
 * `floor((timeout − webhookTimeout − reserve) / webhookTimeout) + 1` waves.
 * Defaults (60 s, 15 s, 25): 3 waves × 25 = 75.
 */
export function fanOutSize(limits: FanOutLimits): number {
  const { functionTimeoutMs, webhookTimeoutMs, concurrency } = limits;
  const waves = Math.max(1, Math.floor((functionTimeoutMs - webhookTimeoutMs - ROUND_RESERVE_MS) / webhookTimeoutMs) + 1);
  return Math.max(1, Math.min(DEFAULT_MAX_PART_SIZE, concurrency * waves));
}

/**
 * Split (pure): the subscription ids in ascending order, in as few parts of at most `size` as
 * possible, of sizes differing by one at most. Ascending, so each part is one key range of the
 * event's notification records.
 */
export function splitFanOut(subscriptionIds: readonly string[], size: number): FanOutPart[] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`part size must be a positive integer, got ${size}`);
  const ids = [...new Set(subscriptionIds)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = Math.ceil(ids.length / size);
  const base = Math.floor(ids.length / Math.max(1, parts));
  const longer = ids.length - base * parts; // the first `longer` parts get one more
  const result: FanOutPart[] = [];
  let start = 0;
  for (let part = 0; part < parts; part++) {
    const end = start + base + (part < longer ? 1 : 0);
    result.push({ part, parts, total: ids.length, subscriptionIds: ids.slice(start, end) });
    start = end;
  }
  return result;
}

/** Port: an event's notification records for one range of subscription ids (one Query in DynamoDB). */
export interface PartRecords {
  /** The records of `eventId` whose subscription id is from `first` to `last`, both included, read consistently. */
  listBetween(eventId: string, first: string, last: string): Promise<NotificationRecord[]>;
}

export interface FanOutOptions {
  /** The events queue. Without it nothing is split (FIFO queues: docs/architecture.md "Fan-out"). */
  readonly queue?: EventQueue;
  /** Without it a follow-up reads all of the event's records and keeps its part's. */
  readonly records?: PartRecords;
  /** Subscriptions per follow-up (`fanOutSize()`); undefined: nothing is split. */
  readonly size?: number;
  readonly log: ProcessorLog;
}

/** Not every follow-up was queued: the message stays on the queue and the split is made again. */
export class FanOutNotQueuedError extends Error {
  constructor(eventId: string, failed: number, parts: number, reason: string) {
    super(`event ${eventId}: ${failed} of ${parts} follow-up messages were not queued (${reason})`);
    this.name = 'FanOutNotQueuedError';
  }
}

/** The processor's side of fan-out: whether to split, the split itself, and what a follow-up covers. */
export class FanOut {
  constructor(private readonly options: FanOutOptions) {}

  /** Whether this message goes on in follow-ups: a whole event (not a part) matching more than a part holds. */
  public splits(message: QueuedEventText, matched: number): boolean {
    const { queue, size } = this.options;
    return queue !== undefined && size !== undefined && message.fanOut === undefined && matched > size;
  }

  /**
   * Sends the follow-ups of `message`, one per part. Resolves only when the queue took every one:
   * otherwise it throws, the message comes back (or is dead-lettered on its last receive) and the
   * split is made again; follow-ups sent twice find their part's records and send nothing twice.
   */
  public async split(message: QueuedEvent, subscriptions: readonly Subscription[], redrive: boolean): Promise<FanOutPart[]> {
    const { queue, size, log } = this.options;
    if (!queue || size === undefined) throw new Error('fan-out is not enabled for this processor');
    // Beyond 7.5 million subscriptions the parts grow rather than outnumber what a follow-up may say.
    const parts = splitFanOut(subscriptions.map((s) => s.subscriptionId), Math.max(size, Math.ceil(subscriptions.length / MAX_FAN_OUT_PARTS)));
    for (let i = 0; i < parts.length; i += SEND_WAVE) {
      const outcomes = await queue.send(parts.slice(i, i + SEND_WAVE).map((fanOut) => ({ ...message, fanOut })), { redrive });
      const failed = outcomes.flatMap((o) => (o.ok ? [] : [o.reason]));
      if (failed.length > 0) throw new FanOutNotQueuedError(message.eventId, failed.length, parts.length, failed[0]);
    }
    log.info('Fan-out split into follow-up messages', { eventId: message.eventId, subscriptions: parts[0]?.total ?? 0, parts: parts.length, redrive });
    return parts;
  }

  /**
   * The stored records this message must honour: all of the event's, or a follow-up's part of
   * them, read as one key range (the part's ids are ascending).
   */
  public async records(message: QueuedEventText, all: () => Promise<NotificationRecord[]>): Promise<NotificationRecord[]> {
    const part = message.fanOut;
    if (!part) return all();
    const ids = part.subscriptionIds;
    const read = this.options.records
      ? await this.options.records.listBetween(message.eventId, ids[0], ids[ids.length - 1])
      : await all();
    const wanted = new Set(ids);
    return read.filter((r) => wanted.has(r.subscriptionId));
  }
}
