import { readConfig } from '../../lambda/adapters/config';
import { ingestConfigSchema } from '../../lambda/adapters/ingest-config';
import { managementConfigSchema } from '../../lambda/adapters/management-config';
import { processorConfigSchema } from '../../lambda/adapters/processor-config';
import { localSecretArn, templateConfig } from '../../local/template-config';

const LOCAL = {
  eventsQueueUrl: 'http://127.0.0.1:9/000000000000/events',
  deadLetterQueueUrl: 'http://127.0.0.1:9/000000000000/dlq',
  tables: { events: 'local-events', subscriptions: 'local-subscriptions', notifications: 'local-notifications' },
  defaultApiKeyId: 'local-key-id',
};

/** The local runtime's configuration comes from the synthesized template, not a copy of it. */
describe('local/template-config', () => {
  test('default props: each function\'s settings as the template gives them, deploy-time values replaced by local ones', () => {
    const config = templateConfig({}, LOCAL);
    const processor = readConfig(processorConfigSchema, config.functions.processor);
    expect(processor).toMatchObject({
      QUEUE_URL: LOCAL.eventsQueueUrl,
      DEAD_LETTER_QUEUE_URL: LOCAL.deadLetterQueueUrl,
      EVENTS_TABLE_NAME: 'local-events',
      QUEUE_FIFO: false,
      RETRY_SCHEDULE_SECONDS: [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
      MAX_RECEIVE_COUNT: 13,
      WEBHOOK_TIMEOUT_MS: 15000,
      ISOLATION: 'SHARED',
      QUEUE_PUBLISHER_KEY_ID: 'local-key-id',
    });
    expect(readConfig(ingestConfigSchema, config.functions.ingest))
      .toMatchObject({ QUEUE_URL: LOCAL.eventsQueueUrl, MAX_EVENT_SIZE_BYTES: 256 * 1024 });
    expect(readConfig(managementConfigSchema, config.functions.management)).toMatchObject({ SUBSCRIPTIONS_TABLE_NAME: 'local-subscriptions' });
    expect(config.eventSource).toEqual({ batchSize: 10, maximumBatchingWindowSeconds: 0 });
    expect(config.eventsQueue).toEqual({ fifo: false, visibilityTimeoutSeconds: 360, maxReceiveCount: 13 });
    expect(config.processorTimeoutSeconds).toBe(60);
  });

  test('command-line props reach the handlers through the construct: FIFO, schedule, schemas (settings file), inbound sources', () => {
    const config = templateConfig({
      fifo: true,
      isolation: 'API_KEY',
      retryScheduleSeconds: [0, 1, 2.5],
      webhookTimeoutMs: 2000,
      subscriptionCacheTtlSeconds: 1,
      emailFrom: 'notifications@local.test',
      eventSchemas: { 'deploy.finished': { type: 'object', required: ['details'] } },
      inboundWebhooks: [{ name: 'shop', provider: 'shopify', severity: 'HIGH' }],
    }, LOCAL);
    expect(readConfig(processorConfigSchema, config.functions.processor)).toMatchObject({
      QUEUE_FIFO: true,
      RETRY_SCHEDULE_SECONDS: [0, 1, 2.5],
      MAX_RECEIVE_COUNT: 8,
      WEBHOOK_TIMEOUT_MS: 2000,
      SUBSCRIPTION_CACHE_TTL_SECONDS: 1,
      EMAIL_FROM_ADDRESS: 'notifications@local.test',
      EVENT_SCHEMAS: { 'deploy.finished': { type: 'object', required: ['details'] } },
      ISOLATION: 'API_KEY',
      INBOUND_OWNER_KEY_IDS: new Map([['webhook:shop', 'local-key-id']]),
    });
    expect(readConfig(ingestConfigSchema, config.functions.ingest).INBOUND_SOURCES).toEqual([
      { name: 'shop', provider: 'shopify', severity: 'HIGH', secretId: localSecretArn('shop') },
    ]);
    expect(config.eventsQueue.fifo).toBe(true);
    // FIFO: one message per batch, as the construct sets the event source.
    expect(config.eventSource.batchSize).toBe(1);
    expect(config.inboundSecretArns).toEqual({ shop: localSecretArn('shop') });
  });

  test('props the construct refuses are refused locally with the construct\'s own message', () => {
    expect(() => templateConfig({ retryScheduleSeconds: [0, 13 * 3600] }, LOCAL)).toThrow(/retrySchedule\[1\] must be between 0 and 12 hours/);
  });
});
