import { App, CfnElement, SecretValue, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct } from 'constructs';
import * as z from 'zod';
import { readConfig } from '../../lambda/adapters/config';
import { ingestConfigSchema } from '../../lambda/adapters/ingest-config';
import { inboundSourceSchema } from '../../lambda/core/inbound-webhooks';
import {
  EventNotificationService, EventNotificationServiceProps, HmacAlgorithm, InboundWebhookSource, Severity, SignatureEncoding,
} from '../../src';
import { functionSettings } from '../helpers/function-settings';
import { describeViolations, nag } from '../helpers/nag';

const ENV = { account: '123456789012', region: 'us-east-1' };
const SHOP_SECRET_VALUE = 'shpss_do-not-leak-this-signing-secret';
const IMPORTED_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/partner-AbCdEf';

interface Synthesized {
  readonly app: App;
  readonly stack: Stack;
  readonly svc: EventNotificationService;
  readonly template: Template;
  readonly shopSecret: secretsmanager.Secret;
  readonly ciSecret: secretsmanager.Secret;
}

type Sources = (secrets: { shop: secretsmanager.ISecret; ci: secretsmanager.ISecret; stack: Stack }) => InboundWebhookSource[] | undefined;

/** The two sources of the brief: a Shopify one and a fully configured generic HMAC one. */
const SHOP_AND_CI: Sources = ({ shop, ci }) => [
  InboundWebhookSource.shopify({ name: 'shop', secret: shop }),
  InboundWebhookSource.hmac({
    name: 'ci',
    secret: ci,
    severity: Severity.HIGH,
    header: 'X-Signature',
    algorithm: HmacAlgorithm.SHA512,
    encoding: SignatureEncoding.BASE64,
    prefix: 'v1=',
    eventTypeHeader: 'X-Event-Type',
    deliveryIdHeader: 'X-Delivery-Id',
  }),
];

function synth(sources: Sources | undefined, props: EventNotificationServiceProps = {}): Synthesized {
  const app = new App();
  const stack = new Stack(app, 'InboundStack', { env: ENV });
  const shopSecret = new secretsmanager.Secret(stack, 'ShopSecret', { secretStringValue: SecretValue.unsafePlainText(SHOP_SECRET_VALUE) });
  const ciSecret = new secretsmanager.Secret(stack, 'CiSecret');
  const svc = new EventNotificationService(stack, 'Svc', {
    ...props,
    ...(sources ? { inboundWebhooks: sources({ shop: shopSecret, ci: ciSecret, stack }) } : {}),
  });
  return { app, stack, svc, template: Template.fromStack(stack), shopSecret, ciSecret };
}

const logicalId = (stack: Stack, construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const refOf = (stack: Stack, construct: IConstruct) => ({ Ref: logicalId(stack, construct) });
const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resourcesOf = (s: Synthesized): Resources => s.template.toJSON().Resources;

/** Turns an `Fn::Join` of strings and `Ref`s into one string, each Ref written `<Ref:LogicalId>`. */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return `<Ref:${v.Ref}>`;
  if (v['Fn::Join']) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(joined).join(separator);
  }
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

/** The webhooks resources: `/webhooks` under the root and `/webhooks/{source}` under it. */
function webhookResources(s: Synthesized): { webhooks?: string; source?: string } {
  const resources = Object.entries(resourcesOf(s)).filter(([, r]) => r.Type === 'AWS::ApiGateway::Resource');
  const webhooks = resources.find(([, r]) => r.Properties.PathPart === 'webhooks');
  const source = webhooks && resources.find(([, r]) => r.Properties.PathPart === '{source}' && r.Properties.ParentId?.Ref === webhooks[0]);
  return { webhooks: webhooks?.[0], source: source?.[0] };
}

interface Statement {
  readonly Action: string[];
  readonly Resource: unknown[];
  readonly Effect: string;
}

/** Every statement of the policies attached to a function's role. */
function statementsOf(s: Synthesized, fn: lambda.IFunction): Statement[] {
  const roleId = logicalId(s.stack, fn.role!);
  return Object.values(resourcesOf(s))
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, unknown>[])
    .map((st) => ({ Action: asArray(st.Action as string | string[]), Resource: asArray(st.Resource), Effect: st.Effect as string }));
}

const secretsStatements = (statements: Statement[]) => statements.filter((st) => st.Action.some((a) => a.startsWith('secretsmanager:')));

function environmentOf(s: Synthesized, fn: lambda.IFunction): Record<string, unknown> {
  return resourcesOf(s)[logicalId(s.stack, fn)].Properties.Environment?.Variables ?? {};
}

describe('EventNotificationService with inbound webhooks', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synth(SHOP_AND_CI);
  });

  test('POST /webhooks/{source} exists, needs no API key, and goes to the ingest function', () => {
    const { webhooks, source } = webhookResources(s);
    expect(webhooks).toBeDefined();
    expect(source).toBeDefined();
    expect(resourcesOf(s)[webhooks!].Properties.ParentId).toEqual({ 'Fn::GetAtt': [logicalId(s.stack, s.svc.api), 'RootResourceId'] });

    const methods = Object.values(resourcesOf(s)).filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.ResourceId?.Ref === source);
    expect(methods.map((m) => m.Properties.HttpMethod)).toEqual(['POST']);
    const method = methods[0].Properties;
    expect(method.ApiKeyRequired).toBe(false);
    expect(method.AuthorizationType).toBe('NONE');
    expect(method.RequestParameters).toEqual({ 'method.request.path.source': true });
    expect(method.Integration.Type).toBe('AWS_PROXY');
    expect(JSON.stringify(method.Integration.Uri)).toContain(logicalId(s.stack, s.svc.ingestFunction));
    // No methods on /webhooks itself.
    expect(Object.values(resourcesOf(s)).filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.ResourceId?.Ref === webhooks)).toEqual([]);
  });

  test('every other method still requires an API key', () => {
    const { source } = webhookResources(s);
    const others = Object.values(resourcesOf(s)).filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.ResourceId?.Ref !== source);
    expect(others.length).toBeGreaterThanOrEqual(7);
    for (const method of others) expect(method.Properties.ApiKeyRequired).toBe(true);
  });

  test('the stage throttles POST /webhooks/{source} itself (the usage plan cannot: there is no key)', () => {
    const stages = Object.values(resourcesOf(s)).filter((r) => r.Type === 'AWS::ApiGateway::Stage');
    expect(stages).toHaveLength(1);
    const settings = stages[0].Properties.MethodSettings as Record<string, unknown>[];
    expect(settings).toContainEqual(expect.objectContaining({
      ResourcePath: '/~1webhooks~1{source}',
      HttpMethod: 'POST',
      ThrottlingRateLimit: 100,
      ThrottlingBurstLimit: 200,
    }));
  });

  test('the method throttling follows the throttle prop', () => {
    const custom = synth(SHOP_AND_CI, { throttle: { rateLimit: 7, burstLimit: 15 } });
    const stage = Object.values(resourcesOf(custom)).find((r) => r.Type === 'AWS::ApiGateway::Stage')!;
    const webhookSetting = (stage.Properties.MethodSettings as Record<string, unknown>[]).find((m) => m.ResourcePath === '/~1webhooks~1{source}');
    expect(webhookSetting).toMatchObject({ HttpMethod: 'POST', ThrottlingRateLimit: 7, ThrottlingBurstLimit: 15 });
  });

  /** The inbound sources as the ingest handler reads them: settings file + INBOUND_SECRET_IDS, through its own config schema. */
  const handlerSources = (synthesized: Synthesized) => {
    const settings = functionSettings(synthesized.stack, synthesized.svc.ingestFunction);
    const flat = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, joined(v)]));
    return readConfig(ingestConfigSchema, flat).INBOUND_SOURCES;
  };

  test('the ingest function reads both sources with the secret ARN (a reference), never the secret value', () => {
    const settings = functionSettings(s.stack, s.svc.ingestFunction);
    // The descriptions travel in the asset's settings file; the deploy-time ARNs in the environment.
    expect(environmentOf(s, s.svc.ingestFunction)).not.toHaveProperty('INBOUND_SOURCES');
    expect(JSON.parse(settings.INBOUND_SOURCES as string).every((source: object) => !('secretId' in source))).toBe(true);
    expect(handlerSources(s)).toEqual([
      { name: 'shop', provider: 'shopify', secretId: `<Ref:${logicalId(s.stack, s.shopSecret)}>`, severity: 'MEDIUM' },
      {
        name: 'ci',
        provider: 'hmac',
        secretId: `<Ref:${logicalId(s.stack, s.ciSecret)}>`,
        severity: 'HIGH',
        header: 'X-Signature',
        algorithm: 'sha512',
        encoding: 'base64',
        prefix: 'v1=',
        eventTypeHeader: 'X-Event-Type',
        deliveryIdHeader: 'X-Delivery-Id',
      },
    ]);
    // Ref of an AWS::SecretsManager::Secret is its ARN.
    expect(resourcesOf(s)[logicalId(s.stack, s.shopSecret)].Type).toBe('AWS::SecretsManager::Secret');
    expect(JSON.stringify(resourcesOf(s)[logicalId(s.stack, s.svc.ingestFunction)])).not.toContain(SHOP_SECRET_VALUE);
    expect(JSON.stringify(settings)).not.toContain(SHOP_SECRET_VALUE);
  });

  test('each source is exactly what the ingest function parses (lambda/core inboundSourceSchema, strict)', () => {
    const sources = handlerSources(s);
    const parsed = z.array(inboundSourceSchema.strict()).safeParse(sources);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(parsed.data).toEqual(sources);
  });

  test('only the ingest function gets INBOUND_SOURCES', () => {
    expect(environmentOf(s, s.svc.managementFunction)).not.toHaveProperty('INBOUND_SOURCES');
    expect(environmentOf(s, s.svc.processorFunction)).not.toHaveProperty('INBOUND_SOURCES');
  });

  test('the ingest role may read exactly those two secrets, and nothing else of Secrets Manager', () => {
    const statements = secretsStatements(statementsOf(s, s.svc.ingestFunction));
    expect(statements.length).toBeGreaterThan(0);
    for (const st of statements) {
      expect(st.Effect).toBe('Allow');
      expect([...st.Action].sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    }
    const readable = statements.filter((st) => st.Action.includes('secretsmanager:GetSecretValue')).flatMap((st) => st.Resource);
    expect(readable).toHaveLength(2);
    expect(readable).toEqual(expect.arrayContaining([refOf(s.stack, s.shopSecret), refOf(s.stack, s.ciSecret)]));
  });

  test('the other functions may not read the secrets', () => {
    expect(secretsStatements(statementsOf(s, s.svc.managementFunction))).toEqual([]);
    expect(secretsStatements(statementsOf(s, s.svc.processorFunction))).toEqual([]);
  });

  test('an imported secret is granted by its ARN and passed by its ARN', () => {
    const imported = synth(({ stack }) => [
      InboundWebhookSource.github({ name: 'gh', secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Imported', IMPORTED_ARN) }),
    ]);
    expect(handlerSources(imported)).toEqual([{ name: 'gh', provider: 'github', secretId: IMPORTED_ARN, severity: 'MEDIUM' }]);
    const readable = secretsStatements(statementsOf(imported, imported.svc.ingestFunction)).flatMap((st) => st.Resource);
    expect(readable).toEqual([IMPORTED_ARN]);
  });

  test('a secret encrypted with a customer-managed key: the ingest role may decrypt with it, through Secrets Manager only', () => {
    const withKey = synth(({ stack }) => {
      const key = new kms.Key(stack, 'SecretKey', { enableKeyRotation: true });
      return [InboundWebhookSource.stripe({ name: 'pay', secret: new secretsmanager.Secret(stack, 'PaySecret', { encryptionKey: key }) })];
    });
    const [, key] = Object.entries(resourcesOf(withKey)).find(([id, r]) => r.Type === 'AWS::KMS::Key' && id.startsWith('SecretKey'))!;
    const ingestRole = logicalId(withKey.stack, withKey.svc.ingestFunction.role!);
    const grants = (key.Properties.KeyPolicy.Statement as Record<string, any>[])
      .filter((st) => JSON.stringify(st.Principal ?? {}).includes(ingestRole) && asArray(st.Action).includes('kms:Decrypt'));
    expect(grants).toHaveLength(1);
    expect(grants[0].Condition).toEqual({ StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } });
  });
});

describe('EventNotificationService without inbound webhooks', () => {
  test.each([
    ['inboundWebhooks omitted', undefined],
    ['inboundWebhooks: []', (() => []) as Sources],
  ])('%s: no /webhooks resource, no INBOUND_SOURCES, no method throttling, no secret access', (_name, sources) => {
    const s = synth(sources);
    expect(webhookResources(s)).toEqual({ webhooks: undefined, source: undefined });
    expect(JSON.stringify(s.template.toJSON())).not.toMatch(/\/webhooks|\{source\}/);
    for (const fn of [s.svc.ingestFunction, s.svc.managementFunction, s.svc.processorFunction]) {
      expect(environmentOf(s, fn)).not.toHaveProperty('INBOUND_SOURCES');
      expect(secretsStatements(statementsOf(s, fn))).toEqual([]);
    }
    const stage = Object.values(resourcesOf(s)).find((r) => r.Type === 'AWS::ApiGateway::Stage')!;
    const settings = stage.Properties.MethodSettings as Record<string, unknown>[];
    expect(settings.map((m) => `${m.ResourcePath} ${m.HttpMethod}`)).toEqual(['/* *']);
    // The rest of the API is unchanged: every method needs a key.
    const methods = Object.values(resourcesOf(s)).filter((r) => r.Type === 'AWS::ApiGateway::Method');
    expect(methods.length).toBeGreaterThanOrEqual(7);
    for (const method of methods) expect(method.Properties.ApiKeyRequired).toBe(true);
  });
});

describe('inboundWebhooks validation', () => {
  const build = (sources: Sources) => () => synth(sources);

  test.each(['Shop', 'shop_1', 'shop.front', 'has space', '', 'a'.repeat(33), 'ünïcode', '../etc'])('name %j is refused', (name) => {
    expect(build(({ shop }) => [InboundWebhookSource.shopify({ name, secret: shop })])).toThrow(/inboundWebhooks name ".*" must be 1-32 of a-z 0-9 -/);
  });

  test.each(['a', '0', 'my-shop-2', 'a'.repeat(32)])('name %j is accepted', (name) => {
    expect(build(({ shop }) => [InboundWebhookSource.shopify({ name, secret: shop })])).not.toThrow();
  });

  test('a name used twice is refused, even across providers', () => {
    expect(build(({ shop, ci }) => [
      InboundWebhookSource.shopify({ name: 'hooks', secret: shop }),
      InboundWebhookSource.github({ name: 'hooks', secret: ci }),
    ])).toThrow(/inboundWebhooks name "hooks" is used twice/);
  });

  test.each(['X Signature', 'X-Signature:', 'X_Signature', '', 'x'.repeat(65), 'X-Sig\n'])('signature header %j is refused', (header) => {
    expect(build(({ ci }) => [InboundWebhookSource.hmac({ name: 'ci', secret: ci, header })]))
      .toThrow(/inboundWebhooks "ci": header "[^]*" is not a header name/);
  });

  test('a bad event-type or delivery-id header name is refused', () => {
    expect(build(({ ci }) => [InboundWebhookSource.hmac({ name: 'ci', secret: ci, header: 'X-Sig', eventTypeHeader: 'X Event' })]))
      .toThrow(/inboundWebhooks "ci": "X Event" is not a header name/);
    expect(build(({ ci }) => [InboundWebhookSource.hmac({ name: 'ci', secret: ci, header: 'X-Sig', deliveryIdHeader: 'X-Id:' })]))
      .toThrow(/inboundWebhooks "ci": "X-Id:" is not a header name/);
  });

  test('a 64-character header name is accepted', () => {
    expect(build(({ ci }) => [InboundWebhookSource.hmac({ name: 'ci', secret: ci, header: 'X'.repeat(64) })])).not.toThrow();
  });
});

describe('InboundWebhookSource factories', () => {
  const stack = new Stack();
  const secret = new secretsmanager.Secret(stack, 'S');

  test('provider, severity default and generic HMAC defaults', () => {
    const shop = InboundWebhookSource.shopify({ name: 'shop', secret });
    expect(shop).toMatchObject({ name: 'shop', provider: 'shopify', severity: Severity.MEDIUM, secret });
    expect(shop.hmacHeader).toBeUndefined();
    expect(InboundWebhookSource.github({ name: 'gh', secret }).provider).toBe('github');
    expect(InboundWebhookSource.stripe({ name: 'pay', secret, severity: Severity.CRITICAL })).toMatchObject({ provider: 'stripe', severity: 'CRITICAL' });
    expect(InboundWebhookSource.standardWebhooks({ name: 'std', secret }).provider).toBe('standard-webhooks');
    expect(InboundWebhookSource.hmac({ name: 'h', secret, header: 'X-Sig' })).toMatchObject({
      provider: 'hmac',
      hmacHeader: 'X-Sig',
      hmacAlgorithm: 'sha256',
      hmacEncoding: 'hex',
      hmacPrefix: undefined,
      eventTypeHeader: undefined,
      deliveryIdHeader: undefined,
    });
  });
});

describe('cdk-nag AwsSolutionsChecks with inbound webhooks', () => {
  test('every provider, secrets imported by ARN: no errors and no warnings', () => {
    const app = new App();
    const stack = new Stack(app, 'InboundStack', { env: ENV });
    const imported = (name: string) => secretsmanager.Secret.fromSecretCompleteArn(stack, `Imported-${name}`, IMPORTED_ARN.replace('partner', name));
    new EventNotificationService(stack, 'Svc', {
      inboundWebhooks: [
        InboundWebhookSource.shopify({ name: 'shop', secret: imported('shop') }),
        InboundWebhookSource.github({ name: 'gh', secret: imported('gh') }),
        InboundWebhookSource.stripe({ name: 'pay', secret: imported('pay') }),
        InboundWebhookSource.standardWebhooks({ name: 'std', secret: imported('std') }),
        InboundWebhookSource.hmac({ name: 'ci', secret: imported('ci'), header: 'X-Signature', algorithm: HmacAlgorithm.SHA512 }),
      ],
    });
    const report = nag(app);
    const errors = report.violations.filter((v) => v.severity === 'error');
    const warnings = report.violations.filter((v) => v.severity !== 'error');
    expect({ errors: describeViolations(errors), warnings: describeViolations(warnings) }).toEqual({ errors: '', warnings: '' });
    expect(report.violations).toHaveLength(0);
    expect(report.success).toBe(true);
  });

  test('secrets created next to the service: nothing is reported inside the service', () => {
    const s = synth(SHOP_AND_CI);
    const report = nag(s.app);
    const inside = report.violations.filter((v) => v.violatingResources.some((r) => r.constructPath?.startsWith('InboundStack/Svc/')));
    expect(describeViolations(inside)).toBe('');
    // What is reported is the caller's own secrets having no rotation schedule (a provider's
    // signing secret is rotated at the provider, not by a rotation Lambda).
    expect(report.violations.map((v) => v.ruleName)).toEqual(['AwsSolutions-SMG4']);
    expect(report.violations[0].violatingResources.map((r) => r.constructPath).sort())
      .toEqual(['InboundStack/CiSecret/Resource', 'InboundStack/ShopSecret/Resource']);
  });
});
