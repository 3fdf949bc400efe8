import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient,
} from '@aws-sdk/client-sqs';
import { QueueStore } from '../../local/queue-store';
import { LocalSqsServer, startSqsServer } from '../../local/sqs-server';

/* The local SQS API for FIFO queues, spoken to with the AWS SDK the handlers use. */

const EVENTS = 'ens-events.fifo';
const DLQ = 'ens-events-dlq.fifo';
const STANDARD = 'plain';

let dir: string;
let store: QueueStore;
let server: LocalSqsServer;
let sqs: SQSClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-sqs-fifo-'));
  store = new QueueStore(path.join(dir, 'queues.log'), [
    { name: EVENTS, fifo: true, deduplicationScope: 'messageGroup', deadLetterQueue: DLQ, maxReceiveCount: 3 },
    { name: DLQ, fifo: true },
    { name: STANDARD, fifo: false },
  ]);
  server = await startSqsServer(store);
  sqs = new SQSClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

afterAll(async () => {
  sqs.destroy();
  await server.stop();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('SendMessage: a deduplication id sent again answers success with the first message\'s id and adds nothing', async () => {
  const QueueUrl = server.queueUrl(EVENTS);
  const first = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"n":1}', MessageGroupId: 'deploy', MessageDeduplicationId: 'evt_1' }));
  // Another body under the same id: the SDK checks the MD5 against the body it sent.
  const again = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"n":1,"retry":true}', MessageGroupId: 'deploy', MessageDeduplicationId: 'evt_1' }));
  expect(again.MessageId).toBe(first.MessageId);
  expect(first.SequenceNumber).toMatch(/^\d{20}$/);
  const batch = await sqs.send(new SendMessageBatchCommand({
    QueueUrl,
    Entries: [
      { Id: 'dup', MessageBody: 'x', MessageGroupId: 'deploy', MessageDeduplicationId: 'evt_1' },
      { Id: 'new', MessageBody: '{"n":2}', MessageGroupId: 'deploy', MessageDeduplicationId: 'evt_2' },
      { Id: 'no-group', MessageBody: '{"n":3}', MessageDeduplicationId: 'evt_3' },
      { Id: 'no-dedup', MessageBody: '{"n":4}', MessageGroupId: 'deploy' },
    ],
  }));
  expect(batch.Successful?.map((s) => s.Id)).toEqual(['dup', 'new']);
  expect(batch.Successful?.[0].MessageId).toBe(first.MessageId);
  expect(batch.Failed).toEqual([
    expect.objectContaining({ Id: 'no-group', SenderFault: true, Code: 'MissingParameter' }),
    expect.objectContaining({ Id: 'no-dedup', SenderFault: true, Code: 'InvalidParameterValue' }),
  ]);
  expect(store.list(EVENTS).map((m) => m.body)).toEqual(['{"n":1}', '{"n":2}']);

  const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'] }));
  expect(received.Messages?.map((m) => [m.Body, m.Attributes?.MessageGroupId, m.Attributes?.MessageDeduplicationId])).toEqual([
    ['{"n":1}', 'deploy', 'evt_1'], ['{"n":2}', 'deploy', 'evt_2'],
  ]);
  expect(received.Messages?.[0].Attributes?.SequenceNumber).toBe(first.SequenceNumber);
});

test('what SQS refuses is refused: no MessageGroupId on a FIFO queue, a MessageDeduplicationId on a standard one', async () => {
  await expect(sqs.send(new SendMessageCommand({ QueueUrl: server.queueUrl(EVENTS), MessageBody: 'x', MessageDeduplicationId: 'd' })))
    .rejects.toEqual(expect.objectContaining({ name: 'MissingParameter' }));
  await expect(sqs.send(new SendMessageCommand({ QueueUrl: server.queueUrl(DLQ), MessageBody: 'x', MessageGroupId: 'g' })))
    .rejects.toEqual(expect.objectContaining({ name: 'InvalidParameterValue' }));
  await expect(sqs.send(new SendMessageCommand({ QueueUrl: server.queueUrl(STANDARD), MessageBody: 'x', MessageDeduplicationId: 'd' })))
    .rejects.toEqual(expect.objectContaining({ name: 'InvalidParameterValue' }));
  expect(store.list(DLQ)).toEqual([]);
  expect(store.list(STANDARD)).toEqual([]);
});
