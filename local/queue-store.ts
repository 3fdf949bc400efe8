import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A message attribute as SQS carries it. */
export interface MessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
}

/** One message of a local queue. */
export interface QueueMessage {
  readonly id: string;
  readonly queue: string;
  readonly body: string;
  readonly attributes?: Readonly<Record<string, MessageAttribute>>;
  readonly groupId?: string;
  /** FIFO: the deduplication id it was sent with (or its body's SHA-256, content-based). */
  readonly deduplicationId?: string;
  /** FIFO: its place in the queue, increasing with every message sent (20 digits, as SQS's). */
  readonly sequenceNumber?: string;
  /** Epoch ms. */
  readonly sentAt: number;
  receiveCount: number;
  /** Epoch ms; the message is invisible before it. */
  visibleAt: number;
}

/** A received message with its receipt handle (valid for this receive only, as in SQS). */
export interface ReceivedMessage {
  readonly message: QueueMessage;
  readonly receiptHandle: string;
}

type LogEntry =
  | { readonly op: 'put'; readonly m: QueueMessage }
  /** A deduplication id still within its window whose message is gone (written at compaction). */
  | { readonly op: 'dedup'; readonly key: string; readonly id: string; readonly at: number }
  | { readonly op: 'recv'; readonly id: string; readonly receiveCount: number; readonly visibleAt: number }
  | { readonly op: 'vis'; readonly id: string; readonly visibleAt: number }
  | { readonly op: 'del'; readonly id: string };

export interface QueueDefinition {
  /** A FIFO queue's name ends with `.fifo`, as SQS requires. */
  readonly name: string;
  readonly fifo: boolean;
  /** Where messages go after `maxReceiveCount` receives. */
  readonly deadLetterQueue?: string;
  readonly maxReceiveCount?: number;
  /** FIFO: a message without a deduplication id is deduplicated by its body's SHA-256. */
  readonly contentBasedDeduplication?: boolean;
  /** FIFO: whether a deduplication id counts per queue (default) or per message group (high throughput). */
  readonly deduplicationScope?: 'queue' | 'messageGroup';
}

/** SQS FIFO's deduplication interval. */
export const DEDUPLICATION_WINDOW_MS = 5 * 60_000;

/** A send SQS refuses (the error type is SQS's). */
export class QueueSendError extends Error {
  constructor(public readonly code: 'MissingParameter' | 'InvalidParameterValue', message: string) {
    super(message);
  }
}

/**
 * Local stand-in for SQS queues, kept in one append-only log file so that stopping (or killing)
 * the runtime loses no accepted message and no pending retry: every change is appended before
 * it is acknowledged, and the log is replayed and compacted at start. FIFO deduplication ids
 * are kept in the log too (with their message, then on their own once it is gone, until their
 * 5-minute window ends), so a restart does not let a duplicate through.
 */
export class QueueStore {
  private readonly messages = new Map<string, QueueMessage>();
  private readonly queues = new Map<string, QueueDefinition>();
  /** Messages hidden by a receive (in flight), not by a visibility change. */
  private readonly inFlight = new Set<string>();
  /** FIFO deduplication key → the first message's id and when it was sent. */
  private readonly deduplication = new Map<string, { id: string; at: number }>();
  private sequence = 0n;
  private readonly fd: number;

  constructor(file: string, definitions: readonly QueueDefinition[], private readonly now: () => number = Date.now) {
    for (const d of definitions) {
      if (d.fifo !== d.name.endsWith('.fifo')) throw new Error(`Queue ${d.name}: a FIFO queue's name ends with .fifo, and only a FIFO queue's does`);
      this.queues.set(d.name, d);
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (fs.existsSync(file)) this.replay(fs.readFileSync(file, 'utf8'));
    // Compact: rewrite the live messages (and which are in flight) and the deduplication ids
    // still in their window whose message is gone, then keep appending.
    const compactedAt = this.now();
    const live = new Set([...this.messages.values()].map((m) => this.deduplicationKey(m)).filter((k) => k !== undefined));
    const compacted = [...this.messages.values()].map((m) => JSON.stringify({ op: 'put', m }) + '\n'
      + (this.inFlight.has(m.id) ? JSON.stringify({ op: 'recv', id: m.id, receiveCount: m.receiveCount, visibleAt: m.visibleAt }) + '\n' : '')).join('')
      + [...this.deduplication].filter(([key, d]) => !live.has(key) && d.at + DEDUPLICATION_WINDOW_MS > compactedAt)
        .map(([key, d]) => JSON.stringify({ op: 'dedup', key, id: d.id, at: d.at }) + '\n').join('');
    fs.writeFileSync(file + '.tmp', compacted);
    fs.renameSync(file + '.tmp', file);
    this.fd = fs.openSync(file, 'a');
  }

  public hasQueue(name: string): boolean {
    return this.queues.has(name);
  }

  public definition(name: string): QueueDefinition | undefined {
    return this.queues.get(name);
  }

  /** The queues that hold messages, defined or not (a log may hold queues of another configuration). */
  public queuesWithMessages(): string[] {
    return [...new Set([...this.messages.values()].map((m) => m.queue))].sort();
  }

  /**
   * Sends a message, as SQS SendMessage does. FIFO queues need a group id and a deduplication
   * id (or content-based deduplication); a deduplication id seen within the last 5 minutes adds
   * nothing and answers with the first message (SQS reports success with its id).
   */
  public send(queue: string, body: string, attributes?: Record<string, MessageAttribute>, groupId?: string, deduplicationId?: string): QueueMessage {
    const definition = this.queues.get(queue);
    if (!definition?.fifo) {
      if (deduplicationId !== undefined) throw new QueueSendError('InvalidParameterValue', 'The request include parameter that is not valid for this queue type');
      return this.put(queue, body, attributes, groupId);
    }
    if (!groupId) throw new QueueSendError('MissingParameter', 'The request must contain the parameter MessageGroupId.');
    const dedupId = deduplicationId ?? (definition.contentBasedDeduplication ? createHash('sha256').update(body, 'utf8').digest('hex') : undefined);
    if (!dedupId) {
      throw new QueueSendError('InvalidParameterValue', 'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
    }
    const key = this.deduplicationKey({ queue, groupId, deduplicationId: dedupId })!;
    const earlier = this.deduplication.get(key);
    const now = this.now();
    if (earlier && earlier.at + DEDUPLICATION_WINDOW_MS > now) {
      const first = this.messages.get(earlier.id);
      // Still on the queue, or already consumed: either way the same answer, and nothing added.
      return first ?? { id: earlier.id, queue, body, groupId, deduplicationId: dedupId, sentAt: earlier.at, receiveCount: 0, visibleAt: 0 };
    }
    return this.put(queue, body, attributes, groupId, dedupId);
  }

  /**
   * Receives up to `max` visible messages, oldest first, hiding them for `visibilityMs`.
   * Messages already received `maxReceiveCount` times move to the dead-letter queue instead.
   *
   * FIFO, as SQS: a message group with a message in flight or hidden (a retry scheduled with a
   * visibility change) yields nothing, which keeps each group in order; the others proceed. A
   * batch takes as many messages of one group as it can, in order, before the next group (the
   * group whose oldest message is oldest first). `excludeGroups` are left out as well: the
   * groups a consumer still has a batch of in progress.
   */
  public receive(queue: string, max: number, visibilityMs: number, excludeGroups: ReadonlySet<string> = new Set()): ReceivedMessage[] {
    const now = this.now();
    const definition = this.queues.get(queue);
    const candidates = this.list(queue);
    let ordered = candidates;
    if (definition?.fifo) {
      const busy = new Set<string | undefined>(excludeGroups);
      for (const m of candidates) if (m.visibleAt > now && m.receiveCount > 0) busy.add(m.groupId);
      // Group by group, each in order; groups in the order of their oldest message.
      const groups = new Map<string | undefined, QueueMessage[]>();
      for (const m of candidates) {
        if (busy.has(m.groupId)) continue;
        const group = groups.get(m.groupId) ?? [];
        group.push(m);
        groups.set(m.groupId, group);
      }
      ordered = [...groups.values()].flat();
    }
    const received: ReceivedMessage[] = [];
    for (const message of ordered) {
      if (received.length >= max) break;
      if (message.visibleAt > now) continue;
      if (definition?.deadLetterQueue && definition.maxReceiveCount !== undefined && message.receiveCount >= definition.maxReceiveCount) {
        this.moveTo(message, definition.deadLetterQueue);
        continue;
      }
      message.receiveCount += 1;
      message.visibleAt = now + visibilityMs;
      this.append({ op: 'recv', id: message.id, receiveCount: message.receiveCount, visibleAt: message.visibleAt });
      this.inFlight.add(message.id);
      received.push({ message, receiptHandle: `${message.id}:${message.receiveCount}` });
    }
    return received;
  }

  /** Sets when a received message becomes visible again; false for a stale receipt handle. */
  public changeVisibility(receiptHandle: string, seconds: number): boolean {
    const message = this.byHandle(receiptHandle);
    if (!message) return false;
    message.visibleAt = this.now() + seconds * 1000;
    this.append({ op: 'vis', id: message.id, visibleAt: message.visibleAt });
    this.inFlight.delete(message.id);
    return true;
  }

  /**
   * Makes the messages of `queue` that were received but neither deleted nor given a new
   * visibility visible at once; returns how many. For the consumer starting up in the process
   * that owns the store: nothing received before a kill is still being worked on, so waiting for
   * the visibility timeout would only delay accepted events. Visibility set on purpose (a retry
   * later) is kept.
   */
  public releaseInFlight(queue: string): number {
    const now = this.now();
    let released = 0;
    for (const id of [...this.inFlight]) {
      const message = this.messages.get(id);
      if (!message || message.queue !== queue) continue;
      this.inFlight.delete(id);
      if (message.visibleAt <= now) continue;
      message.visibleAt = now;
      this.append({ op: 'vis', id, visibleAt: now });
      released++;
    }
    return released;
  }

  public delete(receiptHandle: string): boolean {
    const message = this.byHandle(receiptHandle);
    if (!message) return false;
    this.remove(message.id);
    return true;
  }

  public list(queue: string): QueueMessage[] {
    return [...this.messages.values()].filter((m) => m.queue === queue).sort((a, b) => a.sentAt - b.sentAt);
  }

  /** Moves every message of `from` to `to` (SQS StartMessageMoveTask); returns how many. */
  public moveAll(from: string, to: string): number {
    const moving = this.list(from);
    for (const message of moving) this.moveTo(message, to);
    return moving.length;
  }

  public close(): void {
    fs.closeSync(this.fd);
  }

  /** Moves a message to another queue (redrive, message move task): a new message, never deduplicated away. */
  private moveTo(message: QueueMessage, queue: string): void {
    this.remove(message.id);
    this.put(queue, message.body, message.attributes ? { ...message.attributes } : undefined, message.groupId, message.deduplicationId);
  }

  private put(queue: string, body: string, attributes?: Record<string, MessageAttribute>, groupId?: string, deduplicationId?: string): QueueMessage {
    const fifo = this.queues.get(queue)?.fifo ?? false;
    const message: QueueMessage = {
      id: randomUUID(),
      queue,
      body,
      ...(attributes ? { attributes } : {}),
      ...(groupId ? { groupId } : {}),
      ...(fifo && deduplicationId ? { deduplicationId } : {}),
      ...(fifo ? { sequenceNumber: String(++this.sequence).padStart(20, '0') } : {}),
      sentAt: this.now(),
      receiveCount: 0,
      visibleAt: 0,
    };
    this.append({ op: 'put', m: message });
    this.messages.set(message.id, message);
    this.remember(message);
    return message;
  }

  /** Registers a FIFO message's deduplication id (the window starts when it was sent). */
  private remember(message: QueueMessage): void {
    const key = this.deduplicationKey(message);
    if (key !== undefined) this.deduplication.set(key, { id: message.id, at: message.sentAt });
  }

  private deduplicationKey(message: Pick<QueueMessage, 'queue' | 'groupId' | 'deduplicationId'>): string | undefined {
    const definition = this.queues.get(message.queue);
    if (!definition?.fifo || message.deduplicationId === undefined) return undefined;
    return JSON.stringify(definition.deduplicationScope === 'messageGroup'
      ? [message.queue, message.groupId, message.deduplicationId]
      : [message.queue, message.deduplicationId]);
  }

  private remove(id: string): void {
    this.append({ op: 'del', id });
    this.messages.delete(id);
    this.inFlight.delete(id);
  }

  private byHandle(receiptHandle: string): QueueMessage | undefined {
    const [id, count] = receiptHandle.split(':');
    const message = this.messages.get(id);
    return message && String(message.receiveCount) === count ? message : undefined;
  }

  private append(entry: LogEntry): void {
    if (this.fd !== undefined) fs.writeSync(this.fd, JSON.stringify(entry) + '\n');
  }

  private replay(log: string): void {
    for (const line of log.split('\n')) {
      if (!line.trim()) continue;
      let entry: LogEntry;
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        continue; // a line cut short by a kill: everything before it is intact
      }
      if (entry.op === 'dedup') {
        this.deduplication.set(entry.key, { id: entry.id, at: entry.at });
        continue;
      }
      if (entry.op === 'put') {
        this.messages.set(entry.m.id, { ...entry.m });
        this.remember(entry.m);
        if (entry.m.sequenceNumber !== undefined && BigInt(entry.m.sequenceNumber) > this.sequence) this.sequence = BigInt(entry.m.sequenceNumber);
      } else if (entry.op === 'del') {
        this.messages.delete(entry.id);
      } else {
        const message = this.messages.get(entry.id);
        if (!message) continue;
        if (entry.op === 'recv') message.receiveCount = entry.receiveCount;
        message.visibleAt = entry.visibleAt;
      }
      if (entry.op === 'recv') this.inFlight.add(entry.id);
      else this.inFlight.delete(entry.op === 'put' ? entry.m.id : entry.id);
    }
  }
}
