import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { EventSourceOptions, FunctionLoader, LocalEventSource, SqsHandler } from '../local/event-source';
import { QueueDefinition, QueueMessage, QueueStore } from '../local/queue-store';

/*
 * The local stand-in for SQS (local/queue-store.ts) and for the SQS → Lambda event source
 * mapping (local/event-source.ts): SQS semantics, and nothing accepted is lost across a restart.
 */

const MAIN = 'main';
const DLQ = 'main-dlq';
const FIFO = 'ordered.fifo';
const DEFINITIONS: QueueDefinition[] = [
  { name: MAIN, fifo: false, deadLetterQueue: DLQ, maxReceiveCount: 3 },
  { name: DLQ, fifo: false },
  { name: FIFO, fifo: true },
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

  test('FIFO: groups in order, one message in flight per group', () => {
    const store = openStore();
    for (const [group, body] of [['g1', 'a1'], ['g1', 'a2'], ['g2', 'b1'], ['g1', 'a3'], ['g2', 'b2']]) {
      store.send(FIFO, body, undefined, group);
      clock.advance(1);
    }
    const first = store.receive(FIFO, 10, 10_000);
    expect(bodies(first)).toEqual(['a1', 'b1']);
    // Both groups are busy: nothing more, however many are asked for.
    expect(store.receive(FIFO, 10, 10_000)).toEqual([]);

    // g1's head is done: its next message comes; g2 is still busy.
    expect(store.delete(first[0].receiptHandle)).toBe(true);
    const second = store.receive(FIFO, 10, 10_000);
    expect(bodies(second)).toEqual(['a2']);

    // g2's head failed and comes back: it is redelivered before b2, never overtaken by it.
    expect(store.changeVisibility(first[1].receiptHandle, 5)).toBe(true);
    expect(store.receive(FIFO, 10, 10_000)).toEqual([]);
    clock.advance(5_000);
    const third = store.receive(FIFO, 10, 10_000);
    expect(third.map((r) => [r.message.body, r.message.receiveCount])).toEqual([['b1', 2]]);

    // Finish everything in order and collect the delivery order per group.
    const order: string[] = [...bodies(first), ...bodies(second), ...bodies(third)];
    let pending = [...second, ...third];
    for (let round = 0; round < 10 && pending.length > 0; round++) {
      for (const r of pending) expect(store.delete(r.receiptHandle)).toBe(true);
      pending = store.receive(FIFO, 10, 10_000);
      order.push(...bodies(pending));
    }
    expect(store.list(FIFO)).toEqual([]);
    expect(order.filter((b) => b.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(order.filter((b) => b.startsWith('b'))).toEqual(['b1', 'b1', 'b2']);
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
