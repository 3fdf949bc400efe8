import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { EventNotificationService, EventNotificationServiceProps } from '../../src';

const ENV = { account: '123456789012', region: 'us-east-1' };

function synth(props: EventNotificationServiceProps = {}): { stack: Stack; svc: EventNotificationService; template: Template } {
  const app = new App();
  const stack = new Stack(app, 'Ops', { env: ENV });
  const svc = new EventNotificationService(stack, 'Svc', props);
  return { stack, svc, template: Template.fromStack(stack) };
}

function keyId(s: { stack: Stack; svc: EventNotificationService }): string {
  return s.stack.getLogicalId(s.svc.encryptionKey.node.defaultChild as any);
}

describe('log groups', () => {
  const s = synth();

  test('every log group (three functions, API access and execution logs) is encrypted with the service key', () => {
    const groups = Object.values(s.template.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(5);
    for (const g of groups) expect(g.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId(s), 'Arn'] });
  });

  test('API Gateway\'s execution log group exists before the stage, under the name API Gateway writes to', () => {
    const apiId = s.stack.getLogicalId(s.svc.api.node.defaultChild as any);
    const [[groupId, group]] = Object.entries(s.template.findResources('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: Match.anyValue() },
    })).filter(([, g]) => JSON.stringify(g.Properties.LogGroupName).includes('API-Gateway-Execution-Logs_'));
    expect(group.Properties.LogGroupName).toEqual({ 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', { Ref: apiId }, '/v1']] });
    expect(group.Properties.RetentionInDays).toBe(30);
    const [stage] = Object.values(s.template.findResources('AWS::ApiGateway::Stage'));
    expect(stage.Properties.StageName).toBe('v1');
    expect(stage.DependsOn).toContain(groupId);
  });

  test('the key lets CloudWatch Logs of this region use it, for this account\'s log groups only', () => {
    const key = Object.values(s.template.findResources('AWS::KMS::Key'))[0];
    const statement = (key.Properties.KeyPolicy.Statement as any[]).find((st) => JSON.stringify(st.Principal).includes('logs.us-east-1.amazonaws.com'));
    expect(statement).toEqual({
      Effect: 'Allow',
      Principal: { Service: 'logs.us-east-1.amazonaws.com' },
      Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      Resource: '*',
      Condition: {
        ArnLike: { 'kms:EncryptionContext:aws:logs:arn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:us-east-1:123456789012:log-group:*']] } },
      },
    });
  });
});

describe('alarm email subscription', () => {
  test('undeliverable alarm emails go to an encrypted, TLS-only dead-letter queue', () => {
    const s = synth({ alarmEmail: 'ops@example.com' });
    const queues = s.template.findResources('AWS::SQS::Queue');
    const [dlqId] = Object.entries(queues).find(([id]) => id.includes('AlarmEmailDeadLetter'))!;
    expect(queues[dlqId].Properties).toEqual(expect.objectContaining({
      KmsMasterKeyId: { 'Fn::GetAtt': [keyId(s), 'Arn'] },
      MessageRetentionPeriod: 14 * 24 * 3600,
    }));
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
    });
    // TLS only, and SNS may send to it from the alarm topic only.
    const policy = Object.values(s.template.findResources('AWS::SQS::QueuePolicy'))
      .find((p) => (p.Properties.Queues as any[]).some((q) => q.Ref === dlqId))!;
    const statements = policy.Properties.PolicyDocument.Statement as any[];
    expect(statements).toEqual(expect.arrayContaining([
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      expect.objectContaining({ Effect: 'Allow', Action: 'sqs:SendMessage', Principal: { Service: 'sns.amazonaws.com' } }),
    ]));
    // SNS encrypts with the service key when it writes to the queue.
    const key = Object.values(s.template.findResources('AWS::KMS::Key'))[0];
    expect(key.Properties.KeyPolicy.Statement).toEqual(expect.arrayContaining([expect.objectContaining({
      Principal: { Service: 'sns.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
    })]));
  });

  test('without alarmEmail there is no subscription and no extra queue', () => {
    const s = synth();
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    s.template.resourceCountIs('AWS::SQS::Queue', 2);
  });
});

describe('tracing', () => {
  test('on by default: X-Ray active on the three functions and the stage', () => {
    const s = synth();
    const functions = Object.values(s.template.findResources('AWS::Lambda::Function'));
    expect(functions.map((f) => f.Properties.TracingConfig)).toEqual([{ Mode: 'Active' }, { Mode: 'Active' }, { Mode: 'Active' }]);
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: true });
  });

  test('tracing: false turns it off everywhere, with no X-Ray permission left', () => {
    const s = synth({ tracing: false });
    const functions = Object.values(s.template.findResources('AWS::Lambda::Function'));
    for (const f of functions) expect(f.Properties.TracingConfig).toBeUndefined();
    s.template.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: false });
    expect(JSON.stringify(s.template.findResources('AWS::IAM::Policy'))).not.toContain('xray:');
  });
});

describe('createApiGatewayCloudWatchRole', () => {
  test('the role holds only AWS\'s managed policy for it, and that IAM4 finding is acknowledged on that role alone', () => {
    const s = synth({ createApiGatewayCloudWatchRole: true });
    const roles = Object.values(s.template.findResources('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })] } },
    }));
    expect(roles).toHaveLength(1);
    expect(roles[0].Properties.ManagedPolicyArns).toHaveLength(1);
    expect(JSON.stringify(roles[0].Properties.ManagedPolicyArns)).toContain('AmazonAPIGatewayPushToCloudWatchLogs');
    expect(roles[0].Metadata.cdk_nag.rules_to_suppress).toEqual(expect.arrayContaining([expect.objectContaining({
      id: 'AwsSolutions-IAM4',
      applies_to: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
    })]));
    // No other resource acknowledges IAM4.
    const others = Object.values(s.template.toJSON().Resources as Record<string, any>)
      .filter((r) => r !== roles[0] && JSON.stringify(r.Metadata?.cdk_nag ?? {}).includes('AwsSolutions-IAM4'));
    expect(others).toEqual([]);
  });
});
