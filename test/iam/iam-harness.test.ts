import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { ScenarioRun, VariantScenarios } from './scenarios';
import { startDynamo, LocalDynamo } from '../helpers/dynamo';
import {
  alarmRequests, apiGatewayRequests, Decision, denials, describe as describeRequest, evaluate, eventSourceRequests, grantUsage, platformRequests,
  withImplied,
} from '../helpers/iam-evaluate';
import { answerLocally, IamRequest, RequestRecorder } from '../helpers/iam-recorder';
import { CfnTemplate, label, ResolvedTemplate, synthesizeService } from '../helpers/iam-template';
import { startSes, LocalSes } from '../helpers/ses';

/*
 * IAM proven by evaluation (docs/architecture.md "Testing"): every AWS request the three functions make while the
 * handlers run real scenarios locally is recorded and evaluated with iam-simulate against the
 * synthesized template (default props and all props): identity policies of the function's role
 * plus the target's resource policy. Requests AWS makes on the functions' behalf (KMS behind SQS,
 * DynamoDB, Secrets Manager; Lambda's logs) and the service principals the template relies on
 * (API Gateway, the SQS event source, CloudWatch alarms publishing to the encrypted topic) are
 * evaluated too. Then: which granted actions did no request use?
 */

/** Why X-Ray writes stay granted: no handler request makes them, Lambda's X-Ray daemon does. */
const XRAY_DAEMON = 'active tracing (the tracing prop): Lambda\'s X-Ray daemon sends the trace segments with the function\'s role; '
  + 'X-Ray has no resource-level permissions.';

/** Why the KMS actions the harness sees no request for stay granted. */
const KMS_FOR_SERVICES = 'DynamoDB and SQS use the service key on the caller\'s behalf; AWS lists Encrypt, ReEncrypt* and GenerateDataKey* '
  + 'in the minimum a principal needs for a customer managed table key, and those calls are not observable here: kept rather than risk a denied write.';

/**
 * Granted but unused, and justified: nothing the harness can observe uses them, and each reason
 * says why it stays. Everything else a role is granted is used by a recorded request.
 */
const JUSTIFIED_UNUSED: Record<string, string> = {
  'SvcIngestRole: kms:Encrypt @ SvcKey': KMS_FOR_SERVICES,
  'SvcIngestRole: kms:ReEncrypt* @ SvcKey': KMS_FOR_SERVICES,
  'SvcManagementRole: kms:Encrypt @ SvcKey': KMS_FOR_SERVICES,
  'SvcManagementRole: kms:ReEncrypt* @ SvcKey': KMS_FOR_SERVICES,
  'SvcManagementRole: kms:GenerateDataKey* @ SvcKey': KMS_FOR_SERVICES,
  'SvcProcessorRole: kms:Encrypt @ SvcKey': KMS_FOR_SERVICES,
  'SvcProcessorRole: kms:ReEncrypt* @ SvcKey': KMS_FOR_SERVICES,
  'SvcIngestRole: secretsmanager:DescribeSecret @ GithubSecret': 'CDK secret.grantRead, kept for its handling of partial secret ARNs and '
    + 'of the secret\'s own KMS key (through Secrets Manager only); DescribeSecret reads metadata, never the value.',
  'SvcIngestRole: xray:PutTraceSegments @ *': XRAY_DAEMON,
  'SvcIngestRole: xray:PutTelemetryRecords @ *': XRAY_DAEMON,
  'SvcManagementRole: xray:PutTraceSegments @ *': XRAY_DAEMON,
  'SvcManagementRole: xray:PutTelemetryRecords @ *': XRAY_DAEMON,
  'SvcProcessorRole: xray:PutTraceSegments @ *': XRAY_DAEMON,
  'SvcProcessorRole: xray:PutTelemetryRecords @ *': XRAY_DAEMON,
  'SvcProcessorRole: sqs:GetQueueUrl @ SvcQueuesEvents': 'written by CDK\'s SqsEventSource (grantConsumeMessages) for the event source mapping, '
    + 'not by this construct.',
};

/**
 * Granted but used by no request and not justified: must stay empty. The test fails when a grant
 * appears that no request uses and no reason above explains.
 */
const UNUSED_PENDING_DECISION: Record<string, string> = {};

/** `Processor dynamodb:PutItem SvcTablesEvents`: one request, short, for expectations. */
function short(model: ResolvedTemplate, r: IamRequest): string {
  const target = model.logicalIdOfArn(r.resource);
  const index = /\/index\/([^/]+)$/.exec(r.resource);
  const on = target ? `${label(target)}${index ? `/index/${index[1]}` : ''}` : r.resource.split(':').slice(5).join(':');
  const who = r.roleId ? label(r.roleId).replace(/^Svc|Role$/g, '') : r.principal;
  return `${who} ${r.action} ${on}`;
}

/** Per scenario, IAM requests that prove its code path ran (a subset of what it made). */
const EXPECTED: Record<string, string[]> = {
  'ingest: POST /events': ['Ingest sqs:SendMessage SvcQueuesEvents', 'Ingest kms:GenerateDataKey SvcKey'],
  'ingest: POST /events/batch': ['Ingest sqs:SendMessage SvcQueuesEvents'],
  'ingest: idempotency claim, then release after a failed send': ['Ingest dynamodb:PutItem SvcTablesEvents', 'Ingest dynamodb:UpdateItem SvcTablesEvents'],
  'ingest: idempotency read and take-over, send, mark enqueued': ['Ingest dynamodb:GetItem SvcTablesEvents', 'Ingest dynamodb:UpdateItem SvcTablesEvents'],
  'ingest: idempotency replay (read only)': ['Ingest dynamodb:GetItem SvcTablesEvents'],
  'management: POST /subscriptions': ['Management dynamodb:PutItem SvcTablesSubscriptions'],
  'management: GET /subscriptions': ['Management dynamodb:Query SvcTablesSubscriptions/index/byOwner'],
  'management: GET /subscriptions/{id}': ['Management dynamodb:GetItem SvcTablesSubscriptions'],
  'management: PATCH /subscriptions/{id}': ['Management dynamodb:UpdateItem SvcTablesSubscriptions'],
  'management: DELETE /subscriptions/{id}': ['Management dynamodb:DeleteItem SvcTablesSubscriptions'],
  'management: GET /events/{id}': ['Management dynamodb:GetItem SvcTablesEvents', 'Management dynamodb:Query SvcTablesNotifications'],
  'processor: new event (store, match, deliver, record)': [
    'Processor dynamodb:Query SvcTablesSubscriptions/index/byEventType', 'Processor dynamodb:PutItem SvcTablesEvents',
    'Processor dynamodb:BatchWriteItem SvcTablesNotifications', 'Processor kms:Decrypt SvcKey',
  ],
  'processor: repeat of a stored event (reads its notifications)': ['Processor dynamodb:PutItem SvcTablesEvents', 'Processor dynamodb:Query SvcTablesNotifications'],
  'processor: retry later (visibility timeout)': ['Processor sqs:ChangeMessageVisibility SvcQueuesEvents'],
  'processor: last receive dead-letters the failed delivery': ['Processor sqs:SendMessage SvcQueuesDeadLetter', 'Processor kms:GenerateDataKey SvcKey'],
  'processor: 410 Gone pauses the subscription': ['Processor dynamodb:UpdateItem SvcTablesSubscriptions'],
  'processor: rejected event (stored REJECTED, dead-lettered)': ['Processor dynamodb:PutItem SvcTablesEvents', 'Processor sqs:SendMessage SvcQueuesDeadLetter'],
};
const EXPECTED_ALL_PROPS: Record<string, string[]> = {
  'ingest: inbound webhook (secret read, idempotency by delivery id)': [
    'Ingest secretsmanager:GetSecretValue GithubSecret', 'Ingest kms:Decrypt WebhookSecretKey', 'Ingest dynamodb:PutItem SvcTablesEvents',
    'Ingest sqs:SendMessage SvcQueuesEvents',
  ],
  'processor: email delivery (SES)': ['Processor ses:SendEmail identity/notify.example.com', 'Processor ses:SendEmail configuration-set/ens-deliveries'],
  'processor: event refused by its schema (stored REJECTED, dead-lettered)': ['Processor dynamodb:PutItem SvcTablesEvents', 'Processor sqs:SendMessage SvcQueuesDeadLetter'],
};
/** The idempotency paths, exactly: claim (PutItem), read (GetItem), takeOver/markEnqueued/release (UpdateItem). */
const EXPECTED_COMMANDS: Record<string, string[]> = {
  'ingest: idempotency claim, then release after a failed send': ['PutItemCommand', 'SendMessageCommand', 'UpdateItemCommand'],
  'ingest: idempotency read and take-over, send, mark enqueued': ['PutItemCommand', 'GetItemCommand', 'UpdateItemCommand', 'SendMessageCommand', 'UpdateItemCommand'],
  'ingest: idempotency replay (read only)': ['PutItemCommand', 'GetItemCommand'],
};

let dynamo: LocalDynamo;
let ses: LocalSes;
const started = Date.now();

beforeAll(async () => {
  [dynamo, ses] = await Promise.all([startDynamo(), startSes()]);
});

afterAll(async () => {
  await Promise.all([dynamo?.stop(), ses?.stop()]);
  console.log(`IAM harness: ${((Date.now() - started) / 1000).toFixed(1)} s for both variants (synth, scenarios, evaluation)`);
});

test('aws-sdk-client-mock replaces Client#send, so no middleware runs: the harness answers SQS after recording instead', async () => {
  const account = '123456789012';
  const caller = { principal: `arn:aws:sts::${account}:assumed-role/r/f`, roleId: 'Role', roleArn: `arn:aws:iam::${account}:role/r`, account };
  const send = () => client.send(new SendMessageCommand({ QueueUrl: `https://sqs.us-east-1.amazonaws.com/${account}/q`, MessageBody: '{}' }));
  const client = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

  const mocked = new RequestRecorder(() => 'id');
  mocked.attach(client, caller);
  const mock = mockClient(client);
  mock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  try {
    expect((await send()).MessageId).toBe('m-1');
  } finally {
    mock.restore();
  }
  expect(mocked.requests).toEqual([]);

  const answered = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const recorder = new RequestRecorder(() => 'id');
  recorder.attach(answered, caller);
  const seenByAnswer: number[] = [];
  answerLocally(answered, {
    SendMessageCommand: () => {
      seenByAnswer.push(recorder.requests.length);
      return { MessageId: 'm-2', MD5OfMessageBody: '99914b932bd37a50b983c5e7c90ae93b' };
    },
  });
  expect((await answered.send(new SendMessageCommand({ QueueUrl: `https://sqs.us-east-1.amazonaws.com/${account}/q`, MessageBody: '{}' }))).MessageId).toBe('m-2');
  // The recorder had already recorded the request when the answer was made.
  expect(seenByAnswer).toEqual([1]);
  expect(recorder.requests.map((r) => [r.action, r.resource])).toEqual([['sqs:SendMessage', `arn:aws:sqs:us-east-1:${account}:q`]]);
});

describe.each(['default', 'all-props'] as const)('%s props', (variant) => {
  let model: ResolvedTemplate;
  let run: ScenarioRun;
  let requests: IamRequest[];
  let decisions: Decision[];
  const of = (origin: IamRequest['origin']) => decisions.filter((d) => d.request.origin === origin);

  beforeAll(async () => {
    const service = synthesizeService(variant);
    model = new ResolvedTemplate(service);
    run = await new VariantScenarios(model, { dynamo, ses }, service.assetDirs).run();
    requests = [
      ...withImplied(model, run.requests),
      ...platformRequests(model),
      ...withImplied(model, eventSourceRequests(model)),
      ...withImplied(model, alarmRequests(model)),
    ];
    decisions = await evaluate(model, requests);
  }, 120_000);

  test('every code path that calls AWS ran, and the recorder translated every request', () => {
    expect(run.problems).toEqual([]);
    const expected = { ...EXPECTED, ...(variant === 'all-props' ? EXPECTED_ALL_PROPS : {}) };
    for (const [scenario, wanted] of Object.entries(expected)) {
      const made = requests.filter((r) => r.scenario === scenario).map((r) => short(model, r));
      expect({ scenario, made: [...new Set(made)] }).toEqual({ scenario, made: expect.arrayContaining(wanted) });
    }
    for (const [scenario, commands] of Object.entries(EXPECTED_COMMANDS)) {
      expect({ scenario, commands: run.commands.get(scenario) }).toEqual({ scenario, commands });
    }
  });

  test('every request each function makes, and the KMS requests they imply, is allowed', () => {
    const functions = model.functions();
    const lines = functions.map((fn) => {
      const sdk = run.requests.filter((r) => r.origin === 'sdk' && r.roleId === fn.roleId);
      const implied = of('implied').filter((d) => d.request.roleId === fn.roleId);
      const actions = new Set([...sdk.map((r) => r.action), ...implied.map((d) => d.request.action)]);
      return `  ${label(fn.logicalId)}: ${sdk.length} recorded requests, ${implied.length} implied KMS requests, ${actions.size} distinct actions [${[...actions].sort().join(', ')}]`;
    });
    console.log(`${variant} props: requests per function\n${lines.join('\n')}`);
    expect(denials(model, [...of('sdk'), ...of('implied')])).toEqual([]);
    // No key the request carries was dropped as not applying to its action: the model matches AWS's.
    expect(decisions.filter((d) => d.ignoredContextKeys.length > 0).map((d) => `${describeRequest(model, d.request)}: ${d.ignoredContextKeys}`)).toEqual([]);
  });

  test('Lambda writes each function\'s logs with the function\'s role', () => {
    expect(of('platform')).toHaveLength(model.functions().length * 2);
    expect(denials(model, of('platform'))).toEqual([]);
  });

  test('API Gateway may invoke each function for every method of the API, and for every request the scenarios made', async () => {
    const methods = await evaluate(model, apiGatewayRequests(model));
    expect(methods).toHaveLength(model.ofType('AWS::ApiGateway::Method').length);
    expect(denials(model, methods)).toEqual([]);
    const invoked = run.requests.filter((r) => r.action === 'lambda:InvokeFunction');
    expect(invoked.length).toBeGreaterThan(10);
    expect(denials(model, decisions.filter((d) => d.request.action === 'lambda:InvokeFunction'))).toEqual([]);
  });

  test('the SQS event source polls the events queue with the processor role (Receive, Delete, GetQueueAttributes, kms:Decrypt)', () => {
    const polled = decisions.filter((d) => d.request.scenario === 'SQS event source').map((d) => short(model, d.request));
    expect(polled.sort()).toEqual([
      'Processor kms:Decrypt SvcKey',
      'Processor sqs:DeleteMessage SvcQueuesEvents',
      'Processor sqs:GetQueueAttributes SvcQueuesEvents',
      'Processor sqs:ReceiveMessage SvcQueuesEvents',
    ]);
    expect(denials(model, decisions.filter((d) => d.request.scenario === 'SQS event source'))).toEqual([]);
  });

  test('every alarm may publish to the encrypted alarm topic as CloudWatch, and use its key', () => {
    const alarms = model.ofType('AWS::CloudWatch::Alarm').length;
    const published = decisions.filter((d) => d.request.scenario === 'CloudWatch alarm');
    expect(published.filter((d) => d.request.action === 'sns:Publish')).toHaveLength(alarms);
    expect(published.filter((d) => d.request.action.startsWith('kms:'))).toHaveLength(alarms * 2);
    expect(denials(model, published)).toEqual([]);
  });

  test('least privilege: every granted action is used by a request, or listed with its reason', () => {
    const unused = grantUsage(model, decisions).filter((g) => !g.used).map((g) => g.grant.key);
    console.log(`${variant} props: granted but unused\n${unused.map((k) => `  ${k} — ${JUSTIFIED_UNUSED[k] ?? UNUSED_PENDING_DECISION[k] ?? 'NOT LISTED'}`).join('\n')}`);
    expect(unused.filter((k) => !(k in JUSTIFIED_UNUSED) && !(k in UNUSED_PENDING_DECISION))).toEqual([]);
  });

  test('the harness can fail: without dynamodb:PutItem in the processor\'s policy, exactly its PutItem requests are denied', async () => {
    const processorRole = model.fn('Processor').roleId;
    const cut = withoutAction(model.service.template, processorRole, 'dynamodb:PutItem');
    const broken = new ResolvedTemplate({ ...model.service, template: cut });
    const rerun = await evaluate(broken, requests);
    const denied = rerun.filter((d) => d.result !== 'Allowed');
    const puts = requests.filter((r) => r.roleId === processorRole && r.action === 'dynamodb:PutItem');
    expect(puts.length).toBeGreaterThan(0);
    expect(denied.map((d) => d.request)).toEqual(puts);
    expect(new Set(denied.map((d) => d.result))).toEqual(new Set(['ImplicitlyDenied']));
    expect(denials(broken, denied)[0]).toMatch(/^ImplicitlyDenied: \[processor: new event .*\] SvcProcessorRole dynamodb:PutItem on SvcTablesEvents/);
  });

  /** Resource policies and conditions decide too: each cut denies exactly the requests that depend on it. */
  test.each([
    {
      cut: 'the key policy\'s CloudWatch statement',
      edit: (t: CfnTemplate) => editStatements(t, 'AWS::KMS::Key', (s) => s.Principal?.Service !== 'cloudwatch.amazonaws.com'),
      denied: (r: IamRequest) => r.principal === 'cloudwatch.amazonaws.com' && r.action.startsWith('kms:'),
    },
    {
      cut: 'the topic policy\'s CloudWatch statement',
      edit: (t: CfnTemplate) => editStatements(t, 'AWS::SNS::TopicPolicy', (s) => s.Sid !== 'AllowCloudWatchAlarmsOfThisAccount'),
      denied: (r: IamRequest) => r.principal === 'cloudwatch.amazonaws.com' && r.action === 'sns:Publish',
    },
    {
      cut: 'the Lambda permissions of API Gateway',
      edit: (t: CfnTemplate) => removeResources(t, 'AWS::Lambda::Permission'),
      denied: (r: IamRequest) => r.action === 'lambda:InvokeFunction',
    },
    {
      cut: 'the idem_ prefix of the ingest function\'s LeadingKeys condition (evt_ instead)',
      edit: (t: CfnTemplate) => JSON.parse(JSON.stringify(t).replace(/"idem_\*"/g, '"evt_*"')),
      denied: (r: IamRequest) => r.roleId?.startsWith('SvcIngestRole') === true && r.action.startsWith('dynamodb:'),
    },
  ])('the harness can fail: without $cut', async ({ edit, denied }) => {
    const broken = new ResolvedTemplate({ ...model.service, template: edit(model.service.template) });
    const rerun = await evaluate(broken, [...requests, ...apiGatewayRequests(model)]);
    const expected = rerun.filter((d) => denied(d.request));
    expect(expected.length).toBeGreaterThan(0);
    expect(rerun.filter((d) => d.result !== 'Allowed')).toEqual(expected);
  });
});

/** A copy of the template keeping only the statements `keep` accepts in resources of `type` (KeyPolicy or PolicyDocument). */
function editStatements(template: CfnTemplate, type: string, keep: (statement: any) => boolean): CfnTemplate {
  const copy = JSON.parse(JSON.stringify(template)) as CfnTemplate;
  for (const resource of Object.values(copy.Resources)) {
    if (resource.Type !== type) continue;
    const document = resource.Properties!.KeyPolicy ?? resource.Properties!.PolicyDocument;
    document.Statement = (document.Statement as any[]).filter(keep);
  }
  return copy;
}

function removeResources(template: CfnTemplate, type: string): CfnTemplate {
  return { ...template, Resources: Object.fromEntries(Object.entries(template.Resources).filter(([, r]) => r.Type !== type)) };
}

/** The union of both variants' results would hide a variant: each variant's lists are checked on their own. */
test('every pending-decision entry is still granted and unused in some variant (delete entries when grants are cut)', async () => {
  const stillUnused = new Set<string>();
  for (const variant of ['default', 'all-props'] as const) {
    const model = new ResolvedTemplate(synthesizeService(variant));
    for (const g of grantUsage(model, [])) stillUnused.add(g.grant.key);
  }
  expect(Object.keys(UNUSED_PENDING_DECISION).filter((k) => !stillUnused.has(k))).toEqual([]);
});

/** A copy of the template with `action` removed from every statement of the role's policies. */
function withoutAction(template: CfnTemplate, roleId: string, action: string): CfnTemplate {
  const copy = JSON.parse(JSON.stringify(template)) as CfnTemplate;
  for (const resource of Object.values(copy.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy' || !(resource.Properties!.Roles as any[]).some((r) => r.Ref === roleId)) continue;
    const statements = resource.Properties!.PolicyDocument.Statement as any[];
    resource.Properties!.PolicyDocument.Statement = statements
      .map((s) => ({ ...s, Action: (Array.isArray(s.Action) ? s.Action : [s.Action]).filter((a: string) => a !== action) }))
      .filter((s) => s.Action.length > 0);
  }
  return copy;
}
