import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { EventNotificationService, EventNotificationServiceProps, InboundWebhookSource } from '../../src';

/*
 * The synthesized template of the construct, with every CloudFormation intrinsic resolved to the
 * concrete value a deployment in ACCOUNT/REGION would give it. Physical names are ours
 * (`<prefix>-<logicalId>`), so a local table name, queue URL or secret ARN handed to a handler
 * names exactly one template resource, and an ARN built from it leads back to that resource.
 */

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const PARTITION = 'aws';

export type Json = any;
export type PolicyDocument = { Version?: string; Statement: Json[] };

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, Json>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, TemplateResource>;
}

/** A synthesized service: the template as deployed (from the cloud assembly) and where its assets are. */
export interface SynthesizedService {
  readonly name: string;
  readonly template: CfnTemplate;
  /** Asset folder of each function (by logical id), as the assembly stages it for upload. */
  readonly assetDirs: Readonly<Record<string, string>>;
}

/** The inbound webhook source of the all-props variant: GitHub, its secret under a customer-managed key. */
export const INBOUND_SOURCE_NAME = 'gh';
export const EMAIL_FROM = 'alerts@notify.example.com';
export const CONFIGURATION_SET = 'ens-deliveries';
export const SCHEMA_EVENT_TYPE = 'iam.schema.checked';

/**
 * The two variants the harness evaluates: every default, and every prop that changes what the
 * functions may call (FIFO queues, email with a configuration set, schemas, an inbound source
 * whose secret has its own customer-managed key).
 */
export function synthesizeService(variant: 'default' | 'all-props'): SynthesizedService {
  const app = new App();
  const stack = new Stack(app, variant === 'default' ? 'IamDefault' : 'IamAllProps',
    variant === 'default' ? {} : { env: { account: ACCOUNT, region: REGION } });
  let props: EventNotificationServiceProps = {};
  if (variant === 'all-props') {
    const secretKey = new kms.Key(stack, 'WebhookSecretKey', { enableKeyRotation: true });
    const secret = new secretsmanager.Secret(stack, 'GithubSecret', { encryptionKey: secretKey });
    props = {
      fifo: true,
      email: { fromAddress: EMAIL_FROM, configurationSetName: CONFIGURATION_SET },
      eventSchemas: { [SCHEMA_EVENT_TYPE]: { type: apigateway.JsonSchemaType.OBJECT, required: ['details'] } },
      inboundWebhooks: [InboundWebhookSource.github({ name: INBOUND_SOURCE_NAME, secret })],
      webhook: { timeout: Duration.seconds(5) },
    };
  }
  new EventNotificationService(stack, 'Svc', props);
  const assembly = app.synth();
  const artifact = assembly.getStackArtifact(stack.artifactId);
  const template = JSON.parse(fs.readFileSync(path.join(assembly.directory, artifact.templateFile), 'utf8')) as CfnTemplate;
  const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'));
  const assetDirs: Record<string, string> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const key = resource.Properties?.Code?.S3Key;
    const asset = Object.values(manifest.files as Record<string, any>)
      .find((f) => Object.values(f.destinations as Record<string, any>).some((d) => d.objectKey === key));
    if (asset) assetDirs[id] = path.join(assembly.directory, asset.source.path);
  }
  return { name: variant, template, assetDirs };
}

/** `SvcQueuesEvents5A72588A` → `SvcQueuesEvents`: a logical id without CDK's hash, for messages. */
export function label(logicalId: string): string {
  return logicalId.replace(/[0-9A-F]{8}$/, '');
}

/** What the harness needs to know about one function of the template. */
export interface FunctionWiring {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly roleId: string;
  readonly roleArn: string;
  /** The principal of the function's requests: its role's session, as Lambda assumes it. */
  readonly sessionArn: string;
  /** The environment the template gives the function, every intrinsic resolved. */
  readonly environment: Record<string, string>;
  readonly logGroupName?: string;
}

/** The template with its intrinsics resolved (see the file comment). */
export class ResolvedTemplate {
  public readonly resources: Readonly<Record<string, TemplateResource>>;
  private readonly byArn = new Map<string, string>();

  constructor(public readonly service: SynthesizedService, private readonly prefix = service.name) {
    this.resources = service.template.Resources;
    for (const id of Object.keys(this.resources)) {
      const arn = this.arnOf(id);
      if (arn) this.byArn.set(arn, id);
    }
  }

  public ofType(type: string): [string, TemplateResource][] {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  public properties(logicalId: string): Record<string, Json> {
    return this.resource(logicalId).Properties ?? {};
  }

  /** The physical name CloudFormation would give the resource: its name property, else ours. */
  public physicalName(logicalId: string): string {
    const resource = this.resource(logicalId);
    const nameProperty = NAME_PROPERTIES[resource.Type];
    const given = nameProperty ? resource.Properties?.[nameProperty] : undefined;
    if (given !== undefined) return String(this.resolve(given));
    const generated = `${this.prefix}-${logicalId}`;
    return resource.Type === 'AWS::SQS::Queue' && resource.Properties?.FifoQueue ? `${generated}.fifo` : generated;
  }

  /** `Ref` as CloudFormation returns it for the resource's type. */
  public ref(logicalId: string): string {
    switch (logicalId) {
      case 'AWS::Partition': return PARTITION;
      case 'AWS::Region': return REGION;
      case 'AWS::AccountId': return ACCOUNT;
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return this.prefix;
      case 'AWS::NoValue': throw new Error('AWS::NoValue is not supported by this resolver');
      default: break;
    }
    const resource = this.resource(logicalId);
    const name = this.physicalName(logicalId);
    switch (resource.Type) {
      case 'AWS::SQS::Queue': return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
      case 'AWS::SNS::Topic': return `arn:${PARTITION}:sns:${REGION}:${ACCOUNT}:${name}`;
      case 'AWS::SecretsManager::Secret': return `arn:${PARTITION}:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
      case 'AWS::KMS::Key': return keyId(this.prefix, logicalId);
      case 'AWS::ApiGateway::RestApi': return idOf(this.prefix, logicalId, 10);
      case 'AWS::ApiGateway::Resource': return idOf(this.prefix, logicalId, 6);
      case 'AWS::ApiGateway::Deployment': return idOf(this.prefix, logicalId, 6);
      default: return name;
    }
  }

  /** `Fn::GetAtt` for the attributes the construct's template uses; anything else is an error. */
  public getAtt(logicalId: string, attribute: string): string {
    const resource = this.resource(logicalId);
    const name = this.physicalName(logicalId);
    const arn = (service: string, resourcePart: string) => `arn:${PARTITION}:${service}:${REGION}:${ACCOUNT}:${resourcePart}`;
    const table: Record<string, Record<string, () => string>> = {
      'AWS::DynamoDB::Table': { Arn: () => arn('dynamodb', `table/${name}`) },
      'AWS::SQS::Queue': { Arn: () => arn('sqs', name), QueueName: () => name, QueueUrl: () => this.ref(logicalId) },
      'AWS::SNS::Topic': { TopicArn: () => this.ref(logicalId), TopicName: () => name },
      'AWS::KMS::Key': { Arn: () => arn('kms', `key/${this.ref(logicalId)}`), KeyId: () => this.ref(logicalId) },
      'AWS::IAM::Role': { Arn: () => `arn:${PARTITION}:iam::${ACCOUNT}:role/${name}`, RoleId: () => idOf(this.prefix, logicalId, 21) },
      'AWS::Lambda::Function': { Arn: () => arn('lambda', `function:${name}`) },
      'AWS::Logs::LogGroup': { Arn: () => arn('logs', `log-group:${name}:*`) },
      'AWS::CloudWatch::Alarm': { Arn: () => arn('cloudwatch', `alarm:${name}`) },
      'AWS::ApiGateway::RestApi': { RootResourceId: () => idOf(this.prefix, `${logicalId}/root`, 10) },
      'AWS::SecretsManager::Secret': { Id: () => this.ref(logicalId) },
    };
    const get = table[resource.Type]?.[attribute];
    if (!get) throw new Error(`Fn::GetAtt ${logicalId}.${attribute} (${resource.Type}) is not supported by this resolver`);
    return get();
  }

  /** Resolves every intrinsic in `value` (deeply). Unknown intrinsics are errors, never guesses. */
  public resolve(value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
      const [fn] = keys;
      const arg = value[fn];
      switch (fn) {
        case 'Ref': return this.ref(arg);
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
          return this.getAtt(id, attribute);
        }
        case 'Fn::Join': return (this.resolve(arg[1]) as Json[]).join(arg[0]);
        case 'Fn::Select': return (this.resolve(arg[1]) as Json[])[Number(this.resolve(arg[0]))];
        case 'Fn::Split': return String(this.resolve(arg[1])).split(arg[0]);
        case 'Fn::Sub': {
          const [text, variables] = Array.isArray(arg) ? arg : [arg, {}];
          return String(text).replace(/\$\{([^}!]+)\}/g, (_m, name: string) => {
            if (variables[name] !== undefined) return String(this.resolve(variables[name]));
            const [id, attribute] = name.split('.');
            return attribute ? this.getAtt(id, attribute) : this.ref(id);
          });
        }
        default: throw new Error(`${fn} is not supported by this resolver`);
      }
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
  }

  /** The ARN IAM uses for the resource, for the types requests and policies name. */
  public arnOf(logicalId: string): string | undefined {
    const type = this.resource(logicalId).Type;
    switch (type) {
      case 'AWS::DynamoDB::Table':
      case 'AWS::SQS::Queue':
      case 'AWS::KMS::Key':
      case 'AWS::IAM::Role':
      case 'AWS::Lambda::Function':
      case 'AWS::CloudWatch::Alarm': return this.getAtt(logicalId, 'Arn');
      case 'AWS::Logs::LogGroup': return this.getAtt(logicalId, 'Arn').replace(/:\*$/, '');
      case 'AWS::SNS::Topic':
      case 'AWS::SecretsManager::Secret': return this.ref(logicalId);
      default: return undefined;
    }
  }

  /** The template resource an ARN of a request names (a table's index names its table). */
  public logicalIdOfArn(arn: string): string | undefined {
    const base = arn
      .replace(/^(arn:[^:]+:dynamodb:[^:]+:[^:]+:table\/[^/]+)\/index\/.+$/, '$1')
      .replace(/^(arn:[^:]+:logs:[^:]+:[^:]+:log-group:[^:]+):log-stream:.*$/, '$1');
    return this.byArn.get(base);
  }

  /** The ARN of the KMS key that encrypts a resource, when the template says so. */
  public encryptionKeyOf(logicalId: string): string | undefined {
    const p = this.properties(logicalId);
    const type = this.resource(logicalId).Type;
    const key = type === 'AWS::DynamoDB::Table' ? p.SSESpecification?.KMSMasterKeyId
      : type === 'AWS::SQS::Queue' || type === 'AWS::SNS::Topic' ? p.KmsMasterKeyId
        : type === 'AWS::SecretsManager::Secret' ? p.KmsKeyId
          : undefined;
    return key === undefined ? undefined : String(this.resolve(key));
  }

  /** The identity policies of a role: its inline policies and every AWS::IAM::Policy attached to it. */
  public identityPoliciesOf(roleId: string): { name: string; policy: PolicyDocument }[] {
    const role = this.properties(roleId);
    if ((role.ManagedPolicyArns ?? []).length > 0) {
      throw new Error(`${roleId} has managed policies, which this harness cannot evaluate: ${JSON.stringify(role.ManagedPolicyArns)}`);
    }
    const inline = (role.Policies ?? []).map((p: Json) => ({ name: String(p.PolicyName), policy: this.resolve(p.PolicyDocument) }));
    const attached = this.ofType('AWS::IAM::Policy')
      .filter(([, r]) => (r.Properties?.Roles ?? []).some((ref: Json) => ref?.Ref === roleId))
      .map(([id, r]) => ({ name: id, policy: this.resolve(r.Properties!.PolicyDocument) }));
    return [...inline, ...attached];
  }

  /** The resource policy IAM evaluates for a resource (queue, topic, key, function, table, secret). */
  public resourcePolicyOf(logicalId: string): PolicyDocument | undefined {
    const resource = this.resource(logicalId);
    const statements: Json[] = [];
    const attachedVia = (type: string, property: string, documentProperty: string, matches: (ref: Json) => boolean) => {
      for (const [, r] of this.ofType(type)) {
        const targets = r.Properties?.[property];
        const list = Array.isArray(targets) ? targets : [targets];
        if (list.some(matches)) statements.push(...this.resolve(r.Properties![documentProperty]).Statement);
      }
    };
    const isRef = (ref: Json) => ref?.Ref === logicalId;
    switch (resource.Type) {
      case 'AWS::SQS::Queue': attachedVia('AWS::SQS::QueuePolicy', 'Queues', 'PolicyDocument', isRef); break;
      case 'AWS::SNS::Topic': attachedVia('AWS::SNS::TopicPolicy', 'Topics', 'PolicyDocument', isRef); break;
      case 'AWS::SecretsManager::Secret': attachedVia('AWS::SecretsManager::ResourcePolicy', 'SecretId', 'ResourcePolicy', isRef); break;
      case 'AWS::KMS::Key': statements.push(...this.resolve(resource.Properties!.KeyPolicy).Statement); break;
      case 'AWS::DynamoDB::Table':
        if (resource.Properties?.ResourcePolicy) statements.push(...this.resolve(resource.Properties.ResourcePolicy.PolicyDocument).Statement);
        break;
      case 'AWS::Lambda::Function': statements.push(...this.lambdaPermissionStatements(logicalId)); break;
      default: break;
    }
    return statements.length > 0 ? { Version: '2012-10-17', Statement: statements } : undefined;
  }

  /** AWS::Lambda::Permission resources as the statements of the function's resource policy. */
  private lambdaPermissionStatements(functionId: string): Json[] {
    const arn = this.getAtt(functionId, 'Arn');
    const name = this.physicalName(functionId);
    return this.ofType('AWS::Lambda::Permission')
      .map(([id, r]) => ({ id, p: this.resolve(r.Properties) as Record<string, string> }))
      .filter(({ p }) => p.FunctionName === arn || p.FunctionName === name)
      .map(({ id, p }) => {
        const condition: Record<string, Record<string, string>> = {};
        if (p.SourceArn) condition.ArnLike = { 'AWS:SourceArn': p.SourceArn };
        if (p.SourceAccount) condition.StringEquals = { 'AWS:SourceAccount': p.SourceAccount };
        const principal = /^\d{12}$/.test(p.Principal) ? { AWS: `arn:${PARTITION}:iam::${p.Principal}:root` }
          : p.Principal.includes('.') ? { Service: p.Principal } : { AWS: p.Principal };
        return {
          Sid: id,
          Effect: 'Allow',
          Principal: principal,
          Action: p.Action,
          Resource: arn,
          ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
        };
      });
  }

  /** Each function with its role, the environment the template gives it and its log group. */
  public functions(): FunctionWiring[] {
    return this.ofType('AWS::Lambda::Function').map(([logicalId, r]) => {
      const p = r.Properties ?? {};
      const roleArn = String(this.resolve(p.Role));
      const roleId = this.logicalIdOfArn(roleArn);
      if (!roleId) throw new Error(`${logicalId}: its role ${roleArn} is not a role of the template`);
      const name = this.physicalName(logicalId);
      return {
        logicalId,
        name,
        arn: this.getAtt(logicalId, 'Arn'),
        roleId,
        roleArn,
        sessionArn: `arn:${PARTITION}:sts::${ACCOUNT}:assumed-role/${this.physicalName(roleId)}/${name}`,
        environment: this.resolve(p.Environment?.Variables ?? {}),
        logGroupName: p.LoggingConfig?.LogGroup ? String(this.resolve(p.LoggingConfig.LogGroup)) : undefined,
      };
    });
  }

  /** The function whose logical id starts with `Svc<Name>Function` (Ingest, Management, Processor). */
  public fn(name: 'Ingest' | 'Management' | 'Processor'): FunctionWiring {
    const found = this.functions().filter((f) => f.logicalId.startsWith(`Svc${name}Function`));
    if (found.length !== 1) throw new Error(`expected one ${name} function, found ${found.map((f) => f.logicalId).join(', ')}`);
    return found[0];
  }

  /** The partition key of a table (or of one of its indexes), by physical table name. */
  public partitionKey(tableName: string, indexName?: string): string {
    const entry = this.ofType('AWS::DynamoDB::Table').find(([id]) => this.physicalName(id) === tableName);
    if (!entry) throw new Error(`no table named ${tableName} in the template`);
    const p = entry[1].Properties!;
    const schema = indexName
      ? [...(p.GlobalSecondaryIndexes ?? []), ...(p.LocalSecondaryIndexes ?? [])].find((i: Json) => i.IndexName === indexName)?.KeySchema
      : p.KeySchema;
    const hash = (schema ?? []).find((k: Json) => k.KeyType === 'HASH');
    if (!hash) throw new Error(`no partition key for ${tableName}${indexName ? `/index/${indexName}` : ''}`);
    return hash.AttributeName;
  }

  private resource(logicalId: string): TemplateResource {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`no resource ${logicalId} in the template`);
    return resource;
  }
}

/** The property that names a resource of each type, when the template sets it. */
const NAME_PROPERTIES: Record<string, string> = {
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::ApiGateway::Stage': 'StageName',
};

function hex(...parts: string[]): string {
  return createHash('sha256').update(parts.join('/')).digest('hex');
}

/** A KMS key id (a UUID) that is stable per template resource. */
function keyId(prefix: string, logicalId: string): string {
  const h = hex(prefix, logicalId);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** An API Gateway style id (lower-case alphanumerics) that is stable per template resource. */
function idOf(prefix: string, logicalId: string, length: number): string {
  return hex(prefix, logicalId).slice(0, length);
}
