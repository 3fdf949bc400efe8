import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

import { SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX, SUBSCRIPTIONS_BY_OWNER_INDEX, TTL_ATTRIBUTE } from './contract';

export interface ServiceTablesProps {
  readonly encryptionKey: kms.IKey;
  readonly removalPolicy: RemovalPolicy;
}

/** The three tables of docs/architecture.md "Data model": on-demand, point-in-time recovery, KMS, TTL. */
export class ServiceTables extends Construct {
  public readonly events: dynamodb.Table;
  public readonly subscriptions: dynamodb.Table;
  public readonly notifications: dynamodb.Table;

  constructor(scope: Construct, id: string, props: ServiceTablesProps) {
    super(scope, id);
    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      removalPolicy: props.removalPolicy,
    };

    this.events = new dynamodb.Table(this, 'Events', {
      ...common,
      partitionKey: { name: 'eventId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });

    this.subscriptions = new dynamodb.Table(this, 'Subscriptions', {
      ...common,
      partitionKey: { name: 'subscriptionId', type: dynamodb.AttributeType.STRING },
    });
    // Matching queries subscriptions by event type (never a Scan on the hot path).
    this.subscriptions.addGlobalSecondaryIndex({
      indexName: SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX,
      partitionKey: { name: 'eventType', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'subscriptionId', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Listing a caller's subscriptions, newest last (ids are time-sortable).
    this.subscriptions.addGlobalSecondaryIndex({
      indexName: SUBSCRIPTIONS_BY_OWNER_INDEX,
      partitionKey: { name: 'ownerKeyId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'subscriptionId', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.notifications = new dynamodb.Table(this, 'Notifications', {
      ...common,
      partitionKey: { name: 'eventId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'subscriptionId', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: TTL_ATTRIBUTE,
    });
  }
}
