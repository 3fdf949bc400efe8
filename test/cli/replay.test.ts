import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetQueueAttributesCommand, ListMessageMoveTasksCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, StartMessageMoveTaskCommand,
  DeleteMessageCommand,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { main } from '../../cli/main';
import { idRange, listDeadLetters, redrive, ReplayOutput } from '../../cli/replay';
import { deterministicId, newId } from '../../lambda/core/ids';
import { children, DevProcess, kill, startDev, until } from '../helpers/dev-process';
import { ReceiverPool } from '../helpers/receivers';

function capture(): ReplayOutput & { lines: string[]; progressed: [number, number][] } {
  const lines: string[] = [];
  const progressed: [number, number][] = [];
  return { lines, progressed, line: (t) => lines.push(t), progress: (d, t) => progressed.push([d, t]) };
}

describe('replay against AWS (SQS control plane mocked)', () => {
  const sqsMock = mockClient(SQSClient);
  const target = {
    queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/events',
    deadLetterQueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/dlq',
    eventsTable: 'events',
    region: 'us-east-1',
  };
  const clients = {
    sqs: new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
    documents: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
  };
  beforeEach(() => sqsMock.reset());
  afterAll(() => sqsMock.restore());

  test('dlq redrive: StartMessageMoveTask from the DLQ to the events queue, rate-limited, and progress until COMPLETED', async () => {
    sqsMock.on(GetQueueAttributesCommand, { QueueUrl: target.deadLetterQueueUrl }).resolves({ Attributes: { QueueArn: 'arn:dlq' } });
    sqsMock.on(GetQueueAttributesCommand, { QueueUrl: target.queueUrl }).resolves({ Attributes: { QueueArn: 'arn:events' } });
    sqsMock.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 't' });
    sqsMock.on(ListMessageMoveTasksCommand)
      .resolvesOnce({ Results: [{ Status: 'RUNNING', ApproximateNumberOfMessagesMoved: 1, ApproximateNumberOfMessagesToMove: 3 }] })
      .resolves({ Results: [{ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 3 }] });
    const out = capture();
    const result = await redrive(clients, target, out, 5, 1);
    expect(result).toEqual({ moved: 3, status: 'COMPLETED' });
    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand).map((c) => c.args[0].input)).toEqual([
      { SourceArn: 'arn:dlq', DestinationArn: 'arn:events', MaxNumberOfMessagesPerSecond: 5 },
    ]);
    expect(out.progressed).toEqual([[1, 3], [3, 3]]);
  });

  test('dlq redrive reports a failed move task', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: 'arn:q' } });
    sqsMock.on(StartMessageMoveTaskCommand).resolves({});
    sqsMock.on(ListMessageMoveTasksCommand).resolves({ Results: [{ Status: 'FAILED', FailureReason: 'AccessDenied' }] });
    await expect(redrive(clients, target, capture(), undefined, 1)).rejects.toThrow(/AccessDenied/);
  });

  test('dlq list shows id, type, reason and receive count, and removes nothing', async () => {
    const body = (eventId: string) => JSON.stringify({ v: 1, eventId, receivedAt: 'x', source: 'api', event: { eventType: 'deploy.finished' } });
    const eventId = newId('evt');
    sqsMock.on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [{
          MessageId: 'm1',
          Body: body(eventId),
          Attributes: { ApproximateReceiveCount: '2', SentTimestamp: '1700000000000' },
          MessageAttributes: { reason: { DataType: 'String', StringValue: 'delivery failed: sub_x: 500' } },
        }],
      })
      .resolves({ Messages: [] });
    const entries = await listDeadLetters(clients, target, 100);
    expect(entries).toEqual([{
      messageId: 'm1',
      eventId,
      eventType: 'deploy.finished',
      reason: 'delivery failed: sub_x: 500',
      receiveCount: 2,
      sentAt: new Date(1700000000000).toISOString(),
    }]);
    for (const call of sqsMock.commandCalls(ReceiveMessageCommand)) expect(call.args[0].input.VisibilityTimeout).toBe(0);
    expect(sqsMock.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  test('the id range of a time window brackets exactly the ids of that window', () => {
    const from = new Date('2026-11-23T10:00:00Z');
    const to = new Date('2026-11-23T11:00:00Z');
    const { low, high } = idRange(from, to);
    // deterministicId: newId's monotonic factory never goes back in time within a process.
    const inside = deterministicId('evt', from.getTime() + 1000, 'a');
    const before = deterministicId('evt', from.getTime() - 1, 'b');
    const after = deterministicId('evt', to.getTime() + 1, 'c');
    expect([deterministicId('evt', from.getTime(), 'x'), deterministicId('evt', to.getTime(), 'y')].every((id) => low <= id && id <= high)).toBe(true);
    expect(low <= inside && inside <= high).toBe(true);
    expect(before < low).toBe(true);
    expect(after > high).toBe(true);
  });

  test('bad command lines are refused with a message', async () => {
    await expect(main(['replay', 'event', 'not-an-id', '--queue-url', 'q', '--dlq-url', 'd', '--events-table', 't'], capture())).rejects.toThrow(/event id/);
    await expect(main(['replay', 'dlq', 'list'], capture())).rejects.toThrow(/say where the service is/);
    await expect(main(['replay', 'range', '--from', 'yesterday', '--to', '2026-01-01T00:00:00Z', '--queue-url', 'q', '--dlq-url', 'd', '--events-table', 't'], capture()))
      .rejects.toThrow(/--from must be an ISO-8601 time/);
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });
});

describe('inspect, fix, replay on the local runtime (end to end)', () => {
  const API_KEY = 'replay-test-key-0001';
  const receivers = new ReceiverPool();
  let dataDir: string;
  let dev: DevProcess | undefined;
  let schemasFile: string;

  const start = async (schemas: object) => {
    fs.writeFileSync(schemasFile, JSON.stringify(schemas));
    dev = await startDev(['--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--retry-schedule', '0s', '--event-schemas', schemasFile]);
    return dev;
  };
  const call = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(dev!.apiUrl + route, {
      method, headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
  const replay = async (...args: string[]) => {
    const out = capture();
    const code = await main(['replay', ...args, '--local', dev!.apiUrl], out);
    return { code, lines: out.lines };
  };

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-replay-'));
    schemasFile = path.join(dataDir, 'schemas.json');
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await receivers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a rejected event is fixed by a schema change and a redrive: delivered once', async () => {
    const strict = { 'deploy.finished': { type: 'object', required: ['details'], properties: { details: { type: 'object', required: ['version'] } } } };
    await start(strict);
    const receiver = await receivers.start({ responder: () => ({ status: 200 }) });
    expect((await call('POST', '/subscriptions', { eventType: 'deploy.*', channel: 'WEBHOOK', target: `${receiver.url}/a` })).status).toBe(201);

    const accepted = await call('POST', '/events', { eventType: 'deploy.finished', severity: 'HIGH', title: 'no version' });
    expect(accepted.status).toBe(202);
    const eventId = accepted.json.eventId;
    await until(async () => ((await call('GET', `/events/${eventId}`)).json?.status === 'REJECTED' ? true : undefined), 'the event to be rejected');
    const listed = await until(async () => {
      const result = await replay('dlq', 'list');
      return result.lines.some((l) => l.includes(eventId)) ? result : undefined;
    }, 'the rejected event in the DLQ');
    expect(listed.lines.join('\n')).toMatch(/rejected: .*details/);
    expect(receiver.requests).toHaveLength(0);
    // Listing removed nothing.
    expect((await replay('dlq', 'list')).lines.join('\n')).toContain(eventId);

    // The fix: the schema no longer requires a version. Restart with it and redrive.
    await kill(dev!, 'SIGTERM');
    await start({});
    const redriven = await replay('dlq', 'redrive');
    expect(redriven.code).toBe(0);
    expect(redriven.lines.join('\n')).toMatch(/1 message\(s\) moved/);
    await until(() => (receiver.requests.length > 0 ? true : undefined), 'the redriven event to be delivered');
    await until(async () => ((await call('GET', `/events/${eventId}`)).json?.deliveryStatus === 'COMPLETED' ? true : undefined), 'COMPLETED');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(1);
    expect(JSON.parse(receiver.requests[0].body).data.eventId).toBe(eventId);
    expect((await replay('dlq', 'list')).lines[0]).toMatch(/^0 message/);
  });

  test('a range replay after partial delivery reaches only the subscriptions that missed it', async () => {
    const healthy = await receivers.start({ responder: () => ({ status: 200 }) });
    let broken = true;
    const flaky = await receivers.start({ responder: () => ({ status: broken ? 500 : 200 }) });
    for (const target of [`${healthy.url}/h`, `${flaky.url}/f`]) {
      expect((await call('POST', '/subscriptions', { eventType: 'order.*', channel: 'WEBHOOK', target })).status).toBe(201);
    }
    const from = new Date(Date.now() - 1000);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call('POST', '/events', { eventType: 'order.paid', severity: 'LOW', title: `order ${i}` })).json.eventId);
    // One attempt only (schedule 0s): the flaky receiver's notifications fail for good.
    await until(async () => {
      const states = await Promise.all(ids.map(async (id) => (await call('GET', `/events/${id}`)).json?.deliveryStatus));
      return states.every((s) => s === 'PARTIALLY_FAILED') ? true : undefined;
    }, 'every event to be partially failed');
    expect(healthy.requests).toHaveLength(3);

    const dry = await replay('range', '--from', from.toISOString(), '--to', new Date().toISOString(), '--type', 'order.paid', '--dry-run');
    expect(dry.lines[dry.lines.length - 1]).toBe('dry run: 3 event(s) would be re-queued');
    expect(flaky.requests).toHaveLength(3);

    broken = false;
    const replayed = await replay('range', '--from', from.toISOString(), '--to', new Date().toISOString(), '--type', 'order.paid');
    expect(replayed.lines).toContain('re-queued 3 event(s)');
    await until(async () => {
      const states = await Promise.all(ids.map(async (id) => (await call('GET', `/events/${id}`)).json?.deliveryStatus));
      return states.every((s) => s === 'COMPLETED') ? true : undefined;
    }, 'every event to be completed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(healthy.requests).toHaveLength(3); // nothing twice
    expect(flaky.requests.filter((r) => r.at > 0)).toHaveLength(6); // 3 failed + 3 delivered
    const webhookIds = (r: { headers: Record<string, unknown> }) => String(r.headers['webhook-id']);
    expect(new Set(flaky.requests.map(webhookIds)).size).toBe(3); // the same webhook-id on the replay

    // One event by id: already delivered everywhere, so nobody gets it again.
    const single = await replay('event', ids[0]);
    expect(single.lines).toEqual([`re-queued ${ids[0]} (order.paid)`]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(healthy.requests).toHaveLength(3);
    expect(flaky.requests).toHaveLength(6);
    await kill(dev!, 'SIGTERM');
  });
});

test('the packaged command (assets/cli/index.js, the package bin) runs on its own', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const root = path.join(__dirname, '..', '..');
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  expect(pkg.bin).toEqual({ 'event-notification-service': 'assets/cli/index.js' });
  const cli = path.join(root, pkg.bin['event-notification-service']);
  expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  const help = spawnSync(process.execPath, [cli, 'replay', '--help'], { encoding: 'utf8', cwd: os.tmpdir() });
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/replay dlq redrive/);
  const bad = spawnSync(process.execPath, [cli, 'replay', 'dlq', 'list'], { encoding: 'utf8', cwd: os.tmpdir() });
  expect(bad.status).toBe(2); // a command-line mistake
  expect(bad.stderr).toMatch(/^error: say where the service is[^\n]*\n$/);
});
