import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildIntegApp, DEFAULT_STACK_NAME, FIFO_STACK_NAME } from './integ.default';

/** The resources every deployment of the service has, with their counts. */
const EXPECTED_COUNTS: Record<string, number> = {
  'AWS::DynamoDB::Table': 3,
  'AWS::SQS::Queue': 2,
  'AWS::SQS::QueuePolicy': 2,
  'AWS::Lambda::Function': 3,
  'AWS::Lambda::EventSourceMapping': 1,
  'AWS::IAM::Role': 3,
  'AWS::ApiGateway::RestApi': 1,
  'AWS::ApiGateway::Stage': 1,
  'AWS::ApiGateway::UsagePlan': 1,
  'AWS::ApiGateway::ApiKey': 1,
  'AWS::ApiGateway::GatewayResponse': 9,
  'AWS::KMS::Key': 1,
  'AWS::SNS::Topic': 1,
  'AWS::CloudWatch::Alarm': 6, // DLQ depth, processor errors, queue age, API 5xx, DeliveriesFailed, SubscriptionsDisabled
  'AWS::Logs::LogGroup': 5,
};

type Resources = Record<string, { Type: string; Properties?: Record<string, any> }>;

function countByType(resources: Resources): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of Object.values(resources)) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
  return counts;
}

describe('integ.default app', () => {
  let outdir: string;
  let templates: Record<string, { Resources: Resources }>;

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-integ-'));
    const assembly = buildIntegApp(outdir).synth();
    templates = Object.fromEntries(assembly.stacks.map((s) => [s.stackName, s.template]));
  });

  afterAll(() => {
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  test('synthesizes exactly the two stacks into the given directory', () => {
    expect(Object.keys(templates).sort()).toEqual([DEFAULT_STACK_NAME, FIFO_STACK_NAME].sort());
    for (const name of [DEFAULT_STACK_NAME, FIFO_STACK_NAME]) {
      expect(fs.existsSync(path.join(outdir, `${name}.template.json`))).toBe(true);
    }
  });

  test.each([DEFAULT_STACK_NAME, FIFO_STACK_NAME])('%s has every resource type of the service, with the expected counts', (name) => {
    const counts = countByType(templates[name].Resources);
    const actual = Object.fromEntries(Object.keys(EXPECTED_COUNTS).map((type) => [type, counts[type] ?? 0]));
    // The FIFO stack has an alarm email: its subscription's dead-letter queue is one queue more.
    const extraQueue = name === FIFO_STACK_NAME ? 1 : 0;
    expect(actual).toEqual({
      ...EXPECTED_COUNTS,
      'AWS::SQS::Queue': EXPECTED_COUNTS['AWS::SQS::Queue'] + extraQueue,
      'AWS::SQS::QueuePolicy': EXPECTED_COUNTS['AWS::SQS::QueuePolicy'] + extraQueue,
    });
  });

  test('the default stack has standard queues and no alarm subscription', () => {
    const resources = Object.values(templates[DEFAULT_STACK_NAME].Resources);
    expect(resources.filter((r) => r.Type === 'AWS::SQS::Queue').map((q) => q.Properties?.FifoQueue)).toEqual([undefined, undefined]);
    expect(resources.filter((r) => r.Type === 'AWS::SNS::Subscription')).toHaveLength(0);
  });

  test('the FIFO stack has FIFO queues, the alarm email subscription and SES permission', () => {
    const resources = Object.values(templates[FIFO_STACK_NAME].Resources);
    expect(resources.filter((r) => r.Type === 'AWS::SQS::Queue').map((q) => q.Properties?.FifoQueue)).toEqual([true, true]);
    const subscriptions = resources.filter((r) => r.Type === 'AWS::SNS::Subscription');
    expect(subscriptions.map((s) => [s.Properties?.Protocol, s.Properties?.Endpoint])).toEqual([['email', 'ops@example.com']]);
    const statements = resources.filter((r) => r.Type === 'AWS::IAM::Policy').flatMap((p) => p.Properties?.PolicyDocument.Statement);
    expect(statements.filter((st) => st.Action === 'ses:SendEmail' || (Array.isArray(st.Action) && st.Action.includes('ses:SendEmail')))).toHaveLength(1);
  });
});
