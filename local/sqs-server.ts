import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MessageAttribute, QueueMessage, QueueSendError, QueueStore } from './queue-store';

/** The account id in local queue URLs. */
const LOCAL_ACCOUNT = '000000000000';

export interface LocalSqsServer {
  readonly endpoint: string;
  queueUrl(name: string): string;
  stop(): Promise<void>;
}

class SqsError extends Error {
  constructor(public readonly type: string, message: string, public readonly status = 400) {
    super(message);
  }
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');
/** A FIFO message's sequence number, as SendMessage answers it. */
const sequence = (m: QueueMessage) => (m.sequenceNumber ? { SequenceNumber: m.sequenceNumber } : {});

/**
 * The part of the SQS API (AWS JSON 1.0 protocol) the handlers and the replay tool use, served
 * from a QueueStore. The unchanged SQS adapters talk to it through AWS_ENDPOINT_URL_SQS.
 */
export async function startSqsServer(store: QueueStore, port = 0): Promise<LocalSqsServer> {
  const queueName = (url: unknown): string => {
    const name = typeof url === 'string' ? url.split('/').pop() ?? '' : '';
    if (!store.hasQueue(name)) throw new SqsError('com.amazonaws.sqs#QueueDoesNotExist', `The specified queue does not exist: ${String(url)}`);
    return name;
  };
  const attributes = (input: unknown): Record<string, MessageAttribute> | undefined => {
    if (!input || typeof input !== 'object') return undefined;
    const entries = Object.entries(input as Record<string, MessageAttribute>);
    return Object.fromEntries(entries.map(([k, v]) => [k, { DataType: v.DataType, StringValue: v.StringValue }]));
  };

  const queueArn = (name: string) => `arn:aws:sqs:local:${LOCAL_ACCOUNT}:${name}`;
  const fromArn = (arn: unknown) => queueName(typeof arn === 'string' ? arn.split(':').pop() : undefined);
  // Message move tasks complete at once locally; the last one per source queue is kept for listing.
  const moveTasks = new Map<string, { moved: number; started: number; destination: string }>();

  const operations: Record<string, (input: Record<string, any>) => unknown> = {
    StartMessageMoveTask: (input) => {
      const source = fromArn(input.SourceArn);
      const destination = fromArn(input.DestinationArn);
      const moved = store.moveAll(source, destination);
      moveTasks.set(source, { moved, started: Date.now(), destination });
      return { TaskHandle: `${source}:${Date.now()}` };
    },
    ListMessageMoveTasks: (input) => {
      const source = fromArn(input.SourceArn);
      const task = moveTasks.get(source);
      return {
        Results: task ? [{
          Status: 'COMPLETED',
          SourceArn: queueArn(source),
          DestinationArn: queueArn(task.destination),
          ApproximateNumberOfMessagesMoved: task.moved,
          ApproximateNumberOfMessagesToMove: task.moved,
          StartedTimestamp: task.started,
        }] : [],
      };
    },
    SendMessage: (input) => {
      const body = String(input.MessageBody ?? '');
      let m: QueueMessage;
      try {
        m = store.send(queueName(input.QueueUrl), body, attributes(input.MessageAttributes), input.MessageGroupId, input.MessageDeduplicationId);
      } catch (error) {
        if (error instanceof QueueSendError) throw new SqsError(`com.amazonaws.sqs#${error.code}`, error.message);
        throw error;
      }
      // The MD5 of the body sent (the SDK checks it), also for a duplicate answered with the first message's id.
      return { MessageId: m.id, MD5OfMessageBody: md5(body), ...sequence(m) };
    },
    SendMessageBatch: (input) => {
      const name = queueName(input.QueueUrl);
      const entries = (input.Entries ?? []) as Record<string, any>[];
      if (entries.length === 0 || entries.length > 10) throw new SqsError('com.amazonaws.sqs#TooManyEntriesInBatchRequest', 'A batch holds 1 to 10 entries.');
      const successful: Record<string, unknown>[] = [];
      const failed: Record<string, unknown>[] = [];
      for (const e of entries) {
        const body = String(e.MessageBody ?? '');
        try {
          const m = store.send(name, body, attributes(e.MessageAttributes), e.MessageGroupId, e.MessageDeduplicationId);
          successful.push({ Id: e.Id, MessageId: m.id, MD5OfMessageBody: md5(body), ...sequence(m) });
        } catch (error) {
          if (!(error instanceof QueueSendError)) throw error;
          failed.push({ Id: e.Id, SenderFault: true, Code: error.code, Message: error.message });
        }
      }
      return { Successful: successful, Failed: failed };
    },
    ChangeMessageVisibility: (input) => {
      queueName(input.QueueUrl);
      if (!store.changeVisibility(String(input.ReceiptHandle), Number(input.VisibilityTimeout ?? 0))) {
        throw new SqsError('com.amazonaws.sqs#ReceiptHandleIsInvalid', 'The receipt handle is not valid (the message was received again or deleted).');
      }
      return {};
    },
    ReceiveMessage: (input) => {
      const max = Math.min(10, Number(input.MaxNumberOfMessages ?? 1));
      const received = store.receive(queueName(input.QueueUrl), max, Number(input.VisibilityTimeout ?? 30) * 1000);
      return {
        Messages: received.map(({ message, receiptHandle }) => ({
          MessageId: message.id,
          ReceiptHandle: receiptHandle,
          Body: message.body,
          MD5OfBody: md5(message.body),
          Attributes: {
            ApproximateReceiveCount: String(message.receiveCount),
            SentTimestamp: String(message.sentAt),
            ...(message.groupId ? { MessageGroupId: message.groupId } : {}),
            ...(message.deduplicationId ? { MessageDeduplicationId: message.deduplicationId } : {}),
            ...(message.sequenceNumber ? { SequenceNumber: message.sequenceNumber } : {}),
          },
          ...(message.attributes ? { MessageAttributes: message.attributes } : {}),
        })),
      };
    },
    DeleteMessage: (input) => {
      queueName(input.QueueUrl);
      store.delete(String(input.ReceiptHandle));
      return {};
    },
    GetQueueAttributes: (input) => {
      const name = queueName(input.QueueUrl);
      const messages = store.list(name);
      const now = Date.now();
      return {
        Attributes: {
          QueueArn: queueArn(name),
          ApproximateNumberOfMessages: String(messages.filter((m) => m.visibleAt <= now).length),
          ApproximateNumberOfMessagesNotVisible: String(messages.filter((m) => m.visibleAt > now).length),
        },
      };
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = operations[target.replace(/^AmazonSQS\./, '')];
      let status = 200;
      let payload: unknown;
      try {
        if (!operation) throw new SqsError('com.amazonaws.sqs#UnsupportedOperation', `Not supported by the local runtime: ${target}`);
        payload = operation(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch (error) {
        const e = error instanceof SqsError ? error : new SqsError('com.amazonaws.sqs#InternalError', String(error), 500);
        status = e.status;
        payload = { __type: e.type, message: e.message };
      }
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    queueUrl: (name) => `${endpoint}/${LOCAL_ACCOUNT}/${name}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
