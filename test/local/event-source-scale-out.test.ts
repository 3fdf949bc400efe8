import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { EventSourceOptions, LocalEventSource, SqsHandler } from '../../local/event-source';
import { QueueStore } from '../../local/queue-store';

/**
 * The local event source scales out as Lambda's does while messages wait: a batch held up by a
 * receiver that never answers no longer holds up the others (docs/architecture.md "Local
 * runtime"). Counted, not timed: what got processed while the held batches were still held.
 */

const QUEUE = 'events';
let dir: string;
let store: QueueStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-scale-out-'));
  store = new QueueStore(path.join(dir, 'queues.log'), [{ name: QUEUE, fifo: false }]);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const until = async (condition: () => boolean, what: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** Batches of one: `hang-*` bodies wait for `release`, the rest return at once. */
function scenario(options: Partial<EventSourceOptions>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const done: string[] = [];
  let held = 0;
  let instances = 0;
  const handler: SqsHandler = async (event: SQSEvent) => {
    const body = event.Records[0].body;
    if (body.startsWith('hang')) {
      held++;
      await released;
    }
    done.push(body);
    return { batchItemFailures: [] };
  };
  const source = new LocalEventSource(store, () => {
    instances++;
    return handler;
  }, {
    queue: QUEUE,
    queueArn: 'arn:aws:sqs:local:000000000000:events',
    batchSize: 1,
    visibilityTimeoutMs: 60_000,
    functionTimeoutMs: 30_000,
    concurrency: 2,
    pollIntervalMs: 5,
    ...options,
  });
  return { source, release, done, held: () => held, instances: () => instances };
}

test('with scale-out: four batches held by a receiver, the twenty others are processed meanwhile, in extra instances up to the maximum', async () => {
  for (let i = 0; i < 4; i++) store.send(QUEUE, `hang-${i}`);
  for (let i = 0; i < 20; i++) store.send(QUEUE, `quick-${i}`);
  const s = scenario({ scaleOut: { afterMs: 30, maxConcurrency: 8 } });
  s.source.start();
  try {
    await until(() => s.done.length === 20, 'the quick batches');
    expect(s.held()).toBe(4);
    expect(s.done.every((b) => b.startsWith('quick'))).toBe(true);
    // 4 held + 2 working at most: never more instances than batches in flight, never over the maximum.
    expect(s.instances()).toBeLessThanOrEqual(6);
  } finally {
    s.release();
    await s.source.stop();
  }
  expect(s.done).toHaveLength(24);
});

test('the maximum holds: with every allowed batch held, nothing else is received', async () => {
  for (let i = 0; i < 5; i++) store.send(QUEUE, `hang-${i}`);
  store.send(QUEUE, 'quick-0');
  const s = scenario({ scaleOut: { afterMs: 10, maxConcurrency: 3 } });
  s.source.start();
  try {
    await until(() => s.held() === 3, 'three held batches');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.held()).toBe(3);
    expect(s.done).toEqual([]);
    expect(s.instances()).toBe(3);
    s.release();
    await until(() => s.done.length === 6, 'the rest, once released');
  } finally {
    s.release();
    await s.source.stop();
  }
});

test('without scale-out (as before): the held batches take every instance and the rest waits', async () => {
  for (let i = 0; i < 2; i++) store.send(QUEUE, `hang-${i}`);
  store.send(QUEUE, 'quick-0');
  const s = scenario({});
  s.source.start();
  try {
    await until(() => s.held() === 2, 'two held batches');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.done).toEqual([]);
    s.release();
    await until(() => s.done.length === 3, 'the rest, once released');
  } finally {
    s.release();
    await s.source.stop();
  }
});
