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
    return result.Item ? storedEventFromItem(result.Item) : undefined;
  }

  private async conditionalPut(event: StoredEvent, condition: string): Promise<boolean> {
    try {
      await this.client.send(new PutCommand({
        TableName: this.tableName,
        Item: storedEventItem(event),
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

/**
 * The item of an event: its exact text, never the parsed view. Stored as a string, the
 * publisher's numbers keep every digit and nothing in the event can make DynamoDB refuse the item
 * (numbers beyond its range, nesting deeper than 32 levels, keys the marshaller cannot convert).
 */
export function storedEventItem(event: StoredEvent): Record<string, unknown> {
  const { event: _view, ...item } = event;
  return item;
}

/** An item back as a StoredEvent; items written before `eventJson` existed hold a map `event`. */
export function storedEventFromItem(item: Record<string, unknown>): StoredEvent {
  const eventJson = typeof item.eventJson === 'string' ? item.eventJson : JSON.stringify(item.event ?? null);
  let event: unknown;
  try {
    event = JSON.parse(eventJson);
  } catch {
    event = undefined; // a rejected event's text need not be JSON
  }
  const { event: _legacy, ...rest } = item;
  return { ...rest, eventJson, event } as unknown as StoredEvent;
}
