import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * The service key (created as `Key` in `scope`, or the one given) with what AWS services need of
 * it: CloudWatch alarms publish to the encrypted topic, CloudWatch Logs writes the encrypted log
 * groups. A function of the root's scope, not a construct, so the key keeps its logical id.
 */
export function serviceEncryptionKey(scope: Construct, given: kms.IKey | undefined, removalPolicy: RemovalPolicy): kms.IKey {
  const stack = Stack.of(scope);
  const key = given ?? new kms.Key(scope, 'Key', {
    description: `Encrypts the queues, tables, alarm topic and log groups of ${scope.node.path}`,
    enableKeyRotation: true,
    removalPolicy,
  });
  // CloudWatch alarms publish to the encrypted topic, so CloudWatch must be able to use the key.
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
    conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
  }));
  // The log groups are encrypted with the key: CloudWatch Logs may use it for this account's
  // log groups only (the encryption context names the log group).
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
      },
    },
  }));
  return key;
}
