import { App, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { JsonSchemaValidator } from '../../lambda/core/schema-validator';
import { EventNotificationService } from '../../src';
import { toStandardJsonSchema } from '../../src/settings';
import { functionSettings } from '../helpers/function-settings';

/** eventSchemas travel from CDK's JsonSchema spelling to the processor's standard JSON Schema. */
describe('eventSchemas', () => {
  const deploySchema: apigateway.JsonSchema = {
    schema: apigateway.JsonSchemaVersion.DRAFT4,
    type: apigateway.JsonSchemaType.OBJECT,
    required: ['details'],
    definitions: { version: { type: apigateway.JsonSchemaType.STRING, pattern: '^v\\d+$' } },
    properties: {
      // a property literally named "ref" and "schema": user names, never keywords
      ref: { type: apigateway.JsonSchemaType.STRING },
      schema: { type: apigateway.JsonSchemaType.STRING },
      details: {
        type: apigateway.JsonSchemaType.OBJECT,
        required: ['version'],
        properties: { version: { ref: '#/definitions/version' } },
      },
    },
  };

  test('maps schema/ref to $schema/$ref, but not user-defined property names', () => {
    const mapped = toStandardJsonSchema(deploySchema) as Record<string, any>;
    expect(mapped.$schema).toBe('http://json-schema.org/draft-04/schema#');
    expect(mapped.schema).toBeUndefined();
    expect(mapped.properties.ref).toEqual({ type: 'string' });
    expect(mapped.properties.schema).toEqual({ type: 'string' });
    expect(mapped.properties.details.properties.version).toEqual({ $ref: '#/definitions/version' });
  });

  test('the processor\'s settings file (in its asset, not its environment) carries the mapped schemas, and they validate as intended', () => {
    const app = new App();
    const stack = new Stack(app, 'SchemaStack');
    const svc = new EventNotificationService(stack, 'Svc', { eventSchemas: { 'deploy.finished': deploySchema } });
    const settings = functionSettings(stack, svc.processorFunction);
    expect(settings.SETTINGS_FILE).toBe('settings.json');
    const schemas = JSON.parse(settings.EVENT_SCHEMAS as string);
    const validator = new JsonSchemaValidator(schemas);
    const base = { eventType: 'deploy.finished', severity: 'LOW', title: 't' };
    expect(validator.validate('deploy.finished', { ...base, details: { version: 'v12' } })).toEqual([]);
    expect(validator.validate('deploy.finished', { ...base, details: { version: 'twelve' } }).join()).toMatch(/pattern/);
    expect(validator.validate('deploy.finished', base).join()).toMatch(/details/);
    expect(validator.validate('other.type', base)).toEqual([]);
  });
});
