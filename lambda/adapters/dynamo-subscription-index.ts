import { DynamoDBDocumentClient, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { SUBSCRIPTIONS_BY_EVENT_TYPE_INDEX } from '../../src/contract';
import { SubscriptionIndex } from '../core/matching';
import { SubscriptionPauser } from '../core/processor';
import { Subscription } from '../core/subscription';

/** The processor's view of the Subscriptions table: Query by pattern (never Scan), and pausing. */
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
}
