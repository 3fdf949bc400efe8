import { App, CfnResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { EventNotificationService, EventNotificationServiceProps, InboundWebhookSource, Isolation } from '../../src';
import { describeViolations, nag, PackName } from '../helpers/nag';

const ENV = { account: '123456789012', region: 'us-east-1' };

/** Every prop that adds resources or changes them. */
function allProps(stack: Stack): EventNotificationServiceProps {
  // Imported: a secret created here would be the consumer's own resource (and its own findings).
  const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'ShopSecret',
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:shop-webhook-AbCdEf');
  return {
    fifo: true,
    email: { fromAddress: 'alerts@example.com', configurationSetName: 'notifications' },
    alarmEmail: 'ops@example.com',
    webhook: { timeout: Duration.seconds(10) },
    eventSchemas: { 'order.created': { type: 'object' as any, required: ['details'] } },
    inboundWebhooks: [InboundWebhookSource.shopify({ name: 'shop', secret }), InboundWebhookSource.github({ name: 'gh', secret })],
    createApiGatewayCloudWatchRole: true,
    webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/notifications/a1b2c3d4',
    isolation: Isolation.API_KEY,
    throttle: { rateLimit: 50, burstLimit: 80 },
    quota: { limit: 100000 },
    maxSubscriptionsPerKey: 10,
  };
}

function buildApp(props: EventNotificationServiceProps | ((stack: Stack) => EventNotificationServiceProps), extend?: (stack: Stack) => void): App {
  const app = new App();
  const stack = new Stack(app, 'NagStack', { env: ENV });
  new EventNotificationService(stack, 'Notifications', typeof props === 'function' ? props(stack) : props);
  extend?.(stack);
  app.synth(); // run aspects and lazy additions so the checked tree is the deployed one
  return app;
}


/** Fails with the violations listed, so a failing run says what to fix. */
function expectNoViolations(app: App, pack: PackName): void {
  const report = nag(app, pack);
  const errors = report.violations.filter((v) => v.severity === 'error');
  const warnings = report.violations.filter((v) => v.severity !== 'error');
  expect({ errors: describeViolations(errors), warnings: describeViolations(warnings) }).toEqual({ errors: '', warnings: '' });
  expect(report.violations).toHaveLength(0);
  expect(report.success).toBe(true);
}

const APPS: [string, EventNotificationServiceProps | ((stack: Stack) => EventNotificationServiceProps)][] = [
  ['default props', {}],
  ['all props', allProps],
  ['fifo with email and alarmEmail', { fifo: true, email: { fromAddress: 'alerts@example.com' }, alarmEmail: 'ops@example.com' }],
  ['webAclArn', { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/notifications/a1b2c3d4' }],
  ['no dashboard, no tracing', { dashboard: false, tracing: false }],
];
const CASES = APPS.flatMap(([name, props]) => (['AwsSolutions', 'Serverless'] as const).map((pack) => [pack, name, props] as const));

describe('cdk-nag', () => {
  test.each(CASES)('%sChecks, %s: no errors and no warnings', (pack, _name, props) => {
    expectNoViolations(buildApp(props), pack);
  });

  test.each(['AwsSolutions', 'Serverless'] as const)('%sChecks is live: an unencrypted queue next to the service is reported, nothing inside it', (pack) => {
    const app = buildApp({}, (stack) => {
      new sqs.Queue(stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    });
    const report = nag(app, pack);
    expect(report.success).toBe(false);
    expect(report.violations.length).toBeGreaterThan(0);
    // ... and only that queue is reported: nothing inside the service.
    for (const v of report.violations) {
      for (const r of v.violatingResources) expect(r.constructPath).toMatch(/^NagStack\/Careless\//);
    }
  });

  test('the APIG3 (WAF) acknowledgment is present only without webAclArn', () => {
    const acknowledgedIds = (app: App) => new Set(acknowledgments(app).map((a) => a.rule.replace(/^annotation::/i, '')));
    expect(acknowledgedIds(buildApp({})).has('AwsSolutions-APIG3')).toBe(true);
    expect(acknowledgedIds(buildApp({ webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/n/a1' })).has('AwsSolutions-APIG3')).toBe(false);
  });
});

function acknowledgments(app: App): { path: string; rule: string; reason: unknown }[] {
  return app.node.findAll().flatMap((construct) => construct.node.metadata
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => Object.entries(m.data as Record<string, unknown>))
    .map(([rule, reason]) => ({ path: construct.node.path, rule, reason })))
    // CDK appends one metadata entry per acknowledge() call, repeating earlier rules: keep one of each.
    .filter((a, i, all) => all.findIndex((b) => b.path === a.path && b.rule === a.rule) === i);
}

/** The cdk_nag metadata (cdk-nag 2) of every CloudFormation resource. */
function nagMetadata(app: App): { path: string; id: string; reason: unknown }[] {
  return app.node.findAll()
    .filter((c): c is CfnResource => CfnResource.isCfnResource(c))
    .flatMap((resource) => ((resource.getMetadata('cdk_nag') as { rules_to_suppress?: { id: string; reason: unknown }[] } | undefined)?.rules_to_suppress ?? [])
      .map((r) => ({ path: resource.node.path, id: r.id, reason: r.reason })));
}

describe('acknowledgments', () => {
  test.each(APPS)('%s: every acknowledged rule has a reason of at least 20 characters, in both forms', (_name, props) => {
    const app = buildApp(props);
    const acks = acknowledgments(app);
    // The construct does acknowledge findings (API key auth, CDK grant wildcards); an empty list
    // would mean this walk found nothing and the check below proved nothing.
    expect(acks.length).toBeGreaterThan(5);
    expect(acks.filter(({ reason }) => typeof reason !== 'string' || reason.trim().length < 20)).toEqual([]);
    const metadata = nagMetadata(app);
    expect(metadata.length).toBeGreaterThan(5);
    expect(metadata.filter(({ reason }) => typeof reason !== 'string' || reason.trim().length < 20)).toEqual([]);
  });

  test('the Serverless acknowledgments name the reason they are by design', () => {
    const rules = new Set(acknowledgments(buildApp({})).map((a) => a.rule.replace(/^annotation::/i, '')));
    for (const rule of ['Serverless-LambdaDLQ', 'Serverless-LambdaEventSourceMappingDestination']) expect(rules.has(rule)).toBe(true);
  });
});
