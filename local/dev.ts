import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { LocalInboundSource, RuntimeOptions, startRuntime } from './runtime';
import type { LocalCircuitBreaker } from './template-config';

/** Parses `0s,1s,2m,1h` (or plain seconds) into seconds. */
export function parseSchedule(value: string): number[] {
  return value.split(',').map((step) => parseDuration(step, '--retry-schedule'));
}

/** Parses one duration (`500ms`, `5s`, `2m`, `1h`, `2d` or plain seconds) into seconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new Error(`${flag}: "${value}" is not a duration like 0s, 5s, 2m or 1h`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600, d: n * 86400 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
}

const USAGE = `Usage: npm run dev -- [--port 3000] [--api-key KEY ...] [--data-dir .ens-data]
                      [--retry-schedule 0s,1s,2s] [--allow-private-targets] [--ses-port 8005] [--verbose]
                      [--fifo]                              FIFO queues, as the construct's fifo: true
                      [--isolation shared|api-key]          who receives whose events (the construct's isolation)
                      [--inbound name=provider:secret ...]   provider: shopify, github, stripe, standard-webhooks
                      [--event-schemas schemas.json]        {"eventType": <JSON Schema>, ...}
                      [--metrics]                           print the functions' CloudWatch metrics (EMF JSON lines) on stdout
                      [--secret-rotation-overlap 24h]       how long a rotated-out secret still signs
                      [--disable-after 30s]                 disable a subscription whose deliveries all failed this long (default 5 days)
                      [--circuit-breaker 5,30s,15m | off]   failures in a row that open a webhook's breaker, first and longest cool-down`;

function readSchemas(file: string): Record<string, object> {
  const schemas = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (typeof schemas !== 'object' || schemas === null || Array.isArray(schemas)) throw new Error(`--event-schemas: ${file} must hold a JSON object`);
  return schemas as Record<string, object>;
}

/** `off`, `5`, `5,30s` or `5,30s,15m`: failures in a row, first cool-down, longest cool-down. */
export function parseCircuitBreaker(value: string): LocalCircuitBreaker {
  if (value.trim() === 'off') return { failureThreshold: 0 };
  const [threshold, cooldown, maxCooldown, ...rest] = value.split(',');
  if (!/^\d+$/.test(threshold.trim()) || rest.length > 0) {
    throw new Error(`--circuit-breaker "${value}": expected off, or failures[,cooldown[,maxCooldown]] such as 5,30s,15m`);
  }
  return {
    failureThreshold: Number(threshold),
    ...(cooldown !== undefined ? { cooldownSeconds: parseDuration(cooldown, '--circuit-breaker') } : {}),
    ...(maxCooldown !== undefined ? { maxCooldownSeconds: parseDuration(maxCooldown, '--circuit-breaker') } : {}),
  };
}

/** `shop=shopify:s3cret` → an inbound source. */
export function parseInbound(value: string): LocalInboundSource {
  const m = /^([a-z0-9-]{1,32})=(shopify|github|stripe|standard-webhooks):(.+)$/.exec(value);
  if (!m) throw new Error(`--inbound "${value}": expected name=provider:secret, provider one of shopify, github, stripe, standard-webhooks`);
  return { name: m[1], provider: m[2] as LocalInboundSource['provider'], secret: m[3] };
}

/** The SDK warns that Node.js 20 support ends; the functions run on Node.js 22+ in AWS. */
function quietNodeVersionWarnings(): void {
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    // The SDK emits it as a plain Warning whose message starts with the name.
    if (warning.name !== 'NodeVersionSupportWarning' && !warning.message.startsWith('NodeVersionSupportWarning')) listeners.forEach((l) => l(warning));
  });
}

/**
 * Fails with one line when `port` on 127.0.0.1 is taken. The SES emulator (aws-ses-v2-local) does
 * not report its listen errors, so its port is checked before it starts.
 */
export function checkPortFree(port: number, flag: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' || error.code === 'EACCES'
      ? new Error(`Port ${port} on 127.0.0.1 is ${error.code === 'EACCES' ? 'not allowed' : 'in use'}: choose another ${flag}.`)
      : error));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/** A mistake in the command line: reported with the usage text. */
class UsageError extends Error {}

interface DevOptions {
  readonly runtime: RuntimeOptions;
  readonly apiKeys: readonly string[];
  readonly inboundWebhooks: readonly LocalInboundSource[];
}

/** The command line as runtime options; undefined for --help. */
function parseOptions(): DevOptions | undefined {
  const { values } = parseArgs({
    options: {
      'port': { type: 'string', default: '3000' },
      'api-key': { type: 'string', multiple: true },
      'data-dir': { type: 'string', default: '.ens-data' },
      'retry-schedule': { type: 'string' },
      'allow-private-targets': { type: 'boolean', default: false },
      'ses-port': { type: 'string', default: '0' },
      'verbose': { type: 'boolean', default: false },
      'inbound': { type: 'string', multiple: true },
      'event-schemas': { type: 'string' },
      'fifo': { type: 'boolean', default: false },
      'metrics': { type: 'boolean', default: false },
      'isolation': { type: 'string', default: 'shared' },
      'disable-after': { type: 'string' },
      'circuit-breaker': { type: 'string' },
      'secret-rotation-overlap': { type: 'string' },
      'help': { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const port = Number(values.port);
  const sesPort = Number(values['ses-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  if (!Number.isInteger(sesPort) || sesPort < 0 || sesPort > 65535) throw new Error(`--ses-port must be a port number, got ${values['ses-port']}`);
  const apiKeys = values['api-key'] ?? ['local-dev-key'];
  if (apiKeys.some((k) => k.length < 8)) throw new Error('--api-key must be at least 8 characters');
  const inboundWebhooks = (values.inbound ?? []).map(parseInbound);
  if (values.isolation !== 'shared' && values.isolation !== 'api-key') throw new Error(`--isolation must be shared or api-key, got ${values.isolation}`);
  const disableAfter = values['disable-after'] === undefined ? undefined : parseDuration(values['disable-after'], '--disable-after');
  const circuitBreaker = values['circuit-breaker'] === undefined ? undefined : parseCircuitBreaker(values['circuit-breaker']);
  return {
    apiKeys,
    inboundWebhooks,
    runtime: {
      port,
      sesPort,
      apiKeys,
      dataDir: path.resolve(values['data-dir']),
      retryScheduleSeconds: values['retry-schedule'] ? parseSchedule(values['retry-schedule']) : undefined,
      fifo: values.fifo,
      isolation: values.isolation === 'api-key' ? 'API_KEY' : 'SHARED',
      allowPrivateTargets: values['allow-private-targets'],
      logLevel: values.verbose ? 'INFO' : 'WARN',
      metrics: values.metrics,
      inboundWebhooks,
      eventSchemas: values['event-schemas'] ? readSchemas(values['event-schemas']) : undefined,
      disableAfterSeconds: disableAfter,
      circuitBreaker,
      secretRotationOverlapSeconds: values['secret-rotation-overlap'] !== undefined
        ? parseDuration(values['secret-rotation-overlap'], '--secret-rotation-overlap')
        : undefined,
    },
  };
}

async function main(): Promise<void> {
  quietNodeVersionWarnings();
  let options: DevOptions | undefined;
  try {
    options = parseOptions();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (!options) {
    console.log(USAGE);
    return;
  }
  const { apiKeys, inboundWebhooks } = options;
  await checkPortFree(options.runtime.sesPort ?? 0, '--ses-port');
  const runtime = await startRuntime(options.runtime);

  console.log([
    'event-notification-service: local runtime ready',
    `  API           ${runtime.apiUrl}`,
    `  API key       ${apiKeys.join(', ')}   (send it as the x-api-key header)`,
    `  OpenAPI       ${runtime.apiUrl}/openapi.json`,
    `  Email viewer  ${runtime.emailViewerUrl}`,
    `  Data          ${options.runtime.dataDir}`,
    `  Queues        ${runtime.queueNames.events}, ${runtime.queueNames.deadLetter}   (${runtime.fifo ? 'FIFO: in order per ordering key' : 'standard'})`,
    ...inboundWebhooks.map((s) => `  Webhooks in   ${runtime.apiUrl}/webhooks/${s.name}   (${s.provider}, no API key: signature checked)`),
    '',
    `  curl -X POST ${runtime.apiUrl}/events -H 'x-api-key: ${apiKeys[0]}' -H 'content-type: application/json' \\`,
    '    -d \'{"eventType":"deploy.finished","severity":"HIGH","title":"Deploy finished"}\'',
  ].join('\n'));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping…`);
    runtime.stop().then(() => process.exit(0), (error) => {
      console.error(error);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch((error) => {
    // One line, never a stack trace: a command-line mistake with the usage (exit 2), anything
    // that stopped the start (the data folder in use, a port taken) alone (exit 1).
    console.error(error instanceof Error ? error.message : String(error));
    if (error instanceof UsageError) console.error(USAGE);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
