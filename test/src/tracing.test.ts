import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../lambda/adapters/config';
import { ingestConfigSchema } from '../../lambda/adapters/ingest-config';
import { managementConfigSchema } from '../../lambda/adapters/management-config';
import { processorConfigSchema } from '../../lambda/adapters/processor-config';
import { EventNotificationService } from '../../src';
import { POWERTOOLS_TRACE_ENABLED } from '../../src/contract';
import { flatSettings, functionSettings } from '../helpers/function-settings';

/**
 * The `tracing` prop: on by default (X-Ray active tracing, the Powertools Tracer on); `false`
 * turns off the functions' active tracing and the Tracer (POWERTOOLS_TRACE_ENABLED=false, which
 * each handler reads to not even load it).
 */
function synth(tracing?: boolean) {
  const app = new App();
  const stack = new Stack(app, 'Tracing', { env: { account: '123456789012', region: 'eu-west-1' } });
  const svc = new EventNotificationService(stack, 'Svc', tracing === undefined ? {} : { tracing });
  const functions = [
    [svc.ingestFunction, ingestConfigSchema],
    [svc.managementFunction, managementConfigSchema],
    [svc.processorFunction, processorConfigSchema],
  ] as const;
  return { stack, functions };
}

test.each([[undefined, true], [true, true], [false, false]])('tracing: %s → Tracer on in each handler: %s', (tracing, on) => {
  const { stack, functions } = synth(tracing);
  for (const [fn, schema] of functions) {
    const settings = functionSettings(stack, fn);
    expect(settings[POWERTOOLS_TRACE_ENABLED]).toBe(on ? undefined : 'false');
    expect(readConfig(schema, flatSettings(settings)).POWERTOOLS_TRACE_ENABLED).toBe(on);
  }
  const template = Template.fromStack(stack);
  for (const resource of Object.values(template.findResources('AWS::Lambda::Function'))) {
    expect(resource.Properties.TracingConfig).toEqual(on ? { Mode: 'Active' } : undefined);
  }
});

test('POWERTOOLS_TRACE_ENABLED accepts only true or false', () => {
  const base = { QUEUE_URL: 'q', MAX_EVENT_SIZE_BYTES: '1000', EVENTS_TABLE_NAME: 'e' };
  expect(() => readConfig(ingestConfigSchema, { ...base, [POWERTOOLS_TRACE_ENABLED]: 'off' })).toThrow(/POWERTOOLS_TRACE_ENABLED/);
  expect(readConfig(ingestConfigSchema, { ...base, [POWERTOOLS_TRACE_ENABLED]: 'true' }).POWERTOOLS_TRACE_ENABLED).toBe(true);
});
