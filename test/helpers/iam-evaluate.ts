import { getDenialReasons, runSimulation } from '@cloud-copilot/iam-simulate';
import { IamRequest } from './iam-recorder';
import { ACCOUNT, label, PolicyDocument, REGION, ResolvedTemplate } from './iam-template';

/*
 * Evaluates requests with iam-simulate against the resolved template: the caller role's identity
 * policies plus the target's resource policy (queue, topic, key, function policy). Also derives
 * the requests nobody's code makes but AWS does on its behalf (KMS behind SQS, DynamoDB, Secrets
 * Manager and SNS; Lambda writing logs; the SQS event source; API Gateway; CloudWatch alarms),
 * and measures which granted actions no request used.
 */

export interface Decision {
  readonly request: IamRequest;
  readonly result: 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied' | 'Error';
  /** Why, for anything but Allowed. */
  readonly detail?: string;
  /** Condition keys iam-simulate dropped as not applicable to the action (should be none that matter). */
  readonly ignoredContextKeys: string[];
}

/** Resources outside the template that requests may name: SES identities and configuration sets belong to the account. */
const EXTERNAL_RESOURCES = [/^arn:aws:ses:[a-z0-9-]+:\d{12}:(identity|configuration-set)\//];

/** One line per request, for messages: `Processor dynamodb:PutItem SvcTablesEvents {LeadingKeys…}`. */
export function describe(model: ResolvedTemplate, r: IamRequest): string {
  const target = model.logicalIdOfArn(r.resource);
  const who = r.roleId ? label(r.roleId) : r.principal;
  const keys = Object.entries(r.context)
    .filter(([k]) => !['aws:SecureTransport', 'aws:PrincipalArn', 'aws:PrincipalAccount', 'aws:RequestedRegion'].includes(k))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
  const index = /\/index\/([^/]+)$/.exec(r.resource);
  const on = target ? `${label(target)}${index ? `/index/${index[1]}` : ''}` : r.resource;
  return `[${r.scenario}] ${who} ${r.action} on ${on}${keys ? ` (${keys})` : ''} via ${r.via}`;
}

export async function evaluate(model: ResolvedTemplate, requests: readonly IamRequest[]): Promise<Decision[]> {
  const identity = new Map<string, { name: string; policy: PolicyDocument }[]>();
  const decisions: Decision[] = [];
  for (const request of requests) {
    const targetId = model.logicalIdOfArn(request.resource);
    if (!targetId && !EXTERNAL_RESOURCES.some((p) => p.test(request.resource))) {
      decisions.push({ request, result: 'Error', detail: `${request.resource} is no resource of the template`, ignoredContextKeys: [] });
      continue;
    }
    if (request.roleId && !identity.has(request.roleId)) identity.set(request.roleId, model.identityPoliciesOf(request.roleId));
    const resourcePolicy = targetId ? model.resourcePolicyOf(targetId) : undefined;
    const simulation = await runSimulation({
      request: {
        principal: request.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: request.context,
      },
      identityPolicies: request.roleId ? identity.get(request.roleId)! : [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
    }, {});
    if (simulation.resultType === 'error') {
      decisions.push({ request, result: 'Error', detail: JSON.stringify(simulation.errors), ignoredContextKeys: [] });
      continue;
    }
    if (simulation.resultType !== 'single') {
      decisions.push({ request, result: 'Error', detail: `a wildcard in the request's resource ${request.resource}`, ignoredContextKeys: [] });
      continue;
    }
    const result = simulation.overallResult as Decision['result'];
    decisions.push({
      request,
      result,
      ...(result === 'Allowed' ? {} : { detail: JSON.stringify(getDenialReasons(simulation.result.analysis)) }),
      ignoredContextKeys: simulation.result.ignoredContextKeys ?? [],
    });
  }
  return decisions;
}

/** The denied (or unevaluable) decisions, one line each. */
export function denials(model: ResolvedTemplate, decisions: readonly Decision[]): string[] {
  return decisions.filter((d) => d.result !== 'Allowed').map((d) => `${d.result}: ${describe(model, d.request)} — ${d.detail}`);
}

/**
 * The KMS requests AWS makes with the caller's credentials when it touches a resource encrypted
 * with a customer-managed key: SQS producers GenerateDataKey and Decrypt, consumers Decrypt;
 * DynamoDB and Secrets Manager Decrypt (the table key, the secret); SNS publishers
 * GenerateDataKey and Decrypt. kms:ViaService names the service for role callers.
 */
export function impliedRequests(model: ResolvedTemplate, request: IamRequest): IamRequest[] {
  const targetId = model.logicalIdOfArn(request.resource);
  if (!targetId) return [];
  const keyArn = model.encryptionKeyOf(targetId);
  // An AWS managed key (alias/aws/…) allows every principal of the account through its service.
  if (!keyArn || !keyArn.startsWith('arn:')) return [];
  const type = model.resources[targetId].Type;
  const [service, actions]: [string, string[]] = (() => {
    switch (type) {
      case 'AWS::DynamoDB::Table': return ['dynamodb', ['kms:Decrypt']];
      case 'AWS::SQS::Queue': return ['sqs', request.action === 'sqs:SendMessage' ? ['kms:GenerateDataKey', 'kms:Decrypt']
        : request.action === 'sqs:ReceiveMessage' ? ['kms:Decrypt'] : []];
      case 'AWS::SecretsManager::Secret': return ['secretsmanager', request.action === 'secretsmanager:GetSecretValue' ? ['kms:Decrypt'] : []];
      case 'AWS::SNS::Topic': return ['sns', request.action === 'sns:Publish' ? ['kms:GenerateDataKey', 'kms:Decrypt'] : []];
      default: return ['', []];
    }
  })();
  const context: Record<string, string | string[]> = request.roleId
    ? {
      'aws:SecureTransport': 'true',
      'aws:RequestedRegion': REGION,
      'aws:PrincipalArn': request.context['aws:PrincipalArn'],
      'aws:PrincipalAccount': ACCOUNT,
      'kms:ViaService': `${service}.${REGION}.amazonaws.com`,
      'kms:CallerAccount': ACCOUNT,
    }
    // A service principal carries the source of its request. An assumption for CloudWatch alarms
    // (the key policy's CloudWatch statement relies on it): AWS documents that EventBridge's KMS
    // requests for encrypted topics carry no aws:SourceAccount/aws:SourceArn, and no such
    // exception for CloudWatch.
    : Object.fromEntries(Object.entries(request.context).filter(([k]) => k === 'aws:SourceAccount' || k === 'aws:SourceArn'));
  return actions.map((action) => ({
    origin: 'implied',
    scenario: request.scenario,
    principal: request.principal,
    ...(request.roleId ? { roleId: request.roleId } : {}),
    via: `${request.action} on ${label(targetId)}`,
    action,
    resource: keyArn,
    context,
  }));
}

/** Requests plus the KMS requests they imply. */
export function withImplied(model: ResolvedTemplate, requests: readonly IamRequest[]): IamRequest[] {
  return requests.flatMap((r) => [r, ...impliedRequests(model, r)]);
}

/** Lambda writes each function's logs with the function's role: CreateLogStream, PutLogEvents. */
export function platformRequests(model: ResolvedTemplate): IamRequest[] {
  return model.functions().flatMap((fn) => {
    if (!fn.logGroupName) throw new Error(`${fn.logicalId} has no log group of its own`);
    const group = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${fn.logGroupName}`;
    const context = { 'aws:SecureTransport': 'true', 'aws:RequestedRegion': REGION, 'aws:PrincipalArn': fn.roleArn, 'aws:PrincipalAccount': ACCOUNT };
    const base = { origin: 'platform' as const, scenario: 'lambda logs', principal: fn.sessionArn, roleId: fn.roleId, via: `Lambda runtime of ${label(fn.logicalId)}`, context };
    // Both actions authorize against the stream (Lambda names one per execution environment).
    const stream = `${group}:log-stream:2025/01/01/[$LATEST]0123456789abcdef`;
    return [
      { ...base, action: 'logs:CreateLogStream', resource: stream },
      { ...base, action: 'logs:PutLogEvents', resource: stream },
    ];
  });
}

/** API Gateway invoking a function for `METHOD path` (path with its parameters filled in). */
export function apiGatewayInvoke(model: ResolvedTemplate, functionArn: string, method: string, path: string, scenario: string): IamRequest {
  const [[apiId]] = model.ofType('AWS::ApiGateway::RestApi');
  const stage = model.ofType('AWS::ApiGateway::Stage').find(([, r]) => r.Properties?.RestApiId?.Ref === apiId);
  if (!stage) throw new Error('the API has no stage');
  const sourceArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${model.ref(apiId)}/${stage[1].Properties!.StageName}/${method}${path}`;
  return {
    origin: 'service',
    scenario,
    principal: 'apigateway.amazonaws.com',
    via: `${method} ${path}`,
    action: 'lambda:InvokeFunction',
    resource: functionArn,
    context: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': ACCOUNT, 'aws:SecureTransport': 'true' },
  };
}

/** Every API method's integration, invoked with sample path parameters. */
export function apiGatewayRequests(model: ResolvedTemplate): IamRequest[] {
  const pathOf = (resourceRef: any): string => {
    if (!resourceRef?.Ref) return ''; // the root resource (Fn::GetAtt RootResourceId)
    const p = model.properties(resourceRef.Ref);
    return `${pathOf(p.ParentId)}/${p.PathPart}`;
  };
  return model.ofType('AWS::ApiGateway::Method').map(([id, r]) => {
    const p = r.Properties!;
    const uri = String(model.resolve(p.Integration?.Uri ?? ''));
    const fn = /functions\/(arn:[^/]+)\/invocations$/.exec(uri);
    if (p.Integration?.Type !== 'AWS_PROXY' || !fn) throw new Error(`${id}: not a Lambda proxy integration (${uri})`);
    const path = pathOf(p.ResourceId).replace(/\{(\w+)\}/g, (_m, name: string) => `sample-${name}`);
    return apiGatewayInvoke(model, fn[1], p.HttpMethod, path, `API method ${label(id)}`);
  });
}

/** The SQS event source polls with the function's role: Receive, Delete, GetQueueAttributes (and KMS). */
export function eventSourceRequests(model: ResolvedTemplate): IamRequest[] {
  return model.ofType('AWS::Lambda::EventSourceMapping').flatMap(([id, r]) => {
    const p = model.resolve(r.Properties) as Record<string, string>;
    const fn = model.functions().find((f) => f.name === p.FunctionName || f.arn === p.FunctionName);
    if (!fn) throw new Error(`${id}: function ${p.FunctionName} is not in the template`);
    const context = { 'aws:SecureTransport': 'true', 'aws:RequestedRegion': REGION, 'aws:PrincipalArn': fn.roleArn, 'aws:PrincipalAccount': ACCOUNT };
    return ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'].map((action) => ({
      origin: 'service' as const,
      scenario: 'SQS event source',
      principal: fn.sessionArn,
      roleId: fn.roleId,
      via: `event source mapping ${label(id)}`,
      action,
      resource: String(p.EventSourceArn),
      context,
    }));
  });
}

/** CloudWatch publishing each alarm's actions to SNS topics (as cloudwatch.amazonaws.com, for that alarm). */
export function alarmRequests(model: ResolvedTemplate): IamRequest[] {
  return model.ofType('AWS::CloudWatch::Alarm').flatMap(([id, r]) => {
    const p = model.resolve(r.Properties) as Record<string, string[] | undefined>;
    const topics = new Set([...(p.AlarmActions ?? []), ...(p.OKActions ?? []), ...(p.InsufficientDataActions ?? [])].filter((a) => a.startsWith('arn:aws:sns:')));
    return [...topics].map((topic) => ({
      origin: 'service' as const,
      scenario: 'CloudWatch alarm',
      principal: 'cloudwatch.amazonaws.com',
      via: `alarm ${label(id)}`,
      action: 'sns:Publish',
      resource: topic,
      context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': model.getAtt(id, 'Arn'), 'aws:SecureTransport': 'true' },
    }));
  });
}

/** One granted (action pattern, resource pattern) of a role's identity policies. */
export interface Grant {
  readonly role: string;
  readonly action: string;
  readonly resource: string;
  /** `Role: action @ Resource`, the key of the allow-list. */
  readonly key: string;
}

/** Every Allow (action, resource) of each role's identity policies, with whether an allowed request used it. */
export function grantUsage(model: ResolvedTemplate, decisions: readonly Decision[]): { grant: Grant; used: boolean }[] {
  const allowed = decisions.filter((d) => d.result === 'Allowed' && d.request.roleId);
  const roles = [...new Set(model.functions().map((f) => f.roleId))];
  return roles.flatMap((roleId) => model.identityPoliciesOf(roleId).flatMap(({ policy }) => policy.Statement
    .filter((s: any) => s.Effect === 'Allow')
    .flatMap((s: any) => list(s.Action).flatMap((action) => list(s.Resource).map((resource) => {
      const target = resource === '*' ? '*' : model.logicalIdOfArn(resource.replace(/(\/index)?\/\*$|:\*$/, ''));
      const resourceLabel = target === '*' ? '*' : `${target ? label(target) : resource}${resource.endsWith('/index/*') ? '/index/*' : ''}`;
      const grant: Grant = { role: label(roleId), action, resource, key: `${label(roleId)}: ${action} @ ${resourceLabel}` };
      const used = allowed.some((d) => d.request.roleId === roleId && glob(action, d.request.action) && glob(resource, d.request.resource));
      return { grant, used };
    })))));
}

function list(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

/** IAM's wildcard match (`*`, `?`); actions compare case-insensitively. */
function glob(pattern: string, value: string): boolean {
  const regex = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('')}$`, 'i');
  return regex.test(value);
}
