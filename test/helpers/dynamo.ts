import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AttributeDefinition, CreateTableCommand, DynamoDBClient, GlobalSecondaryIndex, KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventNotificationService } from '../../src';

/** The three tables of the construct (docs/architecture.md "Data model"). */
export type TableRole = 'events' | 'subscriptions' | 'notifications';

/** Key schema and indexes of one table, exactly as the construct synthesizes them. */
export interface TableShape {
  readonly logicalId: string;
  readonly keySchema: KeySchemaElement[];
  readonly attributeDefinitions: AttributeDefinition[];
  readonly globalSecondaryIndexes?: GlobalSecondaryIndex[];
}

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_DYNAMODB. */
  readonly endpoint: string;
  readonly port: number;
  /** Random per start, so test files never share a table. */
  readonly tableNames: Readonly<Record<TableRole, string>>;
  readonly client: DynamoDBClient;
  readonly documentClient: DynamoDBDocumentClient;
  stop(): Promise<void>;
}

/** Region and (fake) credentials for SDK clients that talk to dynalite. */
export const FAKE_AWS_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE0000',
  AWS_SECRET_ACCESS_KEY: 'fake-secret-access-key-for-local-tests',
} as const;

/**
 * The environment a handler needs to use this dynalite: region, fake credentials, the endpoint
 * (AWS_ENDPOINT_URL_DYNAMODB, honoured by the SDK) and the three table names. Quiet logs.
 */
export function handlerEnv(dynamo: LocalDynamo): Record<string, string> {
  return {
    ...FAKE_AWS_ENV,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    EVENTS_TABLE_NAME: dynamo.tableNames.events,
    SUBSCRIPTIONS_TABLE_NAME: dynamo.tableNames.subscriptions,
    NOTIFICATIONS_TABLE_NAME: dynamo.tableNames.notifications,
  };
}

const LOGICAL_ID_PREFIXES: Record<TableRole, string> = {
  events: 'SvcTablesEvents',
  subscriptions: 'SvcTablesSubscriptions',
  notifications: 'SvcTablesNotifications',
};

let shapes: Record<TableRole, TableShape> | undefined;

/**
 * The tables' keys and indexes taken from the construct's synthesized template, so the tests
 * run against the tables the construct really creates (synthesized once per test file).
 */
export function tableShapes(): Record<TableRole, TableShape> {
  if (shapes) return shapes;
  const stack = new Stack(new App(), 'HandlerTestStack');
  new EventNotificationService(stack, 'Svc');
  const resources = Template.fromStack(stack).findResources('AWS::DynamoDB::Table');
  const pick = (role: TableRole): TableShape => {
    const prefix = LOGICAL_ID_PREFIXES[role];
    const matches = Object.keys(resources).filter((id) => id.startsWith(prefix) && /^[0-9A-F]{8}$/.test(id.slice(prefix.length)));
    if (matches.length !== 1) {
      throw new Error(`Expected exactly one ${role} table (logical id ${prefix}XXXXXXXX), found: ${Object.keys(resources).join(', ')}`);
    }
    const properties = resources[matches[0]].Properties;
    return {
      logicalId: matches[0],
      keySchema: properties.KeySchema,
      attributeDefinitions: properties.AttributeDefinitions,
      ...(properties.GlobalSecondaryIndexes
        ? {
          globalSecondaryIndexes: (properties.GlobalSecondaryIndexes as GlobalSecondaryIndex[]).map((gsi) => ({
            IndexName: gsi.IndexName,
            KeySchema: gsi.KeySchema,
            Projection: gsi.Projection,
          })),
        }
        : {}),
    };
  };
  shapes = { events: pick('events'), subscriptions: pick('subscriptions'), notifications: pick('notifications') };
  return shapes;
}

type DynaliteFactory = (options: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;

/** Starts dynalite on a free port and creates the construct's three tables under random names. */
export async function startDynamo(): Promise<LocalDynamo> {
  const tableShapesByRole = tableShapes();
  // dynalite ships no type declarations.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as DynaliteFactory;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: FAKE_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY },
  });
  const suffix = randomBytes(6).toString('hex');
  const tableNames: Record<TableRole, string> = {
    events: `events-${suffix}`,
    subscriptions: `subscriptions-${suffix}`,
    notifications: `notifications-${suffix}`,
  };
  for (const role of Object.keys(tableNames) as TableRole[]) {
    const shape = tableShapesByRole[role];
    await client.send(new CreateTableCommand({
      TableName: tableNames[role],
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: shape.keySchema,
      AttributeDefinitions: shape.attributeDefinitions,
      ...(shape.globalSecondaryIndexes ? { GlobalSecondaryIndexes: shape.globalSecondaryIndexes } : {}),
    }));
  }
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });

  return {
    endpoint,
    port,
    tableNames,
    client,
    documentClient,
    async stop() {
      client.destroy();
      // Handler clients keep connections alive; drop them so close() does not wait for them.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
