import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FunctionName } from '../../../local/template-config';
import { apiEvent } from '../../helpers/api-event';
import {
  buildLambdaChild, bundlePath, ChildRun, EVENT_BODY, LAMBDA_CREDENTIALS, LambdaEndpoints, OWNER_KEY_ID, publishEvent, queueBatchEvent,
  runLambdaChild, startLambdaEndpoints,
} from '../../helpers/lambda-process';
import type { XRayDocument } from '../../helpers/xray-daemon';

/**
 * Tracing as deployed: the real bundles run in processes with Lambda's environment, and their
 * X-Ray SDK sends (sub)segments over UDP to a daemon stand-in (AWS_XRAY_DAEMON_ADDRESS), which
 * parses what arrives. Every AWS call and every webhook request is a subsegment under the
 * invocation's; none carries a body, a secret, credentials or a URL's path or query.
 */
const PATH_TOKEN = 'pathtoken9c41e7';
const QUERY_TOKEN = 'querytoken52d0a8';
const TRACE_ROOT = '1-6743a1b2-0123456789abcdef01234567';

let endpoints: LambdaEndpoints;
let child: string;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-tracing-'));
  child = buildLambdaChild(tmp);
  endpoints = await startLambdaEndpoints({
    email: true,
    subscriptions: [
      { channel: 'WEBHOOK', target: (url) => `${url}/ok/${PATH_TOKEN}?token=${QUERY_TOKEN}` },
      { channel: 'WEBHOOK', target: (url) => `${url}/busy` },
      { channel: 'EMAIL', target: () => 'oncall@example.com' },
    ],
    responder: (request) => (request.path.startsWith('/busy') ? { status: 503 } : { status: 200 }),
  });
}, 60_000);

afterAll(async () => {
  await endpoints?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Invokes a function once in a new process; returns its report and the X-Ray documents it sent. */
async function invoke(fn: FunctionName, event: unknown, tracing = true): Promise<{ run: ChildRun; documents: XRayDocument[]; raw: string }> {
  endpoints.xray.clear();
  const run = await runLambdaChild(child, ['first', bundlePath(fn), JSON.stringify(event)], endpoints.environment(fn, { tracing }));
  await new Promise((resolve) => setTimeout(resolve, 50)); // datagrams still in flight
  return { run, documents: endpoints.xray.all(), raw: endpoints.xray.raw.join('\n') };
}

/** What no trace may hold: credentials, subscription secrets, URL paths and queries, payloads. */
function expectNothingSecret(raw: string): void {
  const forbidden = [
    ...Object.values(LAMBDA_CREDENTIALS),
    ...endpoints.subscriptions.map((s) => s.secret).filter((s): s is string => !!s),
    PATH_TOKEN, QUERY_TOKEN, '/busy', '/ok/',
    'oncall@example.com',
    JSON.parse(EVENT_BODY).title, 'durationSeconds',
    'webhook-signature', 'x-api-key',
  ];
  for (const text of forbidden) expect({ text, found: raw.includes(text) }).toEqual({ text, found: false });
}

function subsegments(documents: XRayDocument[]) {
  const handler = documents.find((d) => d.name === '## index.handler');
  expect(handler).toMatchObject({ type: 'subsegment', trace_id: TRACE_ROOT, annotations: { ColdStart: true } });
  const children = documents.filter((d) => d.type === 'subsegment' && d !== handler);
  // Each call's subsegment hangs under the invocation's.
  for (const d of children) {
    expect({ name: d.name, parent: d.parent_id, trace: d.trace_id }).toEqual({ name: d.name, parent: handler!.id, trace: TRACE_ROOT });
  }
  const aws = (service: string) => children.filter((d) => d.name === service).map((d) => d.aws?.operation).sort();
  return { handler: handler!, children, aws };
}

test('processor: a subsegment for each DynamoDB, SQS and SES call and each webhook, with its status', async () => {
  const { run, documents, raw } = await invoke('processor', queueBatchEvent(1));
  expect(run.report.xraySdkLoaded).toBe(true);
  // The busy receiver's delivery waits for a retry, so the record goes back to the queue.
  expect(run.report.result.batchItemFailures).toHaveLength(1);
  const { children, aws } = subsegments(documents);

  expect(aws('DynamoDB')).toEqual(expect.arrayContaining(['BatchWriteItem', 'PutItem', 'Query']));
  expect(aws('SESv2')).toEqual(['SendEmail']);
  expect(aws('SQS')).toEqual(['ChangeMessageVisibility']);

  const webhooks = children.filter((d) => d.name === '127.0.0.1');
  expect(webhooks.map((d) => d.http?.response?.status).sort()).toEqual([200, 503]);
  for (const w of webhooks) {
    // The origin only: a webhook URL's path and query can carry the receiver's token.
    expect(w.http?.request).toEqual({ method: 'POST', url: endpoints.receiverUrl });
    expect(w.namespace).toBe('remote');
    expect(w.in_progress).not.toBe(true);
  }
  expect(webhooks.find((w) => w.http?.response?.status === 503)).toMatchObject({ fault: true });
  expect(endpoints.receiver.requests.length).toBeGreaterThanOrEqual(2);
  expectNothingSecret(raw);
});

test('ingest: the SQS SendMessage of POST /events is a subsegment, without the event', async () => {
  const { run, documents, raw } = await invoke('ingest', publishEvent());
  expect(run.report.result.statusCode).toBe(202);
  expect(subsegments(documents).aws('SQS')).toEqual(['SendMessage']);
  expectNothingSecret(raw);
});

test('management: POST /subscriptions traces its DynamoDB calls, never the new secret or the target', async () => {
  const event = apiEvent({
    method: 'POST',
    resource: '/subscriptions',
    body: { eventType: 'bench.other', channel: 'WEBHOOK', target: `${endpoints.receiverUrl}/new/${PATH_TOKEN}?token=${QUERY_TOKEN}` },
    apiKeyId: OWNER_KEY_ID,
  });
  const { run, documents, raw } = await invoke('management', event);
  expect(run.report.result.statusCode).toBe(201);
  const secret = JSON.parse(run.report.result.body).secret as string;
  expect(secret).toMatch(/^whsec_/);
  expect(subsegments(documents).aws('DynamoDB')).toEqual(expect.arrayContaining(['PutItem']));
  expect(raw.includes(secret)).toBe(false);
  expectNothingSecret(raw);
});

test.each(['ingest', 'management', 'processor'] as const)('tracing: false: %s sends nothing and does not load the X-Ray SDK', async (fn) => {
  const event = fn === 'ingest' ? publishEvent() : fn === 'management' ? apiEvent({ method: 'GET', resource: '/subscriptions', apiKeyId: OWNER_KEY_ID }) : queueBatchEvent(1);
  const { run, documents } = await invoke(fn, event, false);
  expect(run.report.xraySdkLoaded).toBe(false);
  expect(documents).toEqual([]);
});
