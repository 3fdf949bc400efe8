import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FunctionSettings, IDEMPOTENCY_KEY_PREFIX, IngestSetting } from '../contract';
import { acknowledge } from '../nag';
import { INVOKED_BY_API_GATEWAY, ServiceFunction, ServiceFunctionContext } from '../service-function';
import { acknowledgeGrantWildcards, grantItems, grantSend } from './grants';

export interface IngestFunctionProps extends ServiceFunctionContext {
  /** The events queue it sends to. */
  readonly queue: sqs.IQueue;
  /** The Events table: only its idempotency records (`idem_…`). */
  readonly eventsTable: dynamodb.ITable;
}

/**
 * `POST /events`, `POST /events/batch`, `POST /webhooks/{source}`: validates, claims the
 * Idempotency-Key, queues. Its environment is the contract's INGEST_SETTINGS; its role may send
 * to the events queue, read the inbound sources' secrets and touch idempotency records only.
 */
export class IngestFunction extends ServiceFunction {
  constructor(scope: Construct, id: string, props: IngestFunctionProps) {
    const { settings } = props;
    const inbound = settings.inboundWebhooks;
    super(scope, id, {
      context: props,
      bundle: 'ingest',
      description: 'Event notification service: accepts events and queues them',
      environment: {
        QUEUE_URL: props.queue.queueUrl,
        QUEUE_FIFO: String(settings.fifo),
        MAX_EVENT_SIZE_BYTES: String(settings.maxEventSizeBytes),
        EVENTS_TABLE_NAME: props.eventsTable.tableName,
        ...(inbound.length > 0 ? { INBOUND_SECRET_IDS: inbound.map((w) => w.secret.secretArn).join(',') } : {}),
      } satisfies FunctionSettings<IngestSetting>,
      settingsFile: inbound.length > 0
        ? { INBOUND_SOURCES: JSON.stringify(inbound.map((w) => w._toSetting())) } satisfies FunctionSettings<IngestSetting>
        : undefined,
    });
    grantSend(this.role, props.queue, props.encryptionKey);
    for (const source of inbound) source.secret.grantRead(this.role);
    grantItems(this.role, props.eventsTable, ['GetItem', 'PutItem', 'UpdateItem'], { leadingKeys: IDEMPOTENCY_KEY_PREFIX });
    props.encryptionKey.grantEncryptDecrypt(this.role);
    acknowledge(this.function, INVOKED_BY_API_GATEWAY);
    acknowledgeGrantWildcards(this.role);
  }
}
