import { Subscription } from '../../lambda/core/subscription';

/** A stored subscription with test defaults (a webhook for every event type and severity). */
export function subscription(fields: Partial<Subscription> = {}): Subscription {
  return {
    subscriptionId: 'sub_01JD000000000000000000000A',
    ownerKeyId: 'key-1',
    eventType: '*',
    severityFilter: 'LOW',
    channel: 'WEBHOOK',
    target: 'https://example.com/hook',
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...fields,
  };
}
