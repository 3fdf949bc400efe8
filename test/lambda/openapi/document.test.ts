import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openApiDocument } from '../../../lambda/openapi/document';
import { OPENAPI_FILE, openApiText } from '../../../lambda/openapi/generate';
import { COMPONENTS } from '../../../lambda/openapi/operations';
import { API_ROUTES, ApiRoute, splitRoute } from '../../../src/contract';
import { apiEvent } from '../../helpers/api-event';
import { FAKE_AWS_ENV } from '../../helpers/dynamo';
import { loadHandler } from '../../helpers/handlers';
import { OpenApiChecker, validateOpenApiDocument } from '../../helpers/openapi';
import { header } from '../../helpers/problems';

/*
 * The OpenAPI document (lambda/openapi): valid OpenAPI 3.1, current in the committed openapi.json,
 * and describing exactly the routes of API_ROUTES, which are exactly the handlers' routes.
 */

const document = openApiDocument() as Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-openapi-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Every `schema` object in the document with where it is. */
function schemasIn(node: unknown, where = '#'): [string, Record<string, unknown>][] {
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]): [string, Record<string, unknown>][] => {
    const here = `${where}/${key}`;
    if (key === 'schema' && typeof value === 'object') return [[here, value as Record<string, unknown>]];
    if (where === '#/components' && key === 'schemas') return Object.entries(value as object).map(([name, s]) => [`${here}/${name}`, s]);
    return schemasIn(value, here);
  });
}

describe('openapi.json', () => {
  test('the committed file is what `npx projen openapi` writes now', () => {
    const committed = fs.readFileSync(OPENAPI_FILE, 'utf8');
    if (committed !== openApiText()) {
      throw new Error('openapi.json is out of date: run `npx projen openapi` (the build does) and commit it');
    }
  });

  test('ships in the npm package', () => {
    // What `npm publish` would upload (scripts skipped: the file list, not a build).
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: path.dirname(OPENAPI_FILE), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    expect(files).toContain(path.basename(OPENAPI_FILE));
  }, 60_000);

  test('is valid OpenAPI 3.1 for @seriousme/openapi-schema-validator', () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    expect(validateOpenApiDocument(OPENAPI_FILE)).toEqual({ valid: true });
  });

  test('the validator does refuse a broken document (a path parameter that is optional)', () => {
    const broken = structuredClone(document);
    broken.paths['/events/{eventId}'].get.parameters[0].required = false;
    const file = path.join(tmp, 'broken.json');
    fs.writeFileSync(file, JSON.stringify(broken));
    expect(validateOpenApiDocument(file).valid).toBe(false);
  });

  test('every schema in it is JSON Schema 2020-12 that ajv compiles in strict mode (no unknown keywords or formats)', () => {
    const strict = new OpenApiChecker(document, true);
    const schemas = schemasIn(document);
    expect(schemas.length).toBeGreaterThan(40);
    for (const [where, schema] of schemas) {
      expect(() => strict.validator(schema, where)).not.toThrow();
    }
    // What it would refuse: the format zod gives startsWith().
    expect(() => strict.validator({ type: 'string', format: 'starts_with' }, 'zod-only format')).toThrow(/unknown format/);
  });

  test('every named schema is used, and every reference resolves', () => {
    const text = JSON.stringify(document);
    const names = [...Object.keys(COMPONENTS.input), ...Object.keys(COMPONENTS.output)];
    expect(Object.keys(document.components.schemas).sort()).toEqual([...names].sort());
    for (const name of names) expect(text).toContain(`"#/components/schemas/${name}"`);
    for (const [, kind, name] of text.matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)) {
      expect(document.components[kind]?.[name]).toBeDefined();
    }
  });
});

describe('routes', () => {
  const documented = Object.entries<Record<string, any>>(document.paths)
    .flatMap(([resource, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${resource}`));

  test('the document has exactly the routes of API_ROUTES', () => {
    expect(documented.sort()).toEqual(Object.keys(API_ROUTES).sort());
  });

  test.each(Object.keys(API_ROUTES) as ApiRoute[])('%s: API key requirement, a success answer, problem+json errors, unique id', (route) => {
    const { method, resource } = splitRoute(route);
    const operation = document.paths[resource][method.toLowerCase()];
    // No key: the operation overrides the document's `security` with none.
    expect(operation.security).toEqual(API_ROUTES[route].apiKeyRequired ? undefined : []);
    const statuses = Object.keys(operation.responses).map(Number);
    expect(statuses.filter((s) => s >= 200 && s < 300)).toHaveLength(1);
    for (const status of statuses.filter((s) => s >= 400)) {
      const response = operation.responses[status];
      const content = response.$ref ? document.components.responses[response.$ref.split('/').pop()].content : response.content;
      expect(Object.keys(content)).toEqual(['application/problem+json']);
    }
    if (API_ROUTES[route].apiKeyRequired) expect(statuses).toContain(403);
    const ids = documented.map((r) => document.paths[splitRoute(r as ApiRoute).resource][splitRoute(r as ApiRoute).method.toLowerCase()].operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  /*
   * The handlers' route tables are typed by API_ROUTES (RouteTable), so they cannot differ at
   * compile time; this checks the loaded handlers too. An unknown method on a known resource
   * answers 405 with the methods the handler has for it, an unknown resource 404.
   */
  const ENV: Record<string, string> = {
    ...FAKE_AWS_ENV,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/ens-events',
    QUEUE_FIFO: 'false',
    MAX_EVENT_SIZE_BYTES: '262144',
    INBOUND_SOURCES: '[]',
    EVENTS_TABLE_NAME: 'events',
    SUBSCRIPTIONS_TABLE_NAME: 'subscriptions',
    NOTIFICATIONS_TABLE_NAME: 'notifications',
  };
  test.each(['ingest', 'management'] as const)('the %s handler serves exactly its routes of API_ROUTES', async (name) => {
    const { handler } = loadHandler(name, ENV);
    const resources = [...new Set(Object.keys(API_ROUTES).map((r) => splitRoute(r as ApiRoute).resource))];
    const served: string[] = [];
    for (const resource of resources) {
      const result = await handler(apiEvent({ method: 'TRACE', resource }));
      if (result.statusCode === 405) served.push(...header(result, 'allow')!.split(', ').map((method) => `${method} ${resource}`));
      else expect(result.statusCode).toBe(404);
    }
    const expected = (Object.keys(API_ROUTES) as ApiRoute[]).filter((route) => API_ROUTES[route].function === name);
    expect(served.sort()).toEqual(expected.sort());
  });
});
