import { DeleteCommand, DynamoDBDocumentClient, GetCommand, paginateQuery, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { SUBSCRIPTIONS_BY_OWNER_INDEX } from '../../src/contract';
import { Subscription, SubscriptionChanges } from '../core/subscription';
import { AttributeChanges, SecretRotation, SubscriptionPage, SubscriptionStore } from '../core/subscriptions-service';

/** Index names shared with the construct (src/tables.ts). */

export class DynamoSubscriptionStore implements SubscriptionStore {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly tableName: string) {}

  public async create(subscription: Subscription): Promise<void> {
    await this.client.send(new PutCommand({
      TableName: this.tableName,
      Item: subscription,
      ConditionExpression: 'attribute_not_exists(subscriptionId)',
    }));
  }

  public async get(subscriptionId: string): Promise<Subscription | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { subscriptionId } }));
    return result.Item as Subscription | undefined;
  }

  public async listByOwner(ownerKeyId: string, limit: number, afterSubscriptionId?: string): Promise<SubscriptionPage> {
    const result = await this.client.send(new QueryCommand({
      TableName: this.tableName,
      IndexName: SUBSCRIPTIONS_BY_OWNER_INDEX,
      KeyConditionExpression: 'ownerKeyId = :owner',
      ExpressionAttributeValues: { ':owner': ownerKeyId },
      Limit: limit,
      ...(afterSubscriptionId ? { ExclusiveStartKey: { ownerKeyId, subscriptionId: afterSubscriptionId } } : {}),
    }));
    const items = (result.Items ?? []) as Subscription[];
    const last = result.LastEvaluatedKey?.subscriptionId;
    return { items, ...(typeof last === 'string' ? { lastSubscriptionId: last } : {}) };
  }

  public async countByOwner(ownerKeyId: string, atMost: number): Promise<number> {
    let count = 0;
    const pages = paginateQuery({ client: this.client }, {
      TableName: this.tableName,
      IndexName: SUBSCRIPTIONS_BY_OWNER_INDEX,
      KeyConditionExpression: 'ownerKeyId = :owner',
      ExpressionAttributeValues: { ':owner': ownerKeyId },
      Select: 'COUNT',
    });
    for await (const page of pages) {
      count += page.Count ?? 0;
      if (count >= atMost) break;
    }
    return count;
  }

  public async update(
    subscriptionId: string, ownerKeyId: string, changes: SubscriptionChanges, updatedAt: string, also: AttributeChanges = {},
  ): Promise<Subscription | undefined> {
    const fields = { ...changes, ...also.set, updatedAt } as Record<string, unknown>;
    const names: Record<string, string> = { '#owner': 'ownerKeyId' };
    const values: Record<string, unknown> = { ':owner': ownerKeyId };
    const sets: string[] = [];
    // null removes an attribute (`filter: null`).
    const removes: string[] = [];
    Object.entries(fields).filter(([, value]) => value !== undefined).forEach(([field, value], i) => {
      names[`#f${i}`] = field;
      if (value === null) {
        removes.push(`#f${i}`);
      } else {
        values[`:v${i}`] = value;
        sets.push(`#f${i} = :v${i}`);
      }
    });
    // And what the service removes besides (a revival: health, disabled and paused reasons).
    (also.remove ?? []).forEach((field, i) => {
      names[`#r${i}`] = field;
      removes.push(`#r${i}`);
    });
    try {
      const result = await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { subscriptionId },
        UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: 'attribute_exists(subscriptionId) AND #owner = :owner',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }));
      return result.Attributes as Subscription;
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw error;
    }
  }

  public async rotateSecret(
    subscriptionId: string, ownerKeyId: string, rotation: SecretRotation, updatedAt: string,
  ): Promise<Subscription | undefined> {
    const keep = rotation.previousExpiresAt !== undefined;
    try {
      const result = await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { subscriptionId },
        // Conditional on the secret read before: of two rotations at once, one wins.
        UpdateExpression: keep
          ? 'SET secret = :next, previousSecret = :current, previousSecretExpiresAt = :expires, updatedAt = :at'
          : 'SET secret = :next, updatedAt = :at REMOVE previousSecret, previousSecretExpiresAt',
        ConditionExpression: 'attribute_exists(subscriptionId) AND ownerKeyId = :owner AND secret = :current',
        ExpressionAttributeValues: {
          ':owner': ownerKeyId,
          ':current': rotation.current,
          ':next': rotation.next,
          ':at': updatedAt,
          ...(keep ? { ':expires': rotation.previousExpiresAt } : {}),
        },
        ReturnValues: 'ALL_NEW',
      }));
      return result.Attributes as Subscription;
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw error;
    }
  }

  public async delete(subscriptionId: string, ownerKeyId: string): Promise<boolean> {
    try {
      await this.client.send(new DeleteCommand({
        TableName: this.tableName,
        Key: { subscriptionId },
        ConditionExpression: 'attribute_exists(subscriptionId) AND ownerKeyId = :owner',
        ExpressionAttributeValues: { ':owner': ownerKeyId },
      }));
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }
}
