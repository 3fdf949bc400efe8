import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { EventSourceOptions, FunctionLoader, LocalEventSource, SqsHandler } from '../../local/event-source';
import { DEDUPLICATION_WINDOW_MS, QueueDefinition, QueueMessage, QueueSendError, QueueStore } from '../../local/queue-store';

/*
 * The local stand-in for SQS (local/queue-store.ts) and for the SQS → Lambda event source
 * mapping (local/event-source.ts): SQS semantics, and nothing accepted is lost across a restart.
 */

const MAIN = 'main';
const DLQ = 'main-dlq';
const FIFO = 'ordered.fifo';
/** FIFO as the construct deploys the events queue: explicit deduplication ids, per message group. */
const EVENTS_FIFO = 'events.fifo';
const EVENTS_FIFO_DLQ = 'events-dlq.fifo';
const DEFINITIONS: QueueDefinition[] = [
  { name: MAIN, fifo: false, deadLetterQueue: DLQ, maxReceiveCount: 3 },
  { name: DLQ, fifo: false },
  { name: FIFO, fifo: true, contentBasedDeduplication: true },
  { name: EVENTS_FIFO, fifo: true, deduplicationScope: 'messageGroup', deadLetterQueue: EVENTS_FIFO_DLQ, maxReceiveCount: 2 },
  { name: EVENTS_FIFO_DLQ, fifo: true },
];

/** A clock the test moves by hand. */
class Clock {
  constructor(public ms = 1_700_000_000_000) {}
  public readonly now = () => this.ms;
  public advance(ms: number): void {
    this.ms += ms;
  }
}

let dir: string;
let file: string;
let clock: Clock;
const open: QueueStore[] = [];

/** A store on the test's log file (closed after the test). */
function openStore(now: () => number = clock.now): QueueStore {
  const store = new QueueStore(file, DEFINITIONS, now);
  open.push(store);
  return store;
}

function closeStore(store: QueueStore): void {
  store.close();
  open.splice(open.indexOf(store), 1);
}

/** What a restart must keep of a message. */
const snapshot = (messages: QueueMessage[]) => messages.map((m) => ({ ...m }));
const bodies = (received: { message: QueueMessage }[]) => received.map((r) => r.message.body);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-queue-store-'));
  file = path.join(dir, 'queues.log');
  clock = new Clock();
});

afterEach(() => {
  for (const store of open.splice(0)) store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('QueueStore: SQS semantics', () => {
  test('send and receive: oldest first, up to max, each received once while hidden', () => {
    const store = openStore();
    for (const body of ['a', 'b', 'c']) {
      store.send(MAIN, body, { kind: { DataType: 'String', StringValue: body.toUpperCase() } });
      clock.advance(1);
    }
    const first = store.receive(MAIN, 2, 30_000);
    expect(bodies(first)).toEqual(['a', 'b']);
    expect(first.map((r) => r.message.receiveCount)).toEqual([1, 1]);
    expect(first[0].message.attributes).toEqual({ kind: { DataType: 'String', StringValue: 'A' } });
    expect(new Set(first.map((r) => r.receiptHandle)).size).toBe(2);
    expect(bodies(store.receive(MAIN, 10, 30_000))).toEqual(['c']);
    expect(store.receive(MAIN, 10, 30_000)).toEqual([]);
    // Other queues are not affected.
    expect(store.receive(DLQ, 10, 30_000)).toEqual([]);
    expect(store.list(MAIN)).toHaveLength(3);
  });

  test('receive hides a message for the visibility timeout, then it comes back with a new receipt handle', () => {
    const store = openStore();
    store.send(MAIN, 'a');
    const [first] = store.receive(MAIN, 1, 5_000);
    expect(first.message.visibleAt).toBe(clock.ms + 5_000);

    clock.advance(4_999);
    expect(store.receive(MAIN, 1, 5_000)).toEqual([]);
    clock.advance(1);
    const [second] = store.receive(MAIN, 1, 5_000);
    expect(second.message.body).toBe('a');
    expect(second.message.receiveCount).toBe(2);
    expect(second.receiptHandle).not.toBe(first.receiptHandle);
  });

  test('delete removes a received message for good', () => {
    const store = openStore();
    store.send(MAIN, 'a');
    store.send(MAIN, 'b');
    const [a] = store.receive(MAIN, 1, 1_000);
    expect(store.delete(a.receiptHandle)).toBe(true);
    clock.advance(10_000);
    expect(bodies(store.receive(MAIN, 10, 1_000))).toEqual(['b']);
    expect(store.list(MAIN).map((m) => m.body)).toEqual(['b']);
  });

  test('changeVisibility moves the time a message comes back (0: at once)', () => {
    const store = openStore();
    store.send(MAIN, 'a');
    const [a] = store.receive(MAIN, 1, 60_000);
    expect(store.changeVisibility(a.receiptHandle, 2)).toBe(true);
    clock.advance(1_999);
    expect(store.receive(MAIN, 1, 60_000)).toEqual([]);
    clock.advance(1);
    const [again] = store.receive(MAIN, 1, 60_000);
    expect(again.message.receiveCount).toBe(2);
    expect(store.changeVisibility(again.receiptHandle, 0)).toBe(true);
    expect(bodies(store.receive(MAIN, 1, 60_000))).toEqual(['a']);
  });

  test('a stale receipt handle (the message was received again, or deleted) is rejected and changes nothing', () => {
    const store = openStore();
    store.send(MAIN, 'a');
    const [first] = store.receive(MAIN, 1, 1_000);
    clock.advance(1_000);
    const [second] = store.receive(MAIN, 1, 1_000);

    expect(store.delete(first.receiptHandle)).toBe(false);
    expect(store.changeVisibility(first.receiptHandle, 0)).toBe(false);
    expect(store.list(MAIN)).toHaveLength(1);
    expect(store.list(MAIN)[0].visibleAt).toBe(clock.ms + 1_000);

    expect(store.delete('not-a-handle')).toBe(false);
    expect(store.delete(`${second.message.id}:7`)).toBe(false);
    expect(store.delete(second.receiptHandle)).toBe(true);
    expect(store.delete(second.receiptHandle)).toBe(false);
    expect(store.changeVisibility(second.receiptHandle, 0)).toBe(false);
    expect(store.list(MAIN)).toEqual([]);
  });

  test('after maxReceiveCount receives a message moves to the dead-letter queue, body, attributes and group intact', () => {
    const store = openStore();
    store.send(MAIN, 'poison', { reason: { DataType: 'String', StringValue: 'x' } });
    store.send(MAIN, 'fine');
    for (let receive = 1; receive <= 3; receive++) {
      const got = store.receive(MAIN, 1, 1_000);
      expect(got.map((r) => [r.message.body, r.message.receiveCount])).toEqual([['poison', receive]]);
      clock.advance(1_000);
    }
    // The fourth receive finds it used up: it moves instead of being delivered a fourth time.
    expect(bodies(store.receive(MAIN, 1, 1_000))).toEqual(['fine']);
    expect(store.list(MAIN).map((m) => m.body)).toEqual(['fine']);
    const [dead] = store.list(DLQ);
    expect(dead).toEqual(expect.objectContaining({ queue: DLQ, body: 'poison', receiveCount: 0, attributes: { reason: { DataType: 'String', StringValue: 'x' } } }));
    expect(bodies(store.receive(DLQ, 10, 1_000))).toEqual(['poison']);
  });

  test('moveAll puts dead letters back on the queue (StartMessageMoveTask)', () => {
    const store = openStore();
    store.send(DLQ, 'one');
    store.send(DLQ, 'two');
    expect(store.moveAll(DLQ, MAIN)).toBe(2);
    expect(store.list(DLQ)).toEqual([]);
    expect(bodies(store.receive(MAIN, 10, 1_000))).toEqual(['one', 'two']);
  });

  test('FIFO: a batch takes one group\'s messages in order before the next; a group with a message in flight or hidden yields nothing', () => {
    const store = openStore();
    for (const [group, body] of [['g1', 'a1'], ['g1', 'a2'], ['g2', 'b1'], ['g1', 'a3'], ['g2', 'b2']]) {
      store.send(FIFO, body, undefined, group);
      clock.advance(1);
    }
    // As SQS: as many of one group as fit (the group whose oldest message is oldest), in order.
    const first = store.receive(FIFO, 2, 10_000);
    expect(bodies(first)).toEqual(['a1', 'a2']);
    // g1 has messages in flight: its a3 waits; g2 proceeds.
    const second = store.receive(FIFO, 10, 10_000);
    expect(bodies(second)).toEqual(['b1', 'b2']);
    // Both groups are busy: nothing more, however many are asked for.
    expect(store.receive(FIFO, 10, 10_000)).toEqual([]);

    // g1 is busy until all of its messages in flight are done.
    expect(store.delete(first[0].receiptHandle)).toBe(true);
    expect(store.receive(FIFO, 10, 10_000)).toEqual([]);
    expect(store.delete(first[1].receiptHandle)).toBe(true);
    const third = store.receive(FIFO, 10, 10_000);
    expect(bodies(third)).toEqual(['a3']);

    // g2's head failed and is hidden for a retry in 5 s; b2 (skipped) is made visible at once:
    // the group stays held back by b1, and b2 never overtakes it.
    expect(store.changeVisibility(second[0].receiptHandle, 5)).toBe(true);
    expect(store.changeVisibility(second[1].receiptHandle, 0)).toBe(true);
    expect(store.receive(FIFO, 10, 10_000)).toEqual([]);
    clock.advance(5_000);
    const fourth = store.receive(FIFO, 10, 10_000);
    expect(fourth.map((r) => [r.message.body, r.message.receiveCount])).toEqual([['b1', 2], ['b2', 2]]);

    // Finish everything and collect the order per group.
    const order: string[] = [...bodies(first), ...bodies(second), ...bodies(third), ...bodies(fourth)];
    let pending = [...third, ...fourth];
    for (let round = 0; round < 10 && pending.length > 0; round++) {
      for (const r of pending) expect(store.delete(r.receiptHandle)).toBe(true);
      pending = store.receive(FIFO, 10, 10_000);
      order.push(...bodies(pending));
    }
    expect(store.list(FIFO)).toEqual([]);
    expect(order.filter((b) => b.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(order.filter((b) => b.startsWith('b'))).toEqual(['b1', 'b2', 'b1', 'b2']);
  });

  test('FIFO: receive leaves out the groups it is told to (a consumer\'s batches still in progress)', () => {
    const store = openStore();
    for (const [group, body] of [['g1', 'a1'], ['g2', 'b1'], ['g3', 'c1']]) store.send(FIFO, body, undefined, group);
    expect(bodies(store.receive(FIFO, 10, 10_000, new Set(['g1', 'g3'])))).toEqual(['b1']);
    expect(bodies(store.receive(FIFO, 10, 10_000, new Set(['g1'])))).toEqual(['c1']);
    expect(bodies(store.receive(FIFO, 10, 10_000))).toEqual(['a1']);
    // Standard queues have no groups to hold back.
    store.send(MAIN, 'm', undefined, 'g1');
    expect(bodies(store.receive(MAIN, 10, 10_000, new Set(['g1'])))).toEqual(['m']);
  });

  test('FIFO: after maxReceiveCount the head moves to the dead-letter queue with its group, and the group goes on', () => {
    const store = openStore();
    store.send(EVENTS_FIFO, 'head', undefined, 'g', 'd-head');
    store.send(EVENTS_FIFO, 'next', undefined, 'g', 'd-next');
    for (let receive = 1; receive <= 2; receive++) {
      expect(bodies(store.receive(EVENTS_FIFO, 1, 1_000))).toEqual(['head']);
      clock.advance(1_000);
    }
    expect(bodies(store.receive(EVENTS_FIFO, 10, 1_000))).toEqual(['next']);
    expect(store.list(EVENTS_FIFO_DLQ)).toEqual([expect.objectContaining({ body: 'head', groupId: 'g', deduplicationId: 'd-head', receiveCount: 0 })]);
  });

  test('FIFO: a deduplication id sent again within 5 minutes adds nothing and answers with the first message, consumed or not', () => {
    const store = openStore();
    const first = store.send(EVENTS_FIFO, 'one', undefined, 'g1', 'evt_1');
    expect(first.sequenceNumber).toMatch(/^\d{20}$/);
    clock.advance(60_000);
    expect(store.send(EVENTS_FIFO, 'one again', undefined, 'g1', 'evt_1').id).toBe(first.id);
    expect(store.list(EVENTS_FIFO).map((m) => m.body)).toEqual(['one']);
    // Consumed: still deduplicated for the rest of the window.
    const [received] = store.receive(EVENTS_FIFO, 10, 1_000);
    expect(store.delete(received.receiptHandle)).toBe(true);
    clock.advance(DEDUPLICATION_WINDOW_MS - 60_001);
    expect(store.send(EVENTS_FIFO, 'one, late', undefined, 'g1', 'evt_1').id).toBe(first.id);
    expect(store.list(EVENTS_FIFO)).toEqual([]);
    // Five minutes after the first send it is a new message.
    clock.advance(1);
    const later = store.send(EVENTS_FIFO, 'one, after the window', undefined, 'g1', 'evt_1');
    expect(later.id).not.toBe(first.id);
    expect(BigInt(later.sequenceNumber!)).toBeGreaterThan(BigInt(first.sequenceNumber!));
    expect(store.list(EVENTS_FIFO).map((m) => m.body)).toEqual(['one, after the window']);

    // Scope: per message group on the events queue (as deployed), per queue by default.
    expect(store.send(EVENTS_FIFO, 'other group', undefined, 'g2', 'evt_1').id).not.toBe(later.id);
    const q1 = store.send(FIFO, 'x', undefined, 'g1', 'same');
    expect(store.send(FIFO, 'y', undefined, 'g2', 'same').id).toBe(q1.id);
    // Content-based: the body's hash is the deduplication id.
    const c = store.send(FIFO, 'same body', undefined, 'g1');
    expect(store.send(FIFO, 'same body', undefined, 'g1').id).toBe(c.id);
    expect(store.list(FIFO).map((m) => m.body)).toEqual(['x', 'same body']);
  });

  test('FIFO: what SQS refuses is refused; a FIFO queue\'s name ends with .fifo', () => {
    const store = openStore();
    expect(() => store.send(EVENTS_FIFO, 'x')).toThrow(new QueueSendError('MissingParameter', 'The request must contain the parameter MessageGroupId.'));
    expect(() => store.send(EVENTS_FIFO, 'x', undefined, 'g')).toThrow(expect.objectContaining({ code: 'InvalidParameterValue' }));
    expect(() => store.send(MAIN, 'x', undefined, undefined, 'dedup')).toThrow(expect.objectContaining({ code: 'InvalidParameterValue' }));
    expect(store.list(EVENTS_FIFO)).toEqual([]);
    expect(() => new QueueStore(path.join(dir, 'other.log'), [{ name: 'ordered', fifo: true }])).toThrow(/ends with \.fifo/);
    expect(() => new QueueStore(path.join(dir, 'other.log'), [{ name: 'plain.fifo', fifo: false }])).toThrow(/ends with \.fifo/);
  });
});

describe('QueueStore: persistence', () => {
  /**
   * Messages in every state: dead-lettered, received twice (in flight), received once (in flight),
   * hidden for a retry, deleted, never received; and one FIFO message in flight.
   */
  function populate(store: QueueStore): void {
    for (const body of ['poison', 'received-twice', 'in-flight', 'retry-later', 'deleted', 'new']) {
      store.send(MAIN, body, { body: { DataType: 'String', StringValue: body } });
      clock.advance(1);
    }
    store.send(FIFO, 'grouped', undefined, 'g1');
    // poison: received maxReceiveCount (3) times, then the next receive moves it to the DLQ.
    for (let i = 1; i <= 3; i++) expect(store.receive(MAIN, 1, 0).map((r) => [r.message.body, r.message.receiveCount])).toEqual([['poison', i]]);
    expect(bodies(store.receive(MAIN, 1, 0))).toEqual(['received-twice']);
    expect(store.list(DLQ).map((m) => m.body)).toEqual(['poison']);
    expect(store.receive(MAIN, 1, 50_000).map((r) => [r.message.body, r.message.receiveCount])).toEqual([['received-twice', 2]]);
    const received = store.receive(MAIN, 3, 60_000);
    expect(bodies(received)).toEqual(['in-flight', 'retry-later', 'deleted']);
    expect(store.changeVisibility(received[1].receiptHandle, 120)).toBe(true);
    expect(store.delete(received[2].receiptHandle)).toBe(true);
    expect(bodies(store.receive(FIFO, 10, 10_000))).toEqual(['grouped']);
    clock.advance(10);
  }

  const everything = (store: QueueStore) => ({ main: snapshot(store.list(MAIN)), dlq: snapshot(store.list(DLQ)), fifo: snapshot(store.list(FIFO)) });

  test('after a clean close a new store has the same messages, receive counts and visibility', () => {
    const store = openStore();
    populate(store);
    const before = everything(store);
    expect(before.main.map((m) => [m.body, m.receiveCount])).toEqual([['received-twice', 2], ['in-flight', 1], ['retry-later', 1], ['new', 0]]);
    closeStore(store);

    const reopened = openStore();
    expect(everything(reopened)).toEqual(before);
    // And they behave the same: only the visible one is received; the FIFO group is still busy.
    expect(bodies(reopened.receive(MAIN, 10, 1_000))).toEqual(['new']);
    expect(reopened.receive(FIFO, 10, 1_000)).toEqual([]);
    clock.advance(120_000);
    expect(bodies(reopened.receive(MAIN, 10, 1_000))).toEqual(['received-twice', 'in-flight', 'retry-later', 'new']);
  });

  test('after a kill (the last log line cut short) a new store has what was written before it', () => {
    const store = openStore();
    populate(store);
    const before = everything(store);
    // The process dies in the middle of writing a line: no close, no newline.
    const newest = store.list(MAIN).find((m) => m.body === 'new')!;
    fs.appendFileSync(file, JSON.stringify({ op: 'del', id: newest.id }).slice(0, 30));
    open.splice(open.indexOf(store), 1); // abandoned, as a killed process leaves it

    const reopened = openStore();
    store.close();
    expect(everything(reopened)).toEqual(before);

    // The cut line is gone for good: what the new store writes survives the next restart.
    const [fresh] = reopened.receive(MAIN, 1, 1_000);
    expect(fresh.message.body).toBe('new');
    expect(reopened.delete(fresh.receiptHandle)).toBe(true);
    closeStore(reopened);
    const third = openStore();
    expect(third.list(MAIN).map((m) => [m.body, m.receiveCount])).toEqual([['received-twice', 2], ['in-flight', 1], ['retry-later', 1]]);
    expect(snapshot(third.list(MAIN))).toEqual(before.main.filter((m) => m.body !== 'new'));
  });

  test('a cut-short receive is as if it never happened: the message keeps its old count and visibility', () => {
    const store = openStore();
    const message = store.send(MAIN, 'a');
    const before = snapshot(store.list(MAIN));
    fs.appendFileSync(file, JSON.stringify({ op: 'recv', id: message.id, receiveCount: 1, visibleAt: clock.ms + 60_000 }).slice(0, -3));
    open.splice(open.indexOf(store), 1);
    const reopened = openStore();
    store.close();
    expect(snapshot(reopened.list(MAIN))).toEqual(before);
    expect(reopened.receive(MAIN, 1, 1_000)[0].message.receiveCount).toBe(1);
  });

  test('receipt handles stay valid across a restart (as in SQS)', () => {
    const store = openStore();
    store.send(MAIN, 'a');
    const [a] = store.receive(MAIN, 1, 60_000);
    closeStore(store);
    const reopened = openStore();
    expect(reopened.changeVisibility(a.receiptHandle, 0)).toBe(true);
    expect(reopened.delete(a.receiptHandle)).toBe(true);
    expect(reopened.list(MAIN)).toEqual([]);
  });

  test('FIFO deduplication ids survive a kill and restarts (also once their message is consumed) until their window ends', () => {
    const store = openStore();
    const a = store.send(EVENTS_FIFO, 'a', undefined, 'g1', 'evt_a');
    const b = store.send(EVENTS_FIFO, 'b', undefined, 'g1', 'evt_b');
    const [received] = store.receive(EVENTS_FIFO, 1, 1_000);
    expect(store.delete(received.receiptHandle)).toBe(true); // a consumed
    open.splice(open.indexOf(store), 1); // killed

    clock.advance(60_000);
    const reopened = openStore();
    store.close();
    expect(reopened.send(EVENTS_FIFO, 'a again', undefined, 'g1', 'evt_a').id).toBe(a.id);
    expect(reopened.send(EVENTS_FIFO, 'b again', undefined, 'g1', 'evt_b').id).toBe(b.id);
    expect(reopened.list(EVENTS_FIFO).map((m) => m.body)).toEqual(['b']);
    // Sequence numbers go on increasing across the restart.
    const c = reopened.send(EVENTS_FIFO, 'c', undefined, 'g1', 'evt_c');
    expect(BigInt(c.sequenceNumber!)).toBeGreaterThan(BigInt(b.sequenceNumber!));
    closeStore(reopened);

    // Compacted twice: the consumed message's id is kept on its own line, then dropped with its window.
    const again = openStore();
    expect(again.send(EVENTS_FIFO, 'a, third time', undefined, 'g1', 'evt_a').id).toBe(a.id);
    closeStore(again);
    expect(fs.readFileSync(file, 'utf8')).toContain('"op":"dedup"');
    clock.advance(DEDUPLICATION_WINDOW_MS);
    const expired = openStore();
    expect(fs.readFileSync(file, 'utf8')).not.toContain('"op":"dedup"');
    expect(expired.send(EVENTS_FIFO, 'a, much later', undefined, 'g1', 'evt_a').id).not.toBe(a.id);
    expect(expired.list(EVENTS_FIFO).map((m) => m.body)).toEqual(['b', 'c', 'a, much later']);
  });

  test('releaseInFlight: what a killed consumer had received comes back at once; retries keep their time', () => {
    const store = openStore();
    store.send(MAIN, 'in-flight');
    store.send(MAIN, 'retry-later');
    store.send(MAIN, 'done');
    store.send(DLQ, 'dlq-in-flight');
    const received = store.receive(MAIN, 10, 360_000);
    const handle = (body: string) => received.find((r) => r.message.body === body)!.receiptHandle;
    expect(store.changeVisibility(handle('retry-later'), 30)).toBe(true);
    expect(store.delete(handle('done'))).toBe(true);
    store.receive(DLQ, 10, 360_000);
    // Killed: reopened twice (compaction must keep what was in flight), then released.
    open.splice(open.indexOf(store), 1);
    const second = openStore();
    store.close();
    closeStore(second);
    const reopened = openStore();

    expect(reopened.releaseInFlight(MAIN)).toBe(1);
    const main = new Map(reopened.list(MAIN).map((m) => [m.body, m]));
    expect(main.get('in-flight')).toEqual(expect.objectContaining({ visibleAt: clock.ms, receiveCount: 1 }));
    expect(main.get('retry-later')).toEqual(expect.objectContaining({ visibleAt: clock.ms + 30_000, receiveCount: 1 }));
    expect(main.has('done')).toBe(false);
    // Only the queue asked for.
    expect(reopened.list(DLQ)[0].visibleAt).toBe(clock.ms + 360_000);
    // Released once: a second call finds nothing.
    expect(reopened.releaseInFlight(MAIN)).toBe(0);
    expect(bodies(reopened.receive(MAIN, 10, 1_000))).toEqual(['in-flight']);
    // Received again and killed again: the new receive is what a restart releases.
    open.splice(open.indexOf(reopened), 1);
    const last = openStore();
    reopened.close();
    expect(last.list(MAIN).find((m) => m.body === 'in-flight')?.receiveCount).toBe(2);
    expect(last.releaseInFlight(MAIN)).toBe(1);
    expect(bodies(last.receive(MAIN, 10, 1_000))).toEqual(['in-flight']);
  });
});

describe('LocalEventSource: the SQS event source mapping', () => {
  type Invocation = { event: SQSEvent; context: Context };

  /** An event source whose every function instance is `handler` (or each a new one from a loader). */
  function eventSource(
    store: QueueStore, handler: SqsHandler | { load: FunctionLoader }, options: Partial<EventSourceOptions> = {},
  ): LocalEventSource {
    return new LocalEventSource(store, typeof handler === 'function' ? () => handler : handler.load, {
      queue: MAIN,
      queueArn: 'arn:aws:sqs:local:000000000000:main',
      batchSize: 10,
      visibilityTimeoutMs: 60_000,
      functionTimeoutMs: 30_000,
      concurrency: 1,
      pollIntervalMs: 5,
      ...options,
    });
  }

  /** Waits until `condition` holds (polling), or fails with `what`. */
  async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  // The event source works in real time: so does the store here.
  const openRealTimeStore = () => openStore(Date.now);

  test('invokes the function with SQS records and deletes what succeeded', async () => {
    const store = openRealTimeStore();
    const sent = ['a', 'b', 'c'].map((body) => store.send(MAIN, body));
    const invocations: Invocation[] = [];
    const source = eventSource(store, async (event, context) => {
      invocations.push({ event, context });
      return { batchItemFailures: [] };
    });
    source.start();
    try {
      await until(() => store.list(MAIN).length === 0, 'the batch to be deleted');
    } finally {
      await source.stop();
    }
    expect(invocations).toHaveLength(1);
    const [{ event, context }] = invocations;
    expect(event.Records.map((r) => r.body)).toEqual(['a', 'b', 'c']);
    expect(event.Records.map((r) => r.messageId)).toEqual(sent.map((m) => m.id));
    for (const record of event.Records) {
      expect(record).toEqual(expect.objectContaining({
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:local:000000000000:main',
        receiptHandle: expect.any(String),
        attributes: expect.objectContaining({ ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d+$/) }),
      }));
    }
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(30_000);
  });

  test('keeps the reported batchItemFailures on the queue (hidden for the visibility timeout) and deletes the rest', async () => {
    const store = openRealTimeStore();
    const [, b, , d] = ['a', 'b', 'c', 'd'].map((body) => store.send(MAIN, body));
    let calls = 0;
    const source = eventSource(store, async () => {
      calls++;
      return { batchItemFailures: [{ itemIdentifier: b.id }, { itemIdentifier: d.id }] } satisfies SQSBatchResponse;
    });
    source.start();
    try {
      await until(() => store.list(MAIN).length === 2, 'the successes to be deleted');
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await source.stop();
    }
    expect(calls).toBe(1);
    const left = store.list(MAIN);
    expect(left.map((m) => m.body)).toEqual(['b', 'd']);
    for (const m of left) {
      expect(m.receiveCount).toBe(1);
      expect(m.visibleAt).toBeGreaterThan(Date.now() + 50_000);
    }
  });

  test('keeps the whole batch when the function throws, and reports the error', async () => {
    const store = openRealTimeStore();
    for (const body of ['a', 'b', 'c']) store.send(MAIN, body);
    const errors: unknown[] = [];
    const source = eventSource(store, async () => {
      throw new Error('function crashed');
    }, { onError: (error) => errors.push(error) });
    source.start();
    try {
      await until(() => errors.length > 0, 'the failed invocation');
    } finally {
      await source.stop();
    }
    expect(errors).toEqual([expect.objectContaining({ message: 'function crashed' })]);
    expect(store.list(MAIN).map((m) => [m.body, m.receiveCount])).toEqual([['a', 1], ['b', 1], ['c', 1]]);
    expect(store.receive(MAIN, 10, 1_000)).toEqual([]);
  });

  test('failed records come back after their visibility timeout and, after maxReceiveCount receives, go to the dead-letter queue', async () => {
    const store = openRealTimeStore();
    const poison = store.send(MAIN, 'poison');
    store.send(MAIN, 'fine');
    const seen: string[] = [];
    const source = eventSource(store, async (event) => {
      seen.push(...event.Records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
      return { batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({ itemIdentifier: r.messageId })) };
    }, { visibilityTimeoutMs: 20 });
    source.start();
    try {
      await until(() => store.list(DLQ).length === 1, 'the poison message in the DLQ');
    } finally {
      await source.stop();
    }
    expect(seen).toEqual(['poison#1', 'fine#1', 'poison#2', 'poison#3']);
    expect(store.list(MAIN)).toEqual([]);
    expect(store.list(DLQ)[0].body).toBe(poison.body);
  });

  test('batches of at most batchSize, no more than `concurrency` invocations at once', async () => {
    const store = openRealTimeStore();
    for (let i = 0; i < 25; i++) store.send(MAIN, `m${i}`);
    const sizes: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const source = eventSource(store, async (event) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      sizes.push(event.Records.length);
      await new Promise((resolve) => setTimeout(resolve, 30));
      running--;
      return { batchItemFailures: [] };
    }, { batchSize: 10, concurrency: 2 });
    source.start();
    try {
      await until(() => store.list(MAIN).length === 0, 'every message to be processed');
    } finally {
      await source.stop();
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
    expect(Math.max(...sizes)).toBe(10);
    expect(maxRunning).toBe(2);
  });

  test('each batch runs in a function instance of its own: no instance runs two batches at once; at most `concurrency` instances, reused', async () => {
    const store = openRealTimeStore();
    for (let i = 0; i < 60; i++) store.send(MAIN, `m${i}`);
    let loads = 0;
    let running = 0;
    let maxRunning = 0;
    const overlaps: number[] = [];
    const batchesPerInstance: number[] = [];
    // Module state of one instance, as a bundle keeps it: whether it is handling a batch.
    const load: FunctionLoader = () => {
      const instance = loads++;
      batchesPerInstance[instance] = 0;
      let busy = false;
      return async () => {
        if (busy) overlaps.push(instance);
        busy = true;
        running++;
        maxRunning = Math.max(maxRunning, running);
        batchesPerInstance[instance]++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        busy = false;
        return { batchItemFailures: [] };
      };
    };
    const source = eventSource(store, { load }, { batchSize: 5, concurrency: 3 });
    source.start();
    // The first instance is loaded at start, before any batch (a function that cannot load fails there).
    expect(loads).toBe(1);
    try {
      await until(() => store.list(MAIN).length === 0, 'every message to be processed');
    } finally {
      await source.stop();
    }
    expect(overlaps).toEqual([]);
    expect(maxRunning).toBe(3);
    expect(loads).toBe(3);
    expect(source.instances).toBe(3);
    // 12 batches over 3 warm instances: each reused.
    expect(batchesPerInstance.reduce((a, b) => a + b, 0)).toBe(12);
    expect(batchesPerInstance.every((n) => n > 1)).toBe(true);
  });

  test('a function that cannot load fails start(); a later instance that cannot load is reported and its batch waits', async () => {
    const store = openRealTimeStore();
    expect(() => eventSource(store, { load: () => { throw new Error('bad bundle'); } }).start()).toThrow('bad bundle');

    for (let i = 0; i < 4; i++) store.send(MAIN, `m${i}`);
    let loads = 0;
    const errors: unknown[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const source = eventSource(store, {
      load: () => {
        if (loads++ > 0) throw new Error('out of memory');
        return async () => {
          await held;
          return { batchItemFailures: [] };
        };
      },
    }, { batchSize: 2, concurrency: 2, onError: (error) => errors.push(error) });
    source.start();
    try {
      await until(() => errors.length > 0, 'the failed load to be reported');
      // The second batch was never received: nothing is hidden without an instance to run it.
      expect(store.list(MAIN).map((m) => m.receiveCount)).toEqual([1, 1, 0, 0]);
      release();
      await until(() => store.list(MAIN).length === 0, 'the first instance to take the rest');
    } finally {
      release();
      await source.stop();
    }
    expect(errors[0]).toEqual(expect.objectContaining({ message: 'out of memory' }));
  });

  test('FIFO: records carry group, deduplication id and sequence number; a group in a batch in progress is in no other batch, other groups proceed', async () => {
    const store = openRealTimeStore();
    const a1 = store.send(EVENTS_FIFO, 'a1', undefined, 'g1', 'evt_a1');
    store.send(EVENTS_FIFO, 'b1', undefined, 'g2', 'evt_b1');
    const calls: { body: string; start: number; end?: number; attributes: Record<string, string | undefined> }[] = [];
    const source = eventSource(store, async (event) => {
      const [record] = event.Records;
      const call: (typeof calls)[number] = { body: record.body, start: Date.now(), attributes: { ...record.attributes } };
      calls.push(call);
      if (record.body === 'a1' && record.attributes.ApproximateReceiveCount === '1') {
        // Made visible again at once, while this batch still runs: still not in another batch.
        expect(store.changeVisibility(record.receiptHandle, 0)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 150));
        call.end = Date.now();
        return { batchItemFailures: [{ itemIdentifier: record.messageId }] };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      call.end = Date.now();
      return { batchItemFailures: [] };
    }, { queue: EVENTS_FIFO, batchSize: 1, concurrency: 3 });
    source.start();
    try {
      await until(() => store.list(EVENTS_FIFO).length === 0, 'both groups to be done');
    } finally {
      await source.stop();
    }
    expect(calls.map((c) => c.body)).toEqual(['a1', 'b1', 'a1']);
    const [firstA, b, secondA] = calls;
    // g2 ran while g1's first batch was in progress; g1's retry only after that batch was over.
    expect(b.start).toBeLessThan(firstA.end!);
    expect(secondA.start).toBeGreaterThanOrEqual(firstA.end!);
    expect(firstA.attributes).toEqual(expect.objectContaining({
      MessageGroupId: 'g1', MessageDeduplicationId: 'evt_a1', SequenceNumber: a1.sequenceNumber, ApproximateReceiveCount: '1',
    }));
    expect(secondA.attributes.ApproximateReceiveCount).toBe('2');
  });

  test('FIFO with retries (ChangeMessageVisibility) and concurrent batches: every group completes in order', async () => {
    const store = openRealTimeStore();
    const groups = ['g1', 'g2', 'g3'];
    for (let i = 1; i <= 6; i++) for (const g of groups) store.send(FIFO, `${g}:${i}`, undefined, g);
    const completed = new Map<string, string[]>(groups.map((g) => [g, []]));
    const attempted = new Set<string>();
    const inProgress = new Map<string, number>();
    const overlaps: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const source = eventSource(store, async (event) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      const mine = new Set(event.Records.map((r) => r.attributes.MessageGroupId!));
      for (const g of mine) {
        if (inProgress.get(g)) overlaps.push(g);
        inProgress.set(g, (inProgress.get(g) ?? 0) + 1);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      // As the processor does: a record's first attempt fails and is retried later; the records
      // after it in its group are left for then too (skipped, made visible again, not attempted).
      const failedGroups = new Set<string>();
      const failures: { itemIdentifier: string }[] = [];
      for (const r of event.Records) {
        const g = r.attributes.MessageGroupId!;
        if (failedGroups.has(g)) {
          store.changeVisibility(r.receiptHandle, 0);
          failures.push({ itemIdentifier: r.messageId });
        } else if (!attempted.has(r.body)) {
          attempted.add(r.body);
          store.changeVisibility(r.receiptHandle, 0.02);
          failedGroups.add(g);
          failures.push({ itemIdentifier: r.messageId });
        } else {
          completed.get(g)!.push(r.body);
        }
      }
      for (const g of mine) inProgress.set(g, inProgress.get(g)! - 1);
      running--;
      return { batchItemFailures: failures };
    }, { queue: FIFO, batchSize: 4, concurrency: 3, pollIntervalMs: 2 });
    source.start();
    try {
      await until(() => store.list(FIFO).length === 0, 'every message to be done', 10_000);
    } finally {
      await source.stop();
    }
    expect(overlaps).toEqual([]);
    for (const g of groups) expect(completed.get(g)).toEqual([1, 2, 3, 4, 5, 6].map((i) => `${g}:${i}`));
    expect(maxRunning).toBeGreaterThan(1);
    expect(attempted.size).toBe(18);
  });

  test('a handler that sets the visibility itself (retry later) is not overridden', async () => {
    const store = openRealTimeStore();
    store.send(MAIN, 'later');
    const source = eventSource(store, async (event) => {
      expect(store.changeVisibility(event.Records[0].receiptHandle, 3)).toBe(true);
      return { batchItemFailures: [{ itemIdentifier: event.Records[0].messageId }] };
    });
    source.start();
    try {
      await until(() => store.list(MAIN)[0]?.receiveCount === 1 && store.list(MAIN)[0].visibleAt < Date.now() + 10_000, 'the retry to be scheduled');
    } finally {
      await source.stop();
    }
    const [message] = store.list(MAIN);
    expect(message.visibleAt).toBeGreaterThan(Date.now() + 2_000);
    expect(message.visibleAt).toBeLessThanOrEqual(Date.now() + 3_000);
  });

  test('stop() waits for the batch in flight, then stops polling', async () => {
    const store = openRealTimeStore();
    store.send(MAIN, 'slow');
    let finished = false;
    let started = false;
    const source = eventSource(store, async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
      finished = true;
      return { batchItemFailures: [] };
    });
    source.start();
    await until(() => started, 'the invocation to start');
    await source.stop();
    expect(finished).toBe(true);
    expect(store.list(MAIN)).toEqual([]);
    // Nothing is received after stop().
    store.send(MAIN, 'after-stop');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.list(MAIN)[0].receiveCount).toBe(0);
  });

  test('polls at the poll interval however many batches it has run (one polling loop, not one per batch)', async () => {
    const store = openRealTimeStore();
    const source = eventSource(store, async () => ({ batchItemFailures: [] }), { batchSize: 1, pollIntervalMs: 20 });
    const receive = jest.spyOn(store, 'receive');
    source.start();
    try {
      for (let i = 0; i < 40; i++) {
        store.send(MAIN, `m${i}`);
        await until(() => store.list(MAIN).length === 0, `message ${i} to be processed`);
      }
      receive.mockClear();
      await new Promise((resolve) => setTimeout(resolve, 400));
    } finally {
      await source.stop();
    }
    // About 400 / 20 = 20 idle polls; each finished batch must not add a polling loop of its own.
    expect(receive.mock.calls.length).toBeGreaterThan(5);
    expect(receive.mock.calls.length).toBeLessThan(40);
  });
});
