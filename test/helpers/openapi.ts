import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/*
 * Checks against the OpenAPI document (lambda/openapi): the document itself with a real OpenAPI
 * 3.1 validator, and requests and answers against what it says about a route, with ajv's JSON
 * Schema 2020-12 (the dialect of OpenAPI 3.1).
 */

type Json = Record<string, any>;

const ROOT = path.join(__dirname, '..', '..');

/**
 * The document checked by @seriousme/openapi-schema-validator against the official OpenAPI
 * schema of its version (an ESM-only package, so it runs in its own Node.js process).
 */
export function validateOpenApiDocument(file: string): { valid: boolean; errors?: unknown[] } {
  const cli = path.join(ROOT, 'node_modules', '@seriousme', 'openapi-schema-validator', 'bin', 'validate-api-cli.js');
  try {
    return JSON.parse(execFileSync(process.execPath, [cli, file], { encoding: 'utf8' }));
  } catch (error) {
    // The command exits non-zero for an invalid document, with the result on stdout.
    const stdout = (error as { stdout?: string }).stdout;
    if (stdout) return JSON.parse(stdout);
    throw error;
  }
}

/** An HTTP answer as a test saw it. Header names in lower case. */
export interface ObservedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly text: string;
}

/** A fetch Response, read to the end, as an ObservedResponse. */
export async function observe(response: Response): Promise<ObservedResponse> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name.toLowerCase()] = value));
  return { status: response.status, headers, text: await response.text() };
}

export class OpenApiChecker {
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  /** `strict`: ajv's strict mode, which also refuses unknown keywords and formats in the schemas. */
  constructor(public readonly document: Json, strict = false) {
    this.ajv = new Ajv2020({ strict, strictTypes: false, strictRequired: false, allErrors: true });
    addFormats(this.ajv);
    // The schemas' `#/components/...` references resolve inside the wrapper each is compiled in.
    this.ajv.addKeyword('components');
  }

  /** The operation of `METHOD /resource/{template}`; throws when the document has none. */
  public operation(method: string, resource: string): Json {
    const operation = this.document.paths?.[resource]?.[method.toLowerCase()];
    if (!operation) throw new Error(`The OpenAPI document has no ${method} ${resource}`);
    return operation;
  }

  /** A schema of the document (it may hold `#/components/...` references), compiled once. */
  public validator(schema: Json, key: string): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile({ ...schema, components: this.document.components });
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** Why the document does not describe this answer of the route; empty when it does. */
  public responseErrors(method: string, resource: string, response: ObservedResponse): string[] {
    const where = `${method} ${resource} → ${response.status}`;
    const responses = this.operation(method, resource).responses ?? {};
    let documented: Json | undefined = responses[String(response.status)];
    if (!documented) return [`${where}: the document lists no ${response.status} (it lists ${Object.keys(responses).join(', ')})`];
    if (typeof documented.$ref === 'string') documented = this.resolve(documented.$ref);
    const errors: string[] = [];

    for (const [name, header] of Object.entries<Json>(documented!.headers ?? {})) {
      const value = response.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) errors.push(`${where}: the ${name} header is missing`);
        continue;
      }
      const validate = this.validator(header.schema, `${where} header ${name}`);
      if (!validate(value)) errors.push(`${where}: the ${name} header ${JSON.stringify(value)}: ${explain(validate, 'value')}`);
    }

    const content: Json | undefined = documented!.content;
    if (!content) {
      if (response.text !== '') errors.push(`${where}: the document says no body, but there is one: ${response.text.slice(0, 200)}`);
      return errors;
    }
    const mediaType = (response.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const media = content[mediaType];
    if (!media) return [...errors, `${where}: content-type ${mediaType || '(none)'} is not among ${Object.keys(content).join(', ')}`];
    let body: unknown;
    try {
      body = JSON.parse(response.text);
    } catch {
      return [...errors, `${where}: the body is not JSON: ${response.text.slice(0, 200)}`];
    }
    const validate = this.validator(media.schema, `${where} ${mediaType}`);
    if (!validate(body)) errors.push(`${where}: ${explain(validate, 'body')} in ${response.text.slice(0, 500)}`);
    return errors;
  }

  /** Whether the document accepts this JSON request body for the route, and why not. */
  public requestBodyErrors(method: string, resource: string, body: unknown, mediaType = 'application/json'): string[] {
    const schema = this.operation(method, resource).requestBody?.content?.[mediaType]?.schema;
    if (!schema) return [`${method} ${resource} takes no ${mediaType} body`];
    const validate = this.validator(schema, `${method} ${resource} request ${mediaType}`);
    return validate(body) ? [] : [explain(validate, 'body')];
  }

  /** Whether the document accepts this value of a parameter (`query`, `path`, `header`) of the route. */
  public parameterErrors(method: string, resource: string, where: string, name: string, value: unknown): string[] {
    const parameter = (this.operation(method, resource).parameters ?? []).find((p: Json) => p.in === where && p.name === name);
    if (!parameter) return [`${method} ${resource} has no ${where} parameter ${name}`];
    const validate = this.validator(parameter.schema, `${method} ${resource} ${where} ${name}`);
    return validate(value) ? [] : [explain(validate, name)];
  }

  private resolve(ref: string): Json {
    if (!ref.startsWith('#/')) throw new Error(`Only local references are followed: ${ref}`);
    const target = ref.slice(2).split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], this.document);
    if (!target) throw new Error(`Unresolved reference ${ref}`);
    return target;
  }
}

/** ajv's errors in a line, naming the offending property where ajv's message does not. */
function explain(validate: ValidateFunction, what: string): string {
  return (validate.errors ?? []).map((e) => {
    const property = e.params.additionalProperty ?? e.params.missingProperty;
    return `${what}${e.instancePath} ${e.message}${property ? ` (${property})` : ''}`;
  }).join('; ');
}
