import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

export interface AlarmTopicProps {
  readonly encryptionKey: kms.IKey;
  /** Subscribed to the topic, with a dead-letter queue for what SNS cannot deliver to it. */
  readonly alarmEmail?: string;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The topic every alarm notifies (`AlarmTopic` in `scope`), encrypted and TLS-only, open to this
 * account's CloudWatch alarms. A function of the root's scope, not a construct, so the topic and
 * its email subscription keep their logical ids.
 */
export function alarmTopic(scope: Construct, props: AlarmTopicProps): sns.Topic {
  const stack = Stack.of(scope);
  const topic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'Event notification service alarms',
    masterKey: props.encryptionKey,
    enforceSSL: true,
  });
  // The topic's policy (written for enforceSSL) otherwise holds only a Deny: alarms of this
  // account must be allowed to publish, or every alarm fails silently.
  topic.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'AllowCloudWatchAlarmsOfThisAccount',
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['sns:Publish'],
    resources: [topic.topicArn],
    conditions: {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
    },
  }));
  if (props.alarmEmail) {
    // Alarm notifications SNS could not deliver to the address (after its own retries) are
    // kept here for 14 days instead of being dropped.
    const undelivered = new sqs.Queue(scope, 'AlarmEmailDeadLetter', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    // SNS writes to the encrypted queue with the service key.
    props.encryptionKey.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }));
    topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail, { deadLetterQueue: undelivered }));
    acknowledge(undelivered,
      { id: 'AwsSolutions-SQS3', reason: 'This queue is itself a dead-letter queue: that of the alarm topic\'s email subscription.' },
      { id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is itself a dead-letter queue (the alarm email subscription\'s): there is nowhere further to redrive to.' },
    );
  }
  return topic;
}
