import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import { SETTINGS_FILE_VARIABLE } from '../../src/contract';

/*
 * Each function's settings schema is a module of its own (ingest-config.ts, management-config.ts,
 * processor-config.ts), so a bundle builds only its own schema at cold start.
 */

/**
 * A handler's settings: its environment, plus the settings file named by SETTINGS_FILE. Lambda
 * limits a function's environment to 4 KB, so large settings (event schemas, inbound sources)
 * travel in a JSON file inside the function's asset (`{ "NAME": "value" }`, the same names and
 * string values as environment variables). A relative name is read from the function's folder.
 */
export function handlerSettings(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const file = env[SETTINGS_FILE_VARIABLE];
  if (!file) return env;
  const where = path.resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), file);
  let settings: unknown;
  try {
    settings = JSON.parse(fs.readFileSync(where, 'utf8'));
  } catch (error) {
    throw new Error(`Invalid function configuration: SETTINGS_FILE ${where} cannot be read as JSON: ${(error as Error).message}`);
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings) || Object.values(settings).some((v) => typeof v !== 'string')) {
    throw new Error(`Invalid function configuration: SETTINGS_FILE ${where} must hold an object of strings`);
  }
  return { ...env, ...(settings as Record<string, string>) };
}

/**
 * Reads a handler's settings (environment and settings file), failing fast with every problem
 * named: a misconfigured function should not start, rather than fail one request at a time.
 */
export function readConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = handlerSettings()): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function configuration: ${problems}`);
  }
  return parsed.data;
}

export const booleanFlag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');
/** POWERTOOLS_TRACE_ENABLED: on unless the construct's `tracing: false` set it to false. */
export const tracingFlag = z.enum(['true', 'false']).default('true').transform((v) => v === 'true');
