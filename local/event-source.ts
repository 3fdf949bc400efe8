import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { QueueStore } from './queue-store';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

/**
 * Loads a new instance of the function, as Lambda starts a new execution environment: its own
 * module state, shared with no other instance.
 */
export type FunctionLoader = () => SqsHandler;

export interface EventSourceOptions {
  readonly queue: string;
  readonly queueArn: string;
  readonly batchSize: number;
  /** Visibility timeout of a received batch (the queue's setting in AWS). */
  readonly visibilityTimeoutMs: number;
  /** The function's time limit, reported through getRemainingTimeInMillis. */
  readonly functionTimeoutMs: number;
  /** Batches in flight at once (Lambda's concurrency): as many function instances at most (but see `scaleOut`). */
  readonly concurrency: number;
  /**
   * Lambda adds instances while messages wait (the SQS event source mapping scales out by up to
   * 300 instances a minute), so a batch held up by a receiver that does not answer does not hold
   * up the others. Locally `concurrency` batches run at once, keeping the CPU for the work; a
   * batch that has run for `afterMs` — waiting on the network: everything local answers in
   * milliseconds — no longer counts towards it, up to `maxConcurrency` batches in flight.
   */
  readonly scaleOut?: { readonly afterMs: number; readonly maxConcurrency: number };
  readonly pollIntervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * Behaves like the SQS event source mapping: receives batches, invokes the function, deletes
 * what succeeded and leaves the reported batch item failures (and everything, if the function
 * throws) to come back after their visibility timeout; maxReceiveCount then moves them to the
 * dead-letter queue (QueueStore.receive).
 *
 * Like Lambda, it runs each batch in an instance of the function that has no other batch in
 * progress: up to `concurrency` instances, each loaded afresh by `load` when no idle one is left
 * (a cold start) and kept for later batches (warm).
 *
 * FIFO queues: a message group in a batch in progress is in no other batch until that one is
 * done, even if the function made one of its messages visible again meanwhile; the queue
 * itself holds back groups with a message in flight or hidden for a retry (QueueStore.receive).
 */
export class LocalEventSource {
  private running = false;
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private readonly idle: (() => void)[] = [];
  /** Message groups in the batches in progress, with how many batches hold each. */
  private readonly busyGroups = new Map<string, number>();
  /** Loaded instances with no batch in progress. */
  private readonly warm: SqsHandler[] = [];
  private loaded = 0;
  /** Start times of the batches in flight. */
  private readonly startedAt = new Set<{ readonly ms: number }>();

  constructor(private readonly store: QueueStore, private readonly load: FunctionLoader, private readonly options: EventSourceOptions) {}

  /** Instances loaded so far (at most `concurrency`, or `scaleOut.maxConcurrency`). */
  public get instances(): number {
    return this.loaded;
  }

  /** Loads the first instance now (a function that cannot load fails here, not batch by batch), then polls. */
  public start(): void {
    if (this.loaded === 0) this.warm.push(this.newInstance());
    this.running = true;
    this.schedule(0);
  }

  /** Stops polling and waits for the batches in flight. */
  public async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    // One poll timer at a time: every finished batch reschedules, and without this each one
    // would start another polling loop that never ends while the source runs.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), delayMs);
  }

  private poll(): void {
    while (this.running && this.inFlight < this.allowedInFlight()) {
      // An idle instance, or a new one: never more instances than batches in flight at once.
      // Loaded before receiving, so a received batch always has an instance to run in.
      let instance: SqsHandler;
      try {
        instance = this.warm.pop() ?? this.newInstance();
      } catch (error) {
        this.options.onError?.(error);
        break;
      }
      const batch = this.store.receive(this.options.queue, this.options.batchSize, this.options.visibilityTimeoutMs, new Set(this.busyGroups.keys()));
      if (batch.length === 0) {
        this.warm.push(instance);
        break;
      }
      const groups = [...new Set(batch.map((r) => r.message.groupId).filter((g): g is string => g !== undefined))];
      for (const g of groups) this.busyGroups.set(g, (this.busyGroups.get(g) ?? 0) + 1);
      this.inFlight++;
      const started = { ms: Date.now() };
      this.startedAt.add(started);
      void this.invoke(instance, batch).finally(() => {
        this.startedAt.delete(started);
        for (const g of groups) {
          const left = (this.busyGroups.get(g) ?? 1) - 1;
          if (left > 0) this.busyGroups.set(g, left);
          else this.busyGroups.delete(g);
        }
        this.warm.push(instance);
        this.inFlight--;
        if (this.inFlight === 0) this.idle.splice(0).forEach((resolve) => resolve());
        this.schedule(0);
      });
    }
    this.schedule(this.options.pollIntervalMs ?? 100);
  }

  /** `concurrency`, plus one for each batch that has been waiting longer than `scaleOut.afterMs`. */
  private allowedInFlight(): number {
    const scaleOut = this.options.scaleOut;
    if (!scaleOut) return this.options.concurrency;
    const before = Date.now() - scaleOut.afterMs;
    let waiting = 0;
    for (const started of this.startedAt) if (started.ms <= before) waiting++;
    return Math.min(scaleOut.maxConcurrency, this.options.concurrency + waiting);
  }

  private newInstance(): SqsHandler {
    const instance = this.load();
    this.loaded++;
    return instance;
  }

  private async invoke(instance: SqsHandler, batch: ReturnType<QueueStore['receive']>): Promise<void> {
    const event: SQSEvent = {
      Records: batch.map(({ message, receiptHandle }) => ({
        messageId: message.id,
        receiptHandle,
        body: message.body,
        attributes: {
          ApproximateReceiveCount: String(message.receiveCount),
          SentTimestamp: String(message.sentAt),
          SenderId: 'local',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
          // FIFO records carry their group, deduplication id and sequence number, as in Lambda.
          ...(message.groupId ? { MessageGroupId: message.groupId } : {}),
          ...(message.deduplicationId ? { MessageDeduplicationId: message.deduplicationId } : {}),
          ...(message.sequenceNumber ? { SequenceNumber: message.sequenceNumber } : {}),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: this.options.queueArn,
        awsRegion: 'local',
      })),
    };
    const deadline = Date.now() + this.options.functionTimeoutMs;
    const context = {
      functionName: 'processor',
      awsRequestId: batch[0].message.id,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    } as unknown as Context;
    try {
      const result = await instance(event, context);
      const failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      for (const { message, receiptHandle } of batch) if (!failed.has(message.id)) this.store.delete(receiptHandle);
    } catch (error) {
      this.options.onError?.(error); // the whole batch comes back after its visibility timeout
    }
  }
}
