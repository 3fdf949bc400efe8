import { BatchGetCommand, DynamoDBDocumentClient, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX } from '../../src/contract';
import { SubscriptionIndex } from '../core/matching';
import { SubscriptionPauser } from '../core/processor';
import { Subscription } from '../core/subscription';

/** BatchGetItem takes at most 100 keys. */
const MAX_BATCH_GET = 100;
const MAX_UNPROCESSED_RETRIES = 5;

/** The processor's view of the Subscriptions table: Query by pattern (never Scan), a fan-out part by id, and pausing. */
export class DynamoSubscriptionIndex implements SubscriptionIndex, SubscriptionPauser {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly tableName: string, private readonly now: () => number = Date.now) {}

  public async byPattern(pattern: string): Promise<Subscription[]> {
    const items: Subscription[] = [];
    const pages = paginateQuery({ client: this.client }, {
      TableName: this.tableName,
      IndexName: SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX,
      KeyConditionExpression: 'eventType = :pattern',
      ExpressionAttributeValues: { ':pattern': pattern },
    });
    for await (const page of pages) items.push(...((page.Items ?? []) as Subscription[]));
    return items;
  }

  public async byIds(subscriptionIds: readonly string[]): Promise<Subscription[]> {
    const chunks: string[][] = [];
    for (let i = 0; i < subscriptionIds.length; i += MAX_BATCH_GET) chunks.push(subscriptionIds.slice(i, i + MAX_BATCH_GET));
    return (await Promise.all(chunks.map((chunk) => this.get(chunk)))).flat();
  }

  public async disable(subscriptionId: string, reason: string): Promise<void> {
    try {
      await this.client.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { subscriptionId },
        UpdateExpression: 'SET enabled = :false, pausedReason = :reason, updatedAt = :at',
        ConditionExpression: 'attribute_exists(subscriptionId)',
        ExpressionAttributeValues: { ':false': false, ':reason': reason, ':at': new Date(this.now()).toISOString() },
      }));
    } catch (error) {
      if (!isConditionFailed(error)) throw error; // deleted meanwhile: nothing to pause
    }
  }

  private async get(ids: string[]): Promise<Subscription[]> {
    const items: Subscription[] = [];
    let keys: Record<string, unknown>[] = ids.map((subscriptionId) => ({ subscriptionId }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_RETRIES) throw new Error(`${keys.length} subscriptions were not read (throttled)`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const result = await this.client.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }));
      items.push(...((result.Responses?.[this.tableName] ?? []) as Subscription[]));
      keys = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
    }
    return items;
  }
}
