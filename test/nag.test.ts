import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EventNotificationService, EventNotificationServiceProps } from '../src';

const ENV = { account: '123456789012', region: 'us-east-1' };

interface Violation {
  readonly ruleName: string;
  readonly severity?: string;
  readonly description: string;
  readonly violatingResources: { readonly constructPath?: string }[];
}

function buildApp(props: EventNotificationServiceProps, extend?: (stack: Stack) => void): App {
  const app = new App();
  const stack = new Stack(app, 'NagStack', { env: ENV });
  new EventNotificationService(stack, 'Notifications', props);
  extend?.(stack);
  app.synth(); // run aspects and lazy additions so the checked tree is the deployed one
  return app;
}

function nag(app: App): { success: boolean; violations: Violation[] } {
  return new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app) as { success: boolean; violations: Violation[] };
}

function describeViolations(violations: Violation[]): string {
  return violations
    .map((v) => `[${v.severity}] ${v.ruleName}: ${v.description}\n    ${v.violatingResources.map((r) => r.constructPath).join('\n    ')}`)
    .join('\n');
}

/** Fails with the violations listed, so a failing run says what to fix. */
function expectNoViolations(app: App): void {
  const report = nag(app);
  const errors = report.violations.filter((v) => v.severity === 'error');
  const warnings = report.violations.filter((v) => v.severity !== 'error');
  expect({ errors: describeViolations(errors), warnings: describeViolations(warnings) }).toEqual({ errors: '', warnings: '' });
  expect(report.violations).toHaveLength(0);
  expect(report.success).toBe(true);
}

const VARIANTS: [string, EventNotificationServiceProps][] = [
  ['default props', {}],
  ['fifo with email and alarmEmail', { fifo: true, email: { fromAddress: 'alerts@example.com' }, alarmEmail: 'ops@example.com' }],
  ['webAclArn', { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/notifications/a1b2c3d4' }],
];

describe('cdk-nag AwsSolutionsChecks', () => {
  test.each(VARIANTS)('%s: no errors and no warnings', (_name, props) => {
    expectNoViolations(buildApp(props));
  });

  test('the check is live: an unencrypted, TLS-optional queue next to the service is reported', () => {
    const app = buildApp({}, (stack) => {
      new sqs.Queue(stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    });
    const report = nag(app);
    expect(report.success).toBe(false);
    const rules = report.violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS4']));
    // ... and only that queue is reported: nothing inside the service.
    for (const v of report.violations) {
      for (const r of v.violatingResources) expect(r.constructPath).toMatch(/^NagStack\/Careless\//);
    }
  });

  test('the APIG3 (WAF) acknowledgment is present only without webAclArn', () => {
    const acknowledgedIds = (app: App) => new Set(app.node.findAll()
      .flatMap((c) => c.node.metadata)
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.keys(m.data as Record<string, string>))
      .map((id) => id.replace(/^annotation::/i, '')));
    expect(acknowledgedIds(buildApp({})).has('AwsSolutions-APIG3')).toBe(true);
    expect(acknowledgedIds(buildApp({ webAclArn: VARIANTS[2][1].webAclArn })).has('AwsSolutions-APIG3')).toBe(false);
  });
});

describe('acknowledgments', () => {
  test.each(VARIANTS)('%s: every acknowledged rule has a reason of at least 20 characters', (_name, props) => {
    const app = buildApp(props);
    const acknowledgments = app.node.findAll().flatMap((construct) => construct.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, unknown>))
      .map(([rule, reason]) => ({ path: construct.node.path, rule, reason })))
      // CDK appends one metadata entry per acknowledge() call, repeating earlier rules: keep one of each.
      .filter((a, i, all) => all.findIndex((b) => b.path === a.path && b.rule === a.rule) === i);
    // The construct does acknowledge findings (API key auth, CDK grant wildcards); an empty list
    // would mean this walk found nothing and the check below proved nothing.
    expect(acknowledgments.length).toBeGreaterThan(5);
    const weak = acknowledgments.filter(({ reason }) => typeof reason !== 'string' || reason.trim().length < 20);
    expect(weak).toEqual([]);
  });
});
