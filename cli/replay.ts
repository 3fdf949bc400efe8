import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetQueueAttributesCommand, ListMessageMoveTasksCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { storedEventFromItem } from '../lambda/adapters/dynamo-event-store';
import { deterministicId } from '../lambda/core/ids';
import { messageGroupOf, queueMessageBody } from '../lambda/core/queue-message';
import { StoredEvent } from '../lambda/core/stored-event';

/** Where the service's queues and table are. */
export interface ReplayTarget {
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly eventsTable: string;
  readonly region?: string;
  /** Local runtime: its SQS and DynamoDB endpoints. */
  readonly sqsEndpoint?: string;
  readonly dynamoEndpoint?: string;
  /** Local runtime: the URL it was found at (`--local`). */
  readonly localUrl?: string;
}

/** Output of the tool: lines for people on stdout, progress on stderr. */
export interface ReplayOutput {
  line(text: string): void;
  progress(done: number, total: number, label: string): void;
}

export interface ReplayClients {
  readonly sqs: SQSClient;
  readonly documents: DynamoDBDocumentClient;
}

/**
 * Marks an error with the queue or table of the call that failed, so that the tool can say which
 * one does not exist.
 */
function nameTheResource(client: SQSClient | DynamoDBClient): void {
  (client.middlewareStack as SQSClient['middlewareStack']).add((next, _context) => async (args) => {
    try {
      return await next(args);
    } catch (error) {
      const input = args.input as { QueueUrl?: string; TableName?: string };
      if (error instanceof Error) Object.assign(error, { queueUrl: input.QueueUrl, tableName: input.TableName });
      throw error;
    }
  }, { step: 'initialize', name: 'nameTheResource' });
}

export function clientsFor(target: ReplayTarget): ReplayClients {
  const local = target.sqsEndpoint !== undefined;
  const credentials = local ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined;
  const region = target.region ?? (local ? 'us-east-1' : undefined);
  const sqs = new SQSClient({ region, ...(local ? { endpoint: target.sqsEndpoint, credentials } : {}) });
  const dynamo = new DynamoDBClient({ region, ...(target.dynamoEndpoint ? { endpoint: target.dynamoEndpoint, credentials } : {}) });
  nameTheResource(sqs);
  nameTheResource(dynamo);
  return { sqs, documents: DynamoDBDocumentClient.from(dynamo) };
}

/** One message of the dead-letter queue, as `dlq list` shows it. */
export interface DeadLetterEntry {
  readonly messageId: string;
  readonly eventId?: string;
  readonly eventType?: string;
  /** A fan-out follow-up's part (docs/architecture.md "Fan-out"): `3/14`. */
  readonly part?: string;
  readonly reason?: string;
  readonly receiveCount: number;
  readonly sentAt: string;
}

/**
 * Lists the dead-letter queue without removing anything: messages are received with a zero
 * visibility timeout (they stay visible) until no new one turns up or `max` are seen.
 */
export async function listDeadLetters(clients: ReplayClients, target: ReplayTarget, max: number): Promise<DeadLetterEntry[]> {
  const seen = new Map<string, DeadLetterEntry>();
  let idleRounds = 0;
  while (seen.size < max && idleRounds < 3) {
    const result = await clients.sqs.send(new ReceiveMessageCommand({
      QueueUrl: target.deadLetterQueueUrl,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    }));
    const fresh = (result.Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
    idleRounds = fresh.length === 0 ? idleRounds + 1 : 0;
    for (const m of fresh) {
      let body: { eventId?: string; event?: { eventType?: string }; eventJson?: unknown; fanOut?: { part?: unknown; parts?: unknown } } = {};
      try {
        body = JSON.parse(m.Body ?? '');
      } catch {
        body = {};
      }
      const { part, parts } = body.fanOut ?? {};
      seen.set(m.MessageId!, {
        messageId: m.MessageId!,
        eventId: m.MessageAttributes?.eventId?.StringValue ?? body.eventId,
        eventType: body.event?.eventType ?? eventTypeOf(body.eventJson),
        ...(typeof part === 'number' && typeof parts === 'number' ? { part: `${part + 1}/${parts}` } : {}),
        reason: m.MessageAttributes?.reason?.StringValue,
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
        sentAt: new Date(Number(m.Attributes?.SentTimestamp ?? 0)).toISOString(),
      });
    }
  }
  return [...seen.values()].slice(0, max);
}

/** The event type inside a version 2 message's event text, if it has one. */
function eventTypeOf(eventJson: unknown): string | undefined {
  try {
    const type = typeof eventJson === 'string' ? (JSON.parse(eventJson) as { eventType?: unknown }).eventType : undefined;
    return typeof type === 'string' ? type : undefined;
  } catch {
    return undefined;
  }
}

async function queueArn(clients: ReplayClients, queueUrl: string): Promise<string> {
  const result = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = result.Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

/**
 * Moves the dead-letter queue back to the events queue with SQS StartMessageMoveTask
 * (optionally rate-limited) and reports progress until the task is done.
 */
export async function redrive(
  clients: ReplayClients, target: ReplayTarget, out: ReplayOutput, ratePerSecond?: number, pollMs = 2000,
): Promise<{ moved: number; status: string }> {
  const [source, destination] = await Promise.all([queueArn(clients, target.deadLetterQueueUrl), queueArn(clients, target.queueUrl)]);
  await clients.sqs.send(new StartMessageMoveTaskCommand({
    SourceArn: source,
    DestinationArn: destination,
    ...(ratePerSecond ? { MaxNumberOfMessagesPerSecond: ratePerSecond } : {}),
  }));
  for (;;) {
    const tasks = await clients.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: source, MaxResults: 1 }));
    const task = tasks.Results?.[0];
    const moved = Number(task?.ApproximateNumberOfMessagesMoved ?? 0);
    const total = Number(task?.ApproximateNumberOfMessagesToMove ?? moved);
    out.progress(moved, total, 'moved');
    if (!task || task.Status !== 'RUNNING') {
      if (task?.Status === 'FAILED') throw new Error(`the move task failed: ${task.FailureReason ?? 'unknown reason'}`);
      return { moved, status: task?.Status ?? 'UNKNOWN' };
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Puts a stored event back on the events queue, marked so failed notifications are retried. */
async function requeue(clients: ReplayClients, target: ReplayTarget, event: StoredEvent): Promise<void> {
  const fifo = target.queueUrl.endsWith('.fifo');
  await clients.sqs.send(new SendMessageCommand({
    QueueUrl: target.queueUrl,
    MessageBody: queueMessageBody(event, { redrive: true }),
    ...(fifo ? {
      MessageGroupId: messageGroupOf(event.event),
      MessageDeduplicationId: `${event.eventId}-replay-${Date.now()}`,
    } : {}),
  }));
}

/** Re-queues one stored event; subscriptions that already got it are skipped by the processor. */
export async function replayEvent(clients: ReplayClients, target: ReplayTarget, eventId: string): Promise<StoredEvent> {
  const result = await clients.documents.send(new GetCommand({ TableName: target.eventsTable, Key: { eventId }, ConsistentRead: true }));
  const event = result.Item ? storedEventFromItem(result.Item) : undefined;
  if (!event) throw new Error(`no event ${eventId} in ${target.eventsTable} (expired, or never processed)`);
  await requeue(clients, target, event);
  return event;
}

/** The id range of a time window: ids are ULIDs, so they sort by time. */
export function idRange(from: Date, to: Date): { low: string; high: string } {
  return {
    low: deterministicId('evt', from.getTime(), '').slice(0, 14) + '0'.repeat(16),
    high: deterministicId('evt', to.getTime(), '').slice(0, 14) + 'Z'.repeat(16),
  };
}

/** Re-queues every stored event of a time window (optionally of one type); `dryRun` only lists them. */
export async function replayRange(
  clients: ReplayClients, target: ReplayTarget, out: ReplayOutput,
  options: { from: Date; to: Date; eventType?: string; dryRun: boolean },
): Promise<StoredEvent[]> {
  const { low, high } = idRange(options.from, options.to);
  const events: StoredEvent[] = [];
  // An operator's tool, not the hot path: a filtered Scan of the Events table is fine here.
  const pages = paginateScan({ client: clients.documents }, {
    TableName: target.eventsTable,
    FilterExpression: 'eventId BETWEEN :low AND :high' + (options.eventType ? ' AND eventType = :type' : ''),
    ExpressionAttributeValues: { ':low': low, ':high': high, ...(options.eventType ? { ':type': options.eventType } : {}) },
  });
  for await (const page of pages) events.push(...(page.Items ?? []).map(storedEventFromItem));
  events.sort((a, b) => a.eventId.localeCompare(b.eventId));
  if (options.dryRun) return events;
  let done = 0;
  for (const event of events) {
    await requeue(clients, target, event);
    out.progress(++done, events.length, 're-queued');
  }
  return events;
}
