import * as z from 'zod';
import { COMPONENTS, OPERATIONS, OperationSpec, ParameterSpec, ResponseSpec, TAGS } from './operations';
import { API_ROUTES, API_STAGE_NAME, ApiRoute, splitRoute } from '../../src/contract';

/*
 * The OpenAPI 3.1 document of the HTTP API (docs/architecture.md "API routes and the OpenAPI document"), built from the zod
 * schemas the handlers validate with and answer by (z.toJSONSchema), the routes of API_ROUTES and
 * what operations.ts says about each. `npx projen openapi` writes it to openapi.json; the local
 * runtime serves it at GET /openapi.json.
 */

type Json = Record<string, unknown>;

export interface OpenApiOptions {
  /** Servers to list (default: the deployed stage and the local runtime's default port). */
  readonly servers?: readonly { readonly url: string; readonly description?: string }[];
}

const SCHEMA_REF = '#/components/schemas/';
const RESPONSE_REF = '#/components/responses/';
const PROBLEM_JSON = 'application/problem+json';
const ZOD_ONLY_FORMATS = new Set(['starts_with', 'ends_with', 'includes']);

/** Answers API Gateway or the entry point may give on any route (components/responses), unless the route says more. */
const COMMON_RESPONSES = {
  Forbidden: { status: 403, description: 'The x-api-key header is missing or is not a key of this API', problem: true },
  RequestTooLarge: { status: 413, description: 'The request is larger than API Gateway accepts', problem: true },
  TooManyRequests: { status: 429, description: 'Throttled, or over the usage plan\'s quota', problem: true },
  InternalError: { status: 500, description: 'Unexpected error; nothing about it is disclosed', problem: true },
} as const satisfies Record<string, ResponseSpec & { status: number }>;

/** Drops what JSON Schema output carries but an OpenAPI document need not (or must not) hold. */
function tidy(ctx: { jsonSchema: Json }): void {
  const schema = ctx.jsonSchema;
  // z.number().int() bounds to the safe integers: noise for a reader.
  if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
  if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
  // `format: date-time` says it; zod's long pattern for it would only hide it.
  if (schema.format === 'date-time') delete schema.pattern;
  // zod names its string checks as formats no JSON Schema tool knows; the pattern it also emits says it.
  if (typeof schema.format === 'string' && ZOD_ONLY_FORMATS.has(schema.format)) delete schema.format;
}

function withoutDialect(schema: Json): Json {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/** components/schemas, and which zod schema each name stands for. */
function components(): { schemas: Record<string, Json>; names: Map<z.ZodType, string> } {
  const schemas: Record<string, Json> = {};
  const names = new Map<z.ZodType, string>();
  for (const io of ['input', 'output'] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [name, schema] of Object.entries(COMPONENTS[io])) {
      if (names.has(schema) || name in schemas) throw new Error(`OpenAPI component ${name} is named twice`);
      registry.add(schema, { id: name });
      names.set(schema, name);
    }
    const converted = z.toJSONSchema(registry, { io, uri: (id) => SCHEMA_REF + id, override: tidy as never });
    for (const [name, schema] of Object.entries(converted.schemas)) schemas[name] = withoutDialect(schema as Json);
  }
  return { schemas, names };
}

export function openApiDocument(options: OpenApiOptions = {}): Json {
  const { schemas, names } = components();
  const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): Json => {
    const name = names.get(schema);
    if (name !== undefined) return { $ref: SCHEMA_REF + name };
    return withoutDialect(z.toJSONSchema(schema, { io, override: tidy as never }) as Json);
  };
  const parameter = (name: string, where: 'path' | 'query' | 'header', spec: ParameterSpec): Json => ({
    name,
    in: where,
    ...(spec.description ? { description: spec.description } : {}),
    required: where === 'path' ? true : spec.required ?? false,
    schema: schemaOf(spec.schema, 'input'),
  });

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of Object.keys(API_ROUTES) as ApiRoute[]) {
    const { method, resource } = splitRoute(route);
    const spec = OPERATIONS[route];
    checkPathParameters(route, resource, spec);
    const apiKeyRequired = API_ROUTES[route].apiKeyRequired;
    const parameters = [
      ...Object.entries(spec.path ?? {}).map(([name, p]) => parameter(name, 'path', p)),
      ...queryParameters(spec, schemaOf),
      ...Object.entries(spec.headers ?? {}).map(([name, p]) => parameter(name, 'header', p)),
    ];
    paths[resource] ??= {};
    paths[resource][method.toLowerCase()] = {
      operationId: spec.operationId,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: [spec.tag],
      // API Gateway asks these routes for no key (inbound webhooks prove themselves by signature).
      ...(apiKeyRequired ? {} : { security: [] }),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(spec.body ? {
        requestBody: {
          required: true,
          ...(spec.body.description ? { description: spec.body.description } : {}),
          content: Object.fromEntries((spec.body.mediaTypes ?? ['application/json']).map((type) => [type, { schema: schemaOf(spec.body!.schema, 'input') }])),
        },
      } : {}),
      responses: Object.fromEntries([
        ...Object.entries(spec.responses).map(([status, response]) => [status, responseObject(response, schemaOf)] as const),
        ...commonResponses(spec, apiKeyRequired).map((name) => [String(COMMON_RESPONSES[name].status), { $ref: RESPONSE_REF + name }] as const),
      ].sort(([a], [b]) => Number(a) - Number(b))),
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Event notification service',
      version: API_STAGE_NAME,
      description: 'Publish events; subscribers receive them by email or signed webhook (Standard Webhooks). '
        + 'Every error is `application/problem+json` (RFC 9457). Generated from the service\'s own validation schemas.',
    },
    servers: options.servers ?? [
      {
        url: `https://{restApiId}.execute-api.{region}.amazonaws.com/${API_STAGE_NAME}`,
        description: 'A deployment: the stack\'s API endpoint output',
        variables: { restApiId: { default: 'restApiId' }, region: { default: 'us-east-1' } },
      },
      { url: 'http://127.0.0.1:3000', description: 'The local runtime (npm run dev)' },
    ],
    security: [{ apiKey: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas,
      responses: Object.fromEntries(Object.entries(COMMON_RESPONSES)
        .map(([name, { status: _status, ...response }]) => [name, responseObject(response, schemaOf)])),
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key of the deployment\'s usage plan' },
      },
    },
  };
}

function commonResponses(spec: OperationSpec, apiKeyRequired: boolean): (keyof typeof COMMON_RESPONSES)[] {
  return [
    ...(apiKeyRequired ? ['Forbidden' as const] : []),
    ...(spec.body ? ['RequestTooLarge' as const] : []),
    'TooManyRequests' as const,
    'InternalError' as const,
  ].filter((name) => !(COMMON_RESPONSES[name].status in spec.responses));
}

function responseObject(response: ResponseSpec, schemaOf: (schema: z.ZodType, io: 'input' | 'output') => Json): Json {
  const headers = Object.entries(response.headers ?? {});
  return {
    description: response.description,
    ...(headers.length > 0 ? {
      headers: Object.fromEntries(headers.map(([name, h]) => [name, {
        ...(h.description ? { description: h.description } : {}),
        required: h.required ?? false,
        schema: schemaOf(h.schema, 'output'),
      }])),
    } : {}),
    ...(response.body ? { content: { 'application/json': { schema: schemaOf(response.body, 'output') } } } : {}),
    ...(response.problem ? { content: { [PROBLEM_JSON]: { schema: { $ref: SCHEMA_REF + 'Problem' } } } } : {}),
  };
}

function queryParameters(spec: OperationSpec, schemaOf: (schema: z.ZodType, io: 'input' | 'output') => Json): Json[] {
  if (!spec.query) return [];
  const object = schemaOf(spec.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, { description, ...schema }]) => ({
    name,
    in: 'query',
    ...(description ? { description } : {}),
    required: object.required?.includes(name) ?? false,
    schema,
  }));
}

function checkPathParameters(route: ApiRoute, resource: string, spec: OperationSpec): void {
  const inRoute = [...resource.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
  const described = Object.keys(spec.path ?? {}).sort();
  if (inRoute.join() !== described.join()) {
    throw new Error(`OpenAPI: ${route} has path parameters [${inRoute.join(', ')}] but operations.ts describes [${described.join(', ')}]`);
  }
}
