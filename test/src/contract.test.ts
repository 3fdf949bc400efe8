import { App, Duration, SecretValue, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { readConfig } from '../../lambda/adapters/config';
import { ingestConfigSchema } from '../../lambda/adapters/ingest-config';
import { managementConfigSchema } from '../../lambda/adapters/management-config';
import { processorConfigSchema } from '../../lambda/adapters/processor-config';
import { EventNotificationService, InboundWebhookSource } from '../../src';
import {
  INGEST_SETTINGS, MANAGEMENT_SETTINGS, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME, PROCESSOR_SETTINGS, SETTINGS_FILE_VARIABLE,
} from '../../src/contract';
import { flatSettings, functionSettings } from '../helpers/function-settings';

/**
 * The runtime contract (src/contract) is the one list of names: the construct writes only those
 * names (environment and settings file), and what it writes is exactly what each handler's own
 * config schema reads, with default props and with every prop set.
 */
describe('runtime contract', () => {
  function synth(all: boolean) {
    const app = new App();
    const stack = new Stack(app, 'Contract', { env: { account: '123456789012', region: 'eu-west-1' } });
    const secret = new secretsmanager.Secret(stack, 'Secret', { secretStringValue: SecretValue.unsafePlainText('s') });
    const svc = new EventNotificationService(stack, 'Svc', all ? {
      fifo: true,
      email: { fromAddress: 'alerts@example.com', configurationSetName: 'set' },
      eventSchemas: { 'a.b': { type: apigateway.JsonSchemaType.OBJECT } },
      inboundWebhooks: [InboundWebhookSource.shopify({ name: 'shop', secret })],
      disableAfter: Duration.hours(12),
      circuitBreaker: { failureThreshold: 3, cooldown: Duration.seconds(10), maxCooldown: Duration.minutes(5) },
      secretRotationOverlap: Duration.hours(1),
    } : {});
    return { stack, svc };
  }

  test.each([['default props', false], ['every prop', true]])('%s: each function gets only contract names, and its handler reads them', (_name, all) => {
    const { stack, svc } = synth(all as boolean);
    const common = [POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, SETTINGS_FILE_VARIABLE];
    for (const [fn, names, schema] of [
      [svc.ingestFunction, INGEST_SETTINGS, ingestConfigSchema],
      [svc.managementFunction, MANAGEMENT_SETTINGS, managementConfigSchema],
      [svc.processorFunction, PROCESSOR_SETTINGS, processorConfigSchema],
    ] as const) {
      const settings = functionSettings(stack, fn);
      for (const name of Object.keys(settings)) expect([...names, ...common]).toContain(name);
      expect(() => readConfig(schema, flatSettings(settings))).not.toThrow();
    }
  });

  test('every contract name has a parser in its handler\'s config schema', () => {
    const keysOf = (schema: unknown) => Object.keys((schema as { def: { in?: { shape: object }; shape?: object } }).def.in?.shape
      ?? (schema as { shape: object }).shape);
    expect(keysOf(ingestConfigSchema).sort()).toEqual([...INGEST_SETTINGS].sort());
    expect(keysOf(managementConfigSchema).sort()).toEqual([...MANAGEMENT_SETTINGS].sort());
    expect(keysOf(processorConfigSchema).sort()).toEqual([...PROCESSOR_SETTINGS].sort());
  });
});
