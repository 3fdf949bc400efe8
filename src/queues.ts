import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

export interface ServiceQueuesProps {
  readonly fifo: boolean;
  readonly encryptionKey: kms.IKey;
  readonly visibilityTimeout: Duration;
  readonly maxReceiveCount: number;
  readonly removalPolicy: RemovalPolicy;
  readonly deadLetterQueue?: sqs.IQueue;
}

/** SQS's limits: 1 MiB messages, 14 days retention. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_RETENTION = Duration.days(14);

/** The events queue and its dead-letter queue: KMS-encrypted, TLS-only, same FIFO-ness. */
export class ServiceQueues extends Construct {
  public readonly events: sqs.Queue;
  public readonly deadLetter: sqs.IQueue;

  constructor(scope: Construct, id: string, props: ServiceQueuesProps) {
    super(scope, id);
    const common = {
      fifo: props.fifo ? true : undefined,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      // Keep the data keys for the maximum 24 h: fewer KMS calls, lower cost.
      dataKeyReuse: Duration.hours(24),
      enforceSSL: true,
      retentionPeriod: MAX_RETENTION,
      maxMessageSizeBytes: MAX_MESSAGE_BYTES,
      removalPolicy: props.removalPolicy,
    };

    if (props.deadLetterQueue) {
      this.deadLetter = props.deadLetterQueue;
    } else {
      this.deadLetter = new sqs.Queue(this, 'DeadLetter', common);
      acknowledge(this.deadLetter, {
        id: 'Serverless-SQSRedrivePolicy',
        reason: 'This is the service dead-letter queue: messages in it wait for an operator to fix and redrive them (replay); there is nowhere further to redrive to.',
      });
    }
    this.events = new sqs.Queue(this, 'Events', {
      ...common,
      // High-throughput FIFO: deduplication and throughput per message group (ordering key).
      ...(props.fifo ? {
        contentBasedDeduplication: false,
        deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      } : {}),
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetter, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
