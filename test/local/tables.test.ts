import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AttributeDefinition, CreateTableCommand, CreateTableCommandInput, DescribeTableCommand, DynamoDBClient,
  KeySchemaElement, Projection,
} from '@aws-sdk/client-dynamodb';
import { tableDefinitions } from '../../local/tables';
import { FAKE_AWS_ENV, TableRole, TableShape, tableShapes } from '../helpers/dynamo';

/*
 * The local runtime creates its tables from local/tables.ts; the handlers must find there the
 * very keys and indexes the construct deploys (src/tables.ts), or they would work locally and
 * fail in AWS (or the other way round).
 */

const NAMES: Record<TableRole, string> = { events: 'local-events', subscriptions: 'local-subscriptions', notifications: 'local-notifications' };
const ROLES = Object.keys(NAMES) as TableRole[];

/** A table's keys and indexes in a form that compares equal whatever the order of definitions. */
interface ComparableShape {
  readonly keySchema: KeySchemaElement[];
  readonly attributeDefinitions: AttributeDefinition[];
  readonly globalSecondaryIndexes: { IndexName?: string; KeySchema?: KeySchemaElement[]; Projection?: Projection }[];
}

const byName = <T>(key: (t: T) => string | undefined) => (a: T, b: T) => (key(a) ?? '').localeCompare(key(b) ?? '');

/** Keys and indexes as CreateTable, DescribeTable or the synthesized template give them. */
interface AnyShape {
  readonly keySchema?: KeySchemaElement[];
  readonly attributeDefinitions?: AttributeDefinition[];
  readonly globalSecondaryIndexes?: { IndexName?: string; KeySchema?: KeySchemaElement[]; Projection?: Projection }[];
}

function comparable(shape: AnyShape): ComparableShape {
  return {
    // Key order is meaningful (HASH first, then RANGE): kept as is.
    keySchema: (shape.keySchema ?? []).map(({ AttributeName, KeyType }) => ({ AttributeName, KeyType })),
    attributeDefinitions: (shape.attributeDefinitions ?? []).map(({ AttributeName, AttributeType }) => ({ AttributeName, AttributeType }))
      .sort(byName((d) => d.AttributeName)),
    globalSecondaryIndexes: (shape.globalSecondaryIndexes ?? []).map((gsi) => ({
      IndexName: gsi.IndexName,
      KeySchema: (gsi.KeySchema ?? []).map(({ AttributeName, KeyType }) => ({ AttributeName, KeyType })),
      Projection: {
        ProjectionType: gsi.Projection?.ProjectionType,
        ...(gsi.Projection?.NonKeyAttributes ? { NonKeyAttributes: [...gsi.Projection.NonKeyAttributes].sort() } : {}),
      },
    })).sort(byName((g) => g.IndexName)),
  };
}

function localShape(definition: CreateTableCommandInput): ComparableShape {
  return comparable({
    keySchema: definition.KeySchema,
    attributeDefinitions: definition.AttributeDefinitions,
    globalSecondaryIndexes: definition.GlobalSecondaryIndexes,
  });
}

function constructShape(shape: TableShape): ComparableShape {
  return comparable(shape);
}

describe('local/tables.ts matches the tables the construct synthesizes', () => {
  const shapes = tableShapes();
  const definitions = tableDefinitions(NAMES);
  const definitionOf = (role: TableRole): CreateTableCommandInput => {
    const found = definitions.filter((d) => d.TableName === NAMES[role]);
    expect(found).toHaveLength(1);
    return found[0];
  };

  test('one definition per table of the construct, under the names it was given', () => {
    expect(definitions.map((d) => d.TableName).sort()).toEqual(Object.values(NAMES).sort());
    expect(Object.keys(shapes).sort()).toEqual([...ROLES].sort());
  });

  test.each(ROLES)('%s: key schema', (role) => {
    expect(localShape(definitionOf(role)).keySchema).toEqual(constructShape(shapes[role]).keySchema);
    // Never empty: a table needs a partition key.
    expect(constructShape(shapes[role]).keySchema[0]).toEqual(expect.objectContaining({ KeyType: 'HASH' }));
  });

  test.each(ROLES)('%s: attribute definitions', (role) => {
    expect(localShape(definitionOf(role)).attributeDefinitions).toEqual(constructShape(shapes[role]).attributeDefinitions);
  });

  test.each(ROLES)('%s: global secondary indexes with their projections', (role) => {
    expect(localShape(definitionOf(role)).globalSecondaryIndexes).toEqual(constructShape(shapes[role]).globalSecondaryIndexes);
  });

  test('the subscriptions table really has indexes to compare (byEventType, byOwner)', () => {
    const indexes = constructShape(shapes.subscriptions).globalSecondaryIndexes;
    expect(indexes.map((i) => i.IndexName)).toEqual(['byEventType', 'byOwner']);
    for (const index of indexes) expect(index.Projection).toEqual({ ProjectionType: 'ALL' });
  });

  test('no local-only settings: on-demand billing, no local secondary indexes, no streams', () => {
    for (const definition of definitions) {
      expect(definition.BillingMode).toBe('PAY_PER_REQUEST');
      expect(definition.LocalSecondaryIndexes).toBeUndefined();
      expect(definition.StreamSpecification).toBeUndefined();
      expect(definition.ProvisionedThroughput).toBeUndefined();
    }
  });

  test('the comparison notices a difference (a projection, a key type, a missing index)', () => {
    const subscriptions = definitionOf('subscriptions');
    const expected = constructShape(shapes.subscriptions);
    const keysOnly: CreateTableCommandInput = {
      ...subscriptions,
      GlobalSecondaryIndexes: subscriptions.GlobalSecondaryIndexes!.map((g, i) => (i === 0 ? { ...g, Projection: { ProjectionType: 'KEYS_ONLY' } } : g)),
    };
    const numberKey: CreateTableCommandInput = {
      ...subscriptions,
      AttributeDefinitions: subscriptions.AttributeDefinitions!.map((d) => (d.AttributeName === 'subscriptionId' ? { ...d, AttributeType: 'N' } : d)),
    };
    const oneIndex: CreateTableCommandInput = { ...subscriptions, GlobalSecondaryIndexes: subscriptions.GlobalSecondaryIndexes!.slice(1) };
    for (const changed of [keysOnly, numberKey, oneIndex]) expect(localShape(changed)).not.toEqual(expected);
    expect(localShape(subscriptions)).toEqual(expected);
  });

  describe('as created in the embedded DynamoDB server', () => {
    let server: Server;
    let client: DynamoDBClient;

    beforeAll(async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
      server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      client = new DynamoDBClient({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        region: FAKE_AWS_ENV.AWS_REGION,
        credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY },
      });
      for (const definition of definitions) await client.send(new CreateTableCommand(definition));
    });

    afterAll(async () => {
      client?.destroy();
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    });

    test.each(ROLES)('%s: DescribeTable reports the construct\'s keys and indexes', async (role) => {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: NAMES[role] }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(comparable({
        keySchema: Table?.KeySchema,
        attributeDefinitions: Table?.AttributeDefinitions,
        globalSecondaryIndexes: Table?.GlobalSecondaryIndexes,
      })).toEqual(constructShape(shapes[role]));
    });
  });
});
