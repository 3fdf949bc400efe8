import { BatchWriteCommand, DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { PartRecords } from '../core/fan-out';
import { NotificationRecord, NotificationStore } from '../core/notification';

const MAX_BATCH_WRITE = 25;
const MAX_UNPROCESSED_RETRIES = 5;

/**
 * The Notifications table: one Query reads an event's records (a fan-out's follow-up: one key range
 * of them), BatchWriteItem writes them.
 */
export class DynamoNotificationStore implements NotificationStore, PartRecords {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly tableName: string) {}

  public async list(eventId: string): Promise<NotificationRecord[]> {
    const items: NotificationRecord[] = [];
    const pages = paginateQuery({ client: this.client }, {
      TableName: this.tableName,
      KeyConditionExpression: 'eventId = :id',
      ExpressionAttributeValues: { ':id': eventId },
      ConsistentRead: true,
    });
    for await (const page of pages) items.push(...((page.Items ?? []) as NotificationRecord[]));
    return items;
  }

  public async listBetween(eventId: string, first: string, last: string): Promise<NotificationRecord[]> {
    const items: NotificationRecord[] = [];
    const pages = paginateQuery({ client: this.client }, {
      TableName: this.tableName,
      KeyConditionExpression: 'eventId = :id AND subscriptionId BETWEEN :first AND :last',
      ExpressionAttributeValues: { ':id': eventId, ':first': first, ':last': last },
      ConsistentRead: true,
    });
    for await (const page of pages) items.push(...((page.Items ?? []) as NotificationRecord[]));
    return items;
  }

  public async saveAll(records: readonly NotificationRecord[]): Promise<void> {
    const chunks: NotificationRecord[][] = [];
    for (let i = 0; i < records.length; i += MAX_BATCH_WRITE) chunks.push(records.slice(i, i + MAX_BATCH_WRITE));
    await Promise.all(chunks.map((chunk) => this.write(chunk)));
  }

  private async write(chunk: NotificationRecord[]): Promise<void> {
    let requests = chunk.map((record) => ({ PutRequest: { Item: record as unknown as Record<string, unknown> } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_RETRIES) throw new Error(`${requests.length} notification records were not written (throttled)`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const result = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
      requests = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
    }
  }
}
