import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { ClaimResult, IdempotencyStore } from '../core/idempotency';

/**
 * Idempotency records live in the Events table under `idem_…` keys (never a valid event id),
 * expiring through the table's TTL. The ingest function's IAM policy is limited to those keys.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly tableName: string, private readonly now: () => number = Date.now) {}

  public async claim(key: string, eventId: string, fingerprint: string, expiresAt: number): Promise<ClaimResult> {
    try {
      await this.client.send(new PutCommand({
        TableName: this.tableName,
        Item: { eventId: key, refEventId: eventId, fingerprint, enqueued: false, expiresAt },
        // TTL deletes lazily: an expired record may still be there and must not count.
        ConditionExpression: 'attribute_not_exists(eventId) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': Math.floor(this.now() / 1000) },
      }));
      return { status: 'claimed' };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const existing = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { eventId: key }, ConsistentRead: true }));
    const item = existing.Item;
    if (!item) throw new Error('idempotency record vanished between claim and read; retry');
    return { status: 'existing', eventId: String(item.refEventId), fingerprint: String(item.fingerprint), enqueued: item.enqueued === true };
  }

  public async markEnqueued(key: string): Promise<void> {
    await this.client.send(new UpdateCommand({
      TableName: this.tableName,
      Key: { eventId: key },
      UpdateExpression: 'SET enqueued = :true',
      ConditionExpression: 'attribute_exists(eventId)',
      ExpressionAttributeValues: { ':true': true },
    }));
  }

  public async release(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteCommand({
        TableName: this.tableName,
        Key: { eventId: key },
        ConditionExpression: 'enqueued = :false',
        ExpressionAttributeValues: { ':false': false },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }
}
