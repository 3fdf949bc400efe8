import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailed } from './dynamo-errors';
import { EventNotStorableError, EventStore, StoredEvent } from '../core/stored-event';

/** The Events table. Writes are conditional: an SQS redelivery never stores an event twice. */
export class DynamoEventStore implements EventStore {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly tableName: string) {}

  public async putIfAbsent(event: StoredEvent): Promise<boolean> {
    return this.conditionalPut(event, 'attribute_not_exists(eventId) OR #status = :rejected');
  }

  public async putRejected(event: StoredEvent): Promise<void> {
    await this.conditionalPut(event, 'attribute_not_exists(eventId) OR #status = :rejected');
  }

  public async get(eventId: string): Promise<StoredEvent | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { eventId } }));
    return result.Item as StoredEvent | undefined;
  }

  private async conditionalPut(event: StoredEvent, condition: string): Promise<boolean> {
    try {
      await this.client.send(new PutCommand({
        TableName: this.tableName,
        Item: event,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':rejected': 'REJECTED' },
      }));
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      // DynamoDB's answer for an item it can never store (size, nesting), as opposed to throttling.
      if (error instanceof Error && error.name === 'ValidationException') {
        throw new EventNotStorableError(`the event cannot be stored: ${error.message}`);
      }
      throw error;
    }
  }
}
