import { readConfig } from '../../lambda/adapters/config';
import { processorConfigSchema } from '../../lambda/adapters/processor-config';
import { templateConfig } from '../../local/template-config';

const LOCAL = {
  eventsQueueUrl: 'http://127.0.0.1:9/000000000000/events',
  deadLetterQueueUrl: 'http://127.0.0.1:9/000000000000/dlq',
  tables: { events: 'local-events', subscriptions: 'local-subscriptions', notifications: 'local-notifications' },
  defaultApiKeyId: 'local-key-id',
};

/**
 * The processor's time limit (processorFunctionProps.timeout) reaches the local runtime through
 * the synthesized template: the deadline each batch gets and the events queue's visibility.
 */
describe('local runtime: the processor timeout override', () => {
  test('the deadline and the queue visibility (6 x) follow the override', () => {
    const config = templateConfig({ processorTimeoutSeconds: 45 }, LOCAL);
    expect(config.processorTimeoutSeconds).toBe(45);
    expect(config.eventsQueue.visibilityTimeoutSeconds).toBe(270);
  });

  test('with FIFO queues and a short webhook timeout (the lowest the construct allows: webhook timeout + 10 s)', () => {
    const config = templateConfig({ fifo: true, webhookTimeoutMs: 2000, processorTimeoutSeconds: 12 }, LOCAL);
    expect(config.processorTimeoutSeconds).toBe(12);
    expect(config.eventsQueue).toMatchObject({ fifo: true, visibilityTimeoutSeconds: 72 });
    expect(readConfig(processorConfigSchema, config.functions.processor).WEBHOOK_TIMEOUT_MS).toBe(2000);
  });

  test('without the override, the construct\'s default (2 x webhook timeout + 30 s, at least 60 s)', () => {
    expect(templateConfig({ webhookTimeoutMs: 40_000 }, LOCAL).processorTimeoutSeconds).toBe(110);
  });

  test('a timeout the construct refuses is refused locally with its message', () => {
    expect(() => templateConfig({ processorTimeoutSeconds: 20 }, LOCAL))
      .toThrow(/processorFunctionProps\.timeout must be whole seconds from 25 to 600/);
  });
});
