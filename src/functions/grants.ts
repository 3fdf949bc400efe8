import { Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { acknowledge } from '../nag';

/**
 * Grants exactly these DynamoDB actions on one table, optionally only on items whose partition
 * key starts with `leadingKeys`. Least privilege by construction: the handlers' requests are
 * listed in lambda/adapters/dynamo-*.ts, and test/iam evaluates every one of them.
 */
export function grantItems(role: iam.IRole, table: dynamodb.ITable, actions: string[], options: { leadingKeys?: string } = {}): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: actions.map((a) => `dynamodb:${a}`),
    resources: [table.tableArn],
    ...(options.leadingKeys ? { conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${options.leadingKeys}*`] } } } : {}),
  }));
}

/** Query on a table's indexes only (the handlers never query the base table). */
export function grantIndexQuery(role: iam.IRole, table: dynamodb.ITable): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/*`] }));
}

/**
 * SendMessage (and so SendMessageBatch) on one queue, and its own KMS key if it has one other
 * than the service's. CDK's grantSendMessages also gives GetQueueAttributes and GetQueueUrl,
 * which the functions never call (they get URLs from their environment).
 */
export function grantSend(role: iam.IRole, queue: sqs.IQueue, serviceKey: kms.IKey): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
  if (queue.encryptionMasterKey && queue.encryptionMasterKey !== serviceKey) queue.encryptionMasterKey.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
}

/**
 * The wildcards that CDK's own grants write, and why each is as narrow as IAM allows: the
 * service key's (every function) and, for a function that queries the subscriptions table's
 * indexes, `index/*`. Called last, after the function's other acknowledgements.
 */
export function acknowledgeGrantWildcards(role: iam.IRole, indexesOf?: dynamodb.Table): void {
  acknowledge(role,
    { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: 'CDK KMS grant on the service key only: SQS and DynamoDB need GenerateDataKey and GenerateDataKeyWithoutPlaintext.' },
    { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: 'CDK KMS grant on the service key only: ReEncryptFrom/To on that one key.' },
  );
  if (indexesOf) {
    const tableId = Stack.of(indexesOf).getLogicalId(indexesOf.node.defaultChild as dynamodb.CfnTable);
    acknowledge(role, {
      id: `AwsSolutions-IAM5[Resource::<${tableId}.Arn>/index/*]`,
      reason: 'Queries of the subscriptions table\'s own indexes (byEventType, byOwner); no other table.',
    });
  }
}

