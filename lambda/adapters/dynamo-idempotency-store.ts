import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { ClaimResult, ExistingClaim, IdempotencyStore } from '../core/idempotency';

/**
 * Idempotency records live in the Events table under `idem_…` keys (never a valid event id),
 * expiring through the table's TTL. The ingest function's IAM policy is limited to those keys.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  /**
   * `dynamoClient` is first called at the first request with an Idempotency-Key: a cold start
   * whose request has none creates no DynamoDB client (a few ms of CPU).
   */
  constructor(
    private readonly dynamoClient: () => DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  private get client(): DynamoDBDocumentClient {
    return this.dynamoClient();
  }

  public async claim(key: string, eventId: string, fingerprint: string, expiresAt: number): Promise<ClaimResult> {
    try {
      await this.client.send(new PutCommand({
        TableName: this.tableName,
        Item: { eventId: key, refEventId: eventId, fingerprint, enqueued: false, claimedAt: this.now(), expiresAt },
        // TTL deletes lazily: an expired record may still be there and must not count.
        ConditionExpression: 'attribute_not_exists(eventId) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': Math.floor(this.now() / 1000) },
      }));
      return { status: 'claimed' };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const existing = await this.read(key);
    if (!existing) throw new Error('idempotency record vanished between claim and read; retry');
    return existing;
  }

  public async read(key: string): Promise<ExistingClaim | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { eventId: key }, ConsistentRead: true }));
    const item = result.Item;
    if (!item) return undefined;
    return {
      status: 'existing',
      eventId: String(item.refEventId),
      fingerprint: String(item.fingerprint),
      enqueued: item.enqueued === true,
      claimedAt: typeof item.claimedAt === 'number' ? item.claimedAt : 0,
    };
  }

  public async takeOver(key: string, claimedAt: number, nowMs: number): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { eventId: key },
        UpdateExpression: 'SET claimedAt = :now',
        // Records written before claimedAt existed have none: they were read as 0.
        ConditionExpression: claimedAt === 0
          ? 'enqueued = :false AND (attribute_not_exists(claimedAt) OR claimedAt = :then)'
          : 'enqueued = :false AND claimedAt = :then',
        ExpressionAttributeValues: { ':now': nowMs, ':then': claimedAt, ':false': false },
      }));
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
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
      await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { eventId: key },
        UpdateExpression: 'SET claimedAt = :zero',
        ConditionExpression: 'enqueued = :false',
        ExpressionAttributeValues: { ':false': false, ':zero': 0 },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

}
