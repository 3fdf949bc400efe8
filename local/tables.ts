import { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The construct's three tables (src/tables.ts) as CreateTable inputs for the embedded DynamoDB
 * server. test/local/tables.test.ts checks they match what the construct synthesizes.
 */
export function tableDefinitions(names: { events: string; subscriptions: string; notifications: string }): CreateTableCommandInput[] {
  const onDemand = { BillingMode: 'PAY_PER_REQUEST' as const };
  return [
    {
      ...onDemand,
      TableName: names.events,
      KeySchema: [{ AttributeName: 'eventId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'eventId', AttributeType: 'S' }],
    },
    {
      ...onDemand,
      TableName: names.subscriptions,
      KeySchema: [{ AttributeName: 'subscriptionId', KeyType: 'HASH' }],
      AttributeDefinitions: [
        { AttributeName: 'subscriptionId', AttributeType: 'S' },
        { AttributeName: 'eventType', AttributeType: 'S' },
        { AttributeName: 'ownerKeyId', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byEventType',
          KeySchema: [{ AttributeName: 'eventType', KeyType: 'HASH' }, { AttributeName: 'subscriptionId', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'byOwner',
          KeySchema: [{ AttributeName: 'ownerKeyId', KeyType: 'HASH' }, { AttributeName: 'subscriptionId', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    {
      ...onDemand,
      TableName: names.notifications,
      KeySchema: [{ AttributeName: 'eventId', KeyType: 'HASH' }, { AttributeName: 'subscriptionId', KeyType: 'RANGE' }],
      AttributeDefinitions: [
        { AttributeName: 'eventId', AttributeType: 'S' },
        { AttributeName: 'subscriptionId', AttributeType: 'S' },
      ],
    },
  ];
}
