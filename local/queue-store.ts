import { randomUUID } from 'node:crypto';
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
  | { readonly op: 'recv'; readonly id: string; readonly receiveCount: number; readonly visibleAt: number }
  | { readonly op: 'vis'; readonly id: string; readonly visibleAt: number }
  | { readonly op: 'del'; readonly id: string };

export interface QueueDefinition {
  readonly name: string;
  readonly fifo: boolean;
  /** Where messages go after `maxReceiveCount` receives. */
  readonly deadLetterQueue?: string;
  readonly maxReceiveCount?: number;
}

/**
 * Local stand-in for SQS queues, kept in one append-only log file so that stopping (or killing)
 * the runtime loses no accepted message and no pending retry: every change is appended before
 * it is acknowledged, and the log is replayed and compacted at start.
 */
export class QueueStore {
  private readonly messages = new Map<string, QueueMessage>();
  private readonly queues = new Map<string, QueueDefinition>();
  /** Messages hidden by a receive (in flight), not by a visibility change. */
  private readonly inFlight = new Set<string>();
  private readonly fd: number;

  constructor(file: string, definitions: readonly QueueDefinition[], private readonly now: () => number = Date.now) {
    for (const d of definitions) this.queues.set(d.name, d);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (fs.existsSync(file)) this.replay(fs.readFileSync(file, 'utf8'));
    // Compact: rewrite the live messages (and which are in flight), then keep appending.
    const compacted = [...this.messages.values()].map((m) => JSON.stringify({ op: 'put', m }) + '\n'
      + (this.inFlight.has(m.id) ? JSON.stringify({ op: 'recv', id: m.id, receiveCount: m.receiveCount, visibleAt: m.visibleAt }) + '\n' : '')).join('');
    fs.writeFileSync(file + '.tmp', compacted);
    fs.renameSync(file + '.tmp', file);
    this.fd = fs.openSync(file, 'a');
  }

  public hasQueue(name: string): boolean {
    return this.queues.has(name);
  }

  public send(queue: string, body: string, attributes?: Record<string, MessageAttribute>, groupId?: string): QueueMessage {
    const message: QueueMessage = {
      id: randomUUID(),
      queue,
      body,
      ...(attributes ? { attributes } : {}),
      ...(groupId ? { groupId } : {}),
      sentAt: this.now(),
      receiveCount: 0,
      visibleAt: 0,
    };
    this.append({ op: 'put', m: message });
    this.messages.set(message.id, message);
    return message;
  }

  /**
   * Receives up to `max` visible messages, oldest first, hiding them for `visibilityMs`.
   * Messages already received `maxReceiveCount` times move to the dead-letter queue instead.
   * FIFO: a message group with a message in flight yields nothing, which keeps groups in order.
   */
  public receive(queue: string, max: number, visibilityMs: number): ReceivedMessage[] {
    const now = this.now();
    const definition = this.queues.get(queue);
    const candidates = [...this.messages.values()].filter((m) => m.queue === queue).sort((a, b) => a.sentAt - b.sentAt);
    const busyGroups = new Set(definition?.fifo ? candidates.filter((m) => m.visibleAt > now && m.receiveCount > 0).map((m) => m.groupId) : []);
    const received: ReceivedMessage[] = [];
    for (const message of candidates) {
      if (received.length >= max) break;
      if (message.visibleAt > now || (definition?.fifo && busyGroups.has(message.groupId))) continue;
      if (definition?.deadLetterQueue && definition.maxReceiveCount !== undefined && message.receiveCount >= definition.maxReceiveCount) {
        this.moveTo(message, definition.deadLetterQueue);
        continue;
      }
      message.receiveCount += 1;
      message.visibleAt = now + visibilityMs;
      this.append({ op: 'recv', id: message.id, receiveCount: message.receiveCount, visibleAt: message.visibleAt });
      this.inFlight.add(message.id);
      if (definition?.fifo) busyGroups.add(message.groupId);
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

  private moveTo(message: QueueMessage, queue: string): void {
    this.remove(message.id);
    this.send(queue, message.body, message.attributes ? { ...message.attributes } : undefined, message.groupId);
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
      if (entry.op === 'put') {this.messages.set(entry.m.id, { ...entry.m });} else if (entry.op === 'del') {this.messages.delete(entry.id);} else {
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
