import { App, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { readConfig } from '../../lambda/adapters/config';
import { ingestConfigSchema } from '../../lambda/adapters/ingest-config';
import { processorConfigSchema } from '../../lambda/adapters/processor-config';
import { EventNotificationService, InboundWebhookSource } from '../../src';
import { environmentBytes, MAX_ENVIRONMENT_BYTES } from '../../src/service-function';
import { environmentJsonBytes, flatSettings, functionSettings } from '../helpers/function-settings';

/** Limits CloudFormation and Lambda enforce at deploy time hold at synth (docs/architecture.md "Settings"). */
describe('deploy-time limits', () => {
  /** Event schemas of about `kib` KiB as JSON: many types, each with a few dozen properties. */
  function schemas(kib: number): Record<string, apigateway.JsonSchema> {
    const result: Record<string, apigateway.JsonSchema> = {};
    for (let i = 0; Buffer.byteLength(JSON.stringify(result)) < kib * 1024; i++) {
      const properties: Record<string, apigateway.JsonSchema> = {};
      for (let p = 0; p < 40; p++) properties[`field${p}`] = { type: apigateway.JsonSchemaType.STRING, maxLength: 64, pattern: '^[a-z0-9-]+$' };
      result[`domain${i}.entity.changed`] = { type: apigateway.JsonSchemaType.OBJECT, required: ['details'], properties: { details: { type: apigateway.JsonSchemaType.OBJECT, properties } } };
    }
    return result;
  }

  test('100 KB of event schemas and five inbound sources: every function environment is at most 4 KB, and the handlers read it all', () => {
    const app = new App();
    const stack = new Stack(app, 'Big', { env: { account: '123456789012', region: 'ap-southeast-2' } });
    const eventSchemas = schemas(100);
    const sources = ['shop', 'gh', 'pay', 'std', 'ci'].map((name) => {
      const secret = new secretsmanager.Secret(stack, `${name}Secret`);
      switch (name) {
        case 'shop': return InboundWebhookSource.shopify({ name, secret });
        case 'gh': return InboundWebhookSource.github({ name, secret });
        case 'pay': return InboundWebhookSource.stripe({ name, secret });
        case 'std': return InboundWebhookSource.standardWebhooks({ name, secret });
        default: return InboundWebhookSource.hmac({ name, secret, header: 'X-Signature', prefix: 'sha256='.repeat(9) });
      }
    });
    const svc = new EventNotificationService(stack, 'Svc', { eventSchemas, inboundWebhooks: sources, email: { fromAddress: 'alerts@example.com' } });

    for (const fn of [svc.ingestFunction, svc.managementFunction, svc.processorFunction]) {
      expect(environmentJsonBytes(stack, fn)).toBeLessThanOrEqual(MAX_ENVIRONMENT_BYTES);
    }
    const processor = functionSettings(stack, svc.processorFunction);
    expect(Buffer.byteLength(processor.EVENT_SCHEMAS as string)).toBeGreaterThan(100 * 1024);
    expect(Object.keys(readConfig(processorConfigSchema, flatSettings(processor)).EVENT_SCHEMAS)).toHaveLength(Object.keys(eventSchemas).length);
    expect(readConfig(ingestConfigSchema, flatSettings(functionSettings(stack, svc.ingestFunction))).INBOUND_SOURCES.map((s) => s.name))
      .toEqual(['shop', 'gh', 'pay', 'std', 'ci']);
  });

  test('the environment is measured as Lambda does (JSON of the variables), deploy-time values at a generous allowance', () => {
    const app = new App();
    const stack = new Stack(app, 'Env');
    const queue = new sqs.Queue(stack, 'Q');
    expect(environmentBytes({ A: 'x' })).toBe(Buffer.byteLength('{"A":"x"}'));
    expect(environmentBytes({ A: 'x'.repeat(4090) })).toBeGreaterThan(MAX_ENVIRONMENT_BYTES);
    // A queue URL is a token of ~20 characters at synth but ~130 bytes once deployed.
    expect(environmentBytes({ QUEUE_URL: queue.queueUrl })).toBe(Buffer.byteLength('{"QUEUE_URL":""}') + 160);
    // Every token inside a value counts, not one per value.
    expect(environmentBytes({ IDS: `${queue.queueArn},${queue.queueUrl}` })).toBe(Buffer.byteLength('{"IDS":","}') + 2 * 160);
  });
});
