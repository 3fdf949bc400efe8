import type { ValidateFunction } from 'ajv';

/** Port: deep validation of an event against the schema of its type. */
export interface SchemaValidator {
  /** Problems with the event, empty when it is valid or its type has no schema. */
  validate(eventType: string, event: unknown): string[];
}

/**
 * JSON Schema validation with Ajv, one compiled validator per event type, built once per
 * container. Schemas come from the construct (API Gateway JsonSchema, draft-04 or draft-07
 * style); `$schema` is dropped and they are read as draft-07.
 */
export class JsonSchemaValidator implements SchemaValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(schemas: Readonly<Record<string, object>>) {
    const entries = Object.entries(schemas);
    // Ajv (~120 KB) loads only for a deployment with schemas: without, every event passes.
    if (entries.length === 0) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const [eventType, schema] of entries) {
      const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
      this.validators.set(eventType, ajv.compile(rest));
    }
  }

  public validate(eventType: string, event: unknown): string[] {
    const validate = this.validators.get(eventType);
    if (!validate || validate(event)) return [];
    return (validate.errors ?? []).slice(0, 20).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
  }
}
