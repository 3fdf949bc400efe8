import * as http from 'node:http';
import * as https from 'node:https';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { clientsFor, listDeadLetters, redrive, replayEvent, replayRange, ReplayOutput, ReplayTarget } from './replay';

const USAGE = `event-notification-service replay — inspect, fix, replay

  replay dlq list      [--max 100]             what is in the dead-letter queue (nothing is removed)
  replay dlq redrive   [--rate N]              move the dead-letter queue back to the events queue
  replay event <eventId>                       re-queue one stored event
  replay range --from <ISO time> --to <ISO time> [--type <eventType>] [--dry-run]
                                               re-queue the stored events of a time window

Where the service is (one of):
  --stack <name> [--service <output prefix>]   read the construct's CloudFormation outputs
  --queue-url <url> --dlq-url <url> --events-table <name> [--region <region>]
  --local http://127.0.0.1:<port>              a local runtime (npm run dev; 127.0.0.1:3000 or 3000 also do)

Region: --region, else AWS_REGION, AWS_DEFAULT_REGION, or your profile's region (as the AWS CLI).
--debug prints the stack of an error.

Replayed events reach only the subscriptions that have not already received them.`;

const OUTPUT_SUFFIXES = { queueUrl: 'EventsQueueUrl', deadLetterQueueUrl: 'DeadLetterQueueUrl', eventsTable: 'EventsTableName' } as const;

/** A mistake the operator can fix, reported as one line; `exitCode` 2 for a command-line mistake. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

/** A mistake in the command line itself (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/**
 * The local runtime's URL from `--local`: `http://127.0.0.1:3000`, or without the scheme
 * (`127.0.0.1:3000`, `localhost:3000`: http:// is assumed), or a bare port (`3000`: 127.0.0.1).
 */
export function localUrl(value: string): URL {
  const text = value.trim();
  const withScheme = /^\d+$/.test(text) ? `http://127.0.0.1:${text}` : /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL | undefined;
  try {
    url = new URL(withScheme);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new UsageError(`--local expects the local runtime's URL, like http://127.0.0.1:3000 (got "${value}")`);
  }
  return url;
}

/**
 * GET with node:http (not fetch: fetch refuses some ports outright, "bad port", before trying to
 * connect), 10 s at most.
 */
function getText(url: URL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).get(url, { timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error(`no answer from ${url.origin}`), { code: 'ETIMEDOUT' })));
    request.on('error', reject);
  });
}

/** `https://sqs.eu-west-1.amazonaws.com/…` → eu-west-1. */
function regionOfQueueUrl(queueUrl: string): string | undefined {
  return /^https:\/\/sqs[.-]([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com/.exec(queueUrl)?.[1];
}

/**
 * The region as the AWS CLI finds it: --region, AWS_REGION, AWS_DEFAULT_REGION, then the SDK's own
 * chain (the region of the AWS_PROFILE profile, or [default], in ~/.aws/config).
 */
export async function resolveRegion(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const direct = flag ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (direct) return direct;
  const client = new CloudFormationClient({});
  try {
    return await client.config.region();
  } catch {
    return undefined; // the SDK's "Region is missing": reported by the caller, with how to set it
  } finally {
    client.destroy();
  }
}

const NO_REGION = 'no AWS region: pass --region <region>, set AWS_REGION (or AWS_DEFAULT_REGION), '
  + 'or add region = <region> to your profile in ~/.aws/config (aws configure set region <region>)';

/** Finds the queues and table from the flags, the stack outputs, or the local runtime. */
export async function resolveTarget(values: Record<string, string | boolean | undefined>): Promise<ReplayTarget> {
  if (values.local !== undefined) {
    const base = localUrl(String(values.local));
    const where = base.origin;
    let response: { status: number; body: string };
    try {
      response = await getText(new URL('/__local/config', base));
    } catch (error) {
      throw Object.assign(error as Error, { localUrl: where });
    }
    if (response.status !== 200) throw new CliError(`${where} is not a local runtime of this service (GET /__local/config answered ${response.status})`);
    let config: ReplayTarget;
    try {
      config = JSON.parse(response.body) as ReplayTarget;
    } catch {
      throw new CliError(`${where} is not a local runtime of this service (GET /__local/config is not JSON)`);
    }
    return { ...config, localUrl: where };
  }
  if (values.stack) {
    const region = await resolveRegion(values.region as string | undefined);
    if (!region) throw new CliError(NO_REGION);
    const cloudFormation = new CloudFormationClient({ region });
    let outputs;
    try {
      const stacks = await cloudFormation.send(new DescribeStacksCommand({ StackName: String(values.stack) }));
      outputs = stacks.Stacks?.[0]?.Outputs ?? [];
    } catch (error) {
      throw Object.assign(error as Error, { stackName: String(values.stack), region });
    } finally {
      cloudFormation.destroy();
    }
    const prefix = (values.service as string | undefined) ?? '';
    const find = (suffix: string) => {
      const matches = outputs.filter((o) => o.OutputKey?.startsWith(prefix) && o.OutputKey.endsWith(suffix));
      if (matches.length !== 1) {
        throw new CliError(`stack ${values.stack}: ${matches.length} outputs end in ${suffix}; `
          + (matches.length ? 'name the service with --service <output prefix>' : 'is the construct in this stack?'));
      }
      return matches[0].OutputValue!;
    };
    return {
      queueUrl: find(OUTPUT_SUFFIXES.queueUrl),
      deadLetterQueueUrl: find(OUTPUT_SUFFIXES.deadLetterQueueUrl),
      eventsTable: find(OUTPUT_SUFFIXES.eventsTable),
      region,
    };
  }
  const { 'queue-url': queueUrl, 'dlq-url': deadLetterQueueUrl, 'events-table': eventsTable } = values;
  if (!queueUrl || !deadLetterQueueUrl || !eventsTable) {
    throw new UsageError('say where the service is: --stack <name>, --local http://127.0.0.1:3000, or --queue-url, --dlq-url and --events-table');
  }
  const region = (await resolveRegion(values.region as string | undefined)) ?? regionOfQueueUrl(String(queueUrl));
  if (!region) throw new CliError(NO_REGION);
  return { queueUrl: String(queueUrl), deadLetterQueueUrl: String(deadLetterQueueUrl), eventsTable: String(eventsTable), region };
}

/** Bars redrawn with \r on a terminal; elsewhere (a pipe, a log file) plain lines, each tenth and the last. */
export function progressWriter(stream: { isTTY?: boolean; write(text: string): unknown }): ReplayOutput['progress'] {
  let lastLine = '';
  let lastTenth = -1;
  return (done, total, label) => {
    if (stream.isTTY) {
      const width = 30;
      const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
      stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${label}${done >= total ? '\n' : ''}`);
      return;
    }
    const line = `${done}/${total} ${label}`;
    const tenth = total > 0 ? Math.floor((done * 10) / total) : 10;
    if (line === lastLine || (tenth === lastTenth && done < total)) return;
    lastLine = line;
    lastTenth = tenth;
    stream.write(line + '\n');
  };
}

function consoleOutput(): ReplayOutput {
  return {
    line: (text) => process.stdout.write(text + '\n'),
    progress: progressWriter(process.stderr),
  };
}

function parseTime(value: unknown, flag: string): Date {
  const date = new Date(String(value));
  if (value === undefined || Number.isNaN(date.getTime())) throw new UsageError(`${flag} must be an ISO-8601 time, e.g. 2026-11-23T10:00:00Z`);
  return date;
}

const COMMANDS = 'dlq list, dlq redrive, event <eventId>, range';

/** What to do, checked before anything is called. */
type Command =
  | { kind: 'dlq list'; max: number }
  | { kind: 'dlq redrive'; rate?: number }
  | { kind: 'event'; eventId: string }
  | { kind: 'range'; from: Date; to: Date };

function parseCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Command {
  const [command, sub, arg, ...extra] = positionals;
  const unknown = (what: string) => new UsageError(`unknown command "${what}" (commands: ${COMMANDS}); see replay --help`);
  if (command === 'dlq') {
    if (sub === 'list') {
      const max = Number(values.max);
      if (!Number.isInteger(max) || max < 1) throw new UsageError('--max must be a positive whole number');
      if (arg !== undefined) throw unknown(`dlq list ${arg}`);
      return { kind: 'dlq list', max };
    }
    if (sub === 'redrive') {
      const rate = values.rate === undefined ? undefined : Number(values.rate);
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) throw new UsageError('--rate must be 1 to 500 messages per second');
      if (arg !== undefined) throw unknown(`dlq redrive ${arg}`);
      return { kind: 'dlq redrive', rate };
    }
    throw sub === undefined ? new UsageError('dlq needs a command: dlq list or dlq redrive; see replay --help') : unknown(`dlq ${sub}`);
  }
  if (command === 'event') {
    if (!sub || !/^evt_[0-9A-HJKMNP-TV-Z]{26}$/.test(sub)) throw new UsageError('give the event id: replay event evt_…');
    if (arg !== undefined) throw unknown(`event ${sub} ${arg}`);
    return { kind: 'event', eventId: sub };
  }
  if (command === 'range') {
    if (sub !== undefined) throw unknown(`range ${sub}`);
    const from = parseTime(values.from, '--from');
    const to = parseTime(values.to, '--to');
    if (from > to) throw new UsageError('--from must not be after --to');
    return { kind: 'range', from, to };
  }
  void extra;
  throw unknown(command);
}

const OPTIONS = {
  'stack': { type: 'string' },
  'service': { type: 'string' },
  'region': { type: 'string' },
  'local': { type: 'string' },
  'queue-url': { type: 'string' },
  'dlq-url': { type: 'string' },
  'events-table': { type: 'string' },
  'max': { type: 'string', default: '100' },
  'rate': { type: 'string' },
  'from': { type: 'string' },
  'to': { type: 'string' },
  'type': { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  'debug': { type: 'boolean', default: false },
  'help': { type: 'boolean', default: false },
} as const;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (error) {
    // node:util's messages run on ("… To specify a positional argument starting with a '-' …"): the first sentence.
    const message = error instanceof Error ? error.message.split(/(?<=\.) /)[0].replace(/\.$/, '') : String(error);
    throw new UsageError(`${message}; see replay --help`);
  }
}

/** Runs the tool; returns the process exit code. Mistakes are thrown (see `explain`). */
export async function main(argv: string[], out: ReplayOutput = consoleOutput()): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  const words = positionals[0] === 'replay' ? positionals.slice(1) : positionals;
  if (values.help || words.length === 0) {
    out.line(USAGE);
    return values.help ? 0 : 2;
  }
  const command = parseCommand(words, values);
  const target = await resolveTarget(values);
  const clients = clientsFor(target);
  try {
    switch (command.kind) {
      case 'dlq list': {
        const { max } = command;
        const entries = await listDeadLetters(clients, target, max);
        out.line(`${entries.length} message(s) in the dead-letter queue${entries.length === max ? ` (showing the first ${max})` : ''}`);
        for (const e of entries) {
          out.line(`${e.eventId ?? '(no event id)'}  ${e.eventType ?? '?'}${e.part ? `  part ${e.part}` : ''}  received ${e.receiveCount}×  sent ${e.sentAt}  ${e.reason ?? ''}`);
        }
        return 0;
      }
      case 'dlq redrive': {
        const result = await redrive(clients, target, out, command.rate);
        out.line(`redrive ${result.status.toLowerCase()}: ${result.moved} message(s) moved back to the events queue`);
        return result.status === 'COMPLETED' ? 0 : 1;
      }
      case 'event': {
        const event = await replayEvent(clients, target, command.eventId);
        out.line(`re-queued ${event.eventId} (${event.event.eventType})`);
        return 0;
      }
      case 'range': {
        const events = await replayRange(clients, target, out, { from: command.from, to: command.to, eventType: values.type, dryRun: values['dry-run'] });
        if (values['dry-run']) {
          for (const e of events) out.line(`${e.eventId}  ${e.event.eventType}  ${e.receivedAt}  ${e.status}`);
          out.line(`dry run: ${events.length} event(s) would be re-queued`);
        } else {
          out.line(`re-queued ${events.length} event(s)`);
        }
        return 0;
      }
    }
  } catch (error) {
    throw Object.assign(error as Error, { target });
  } finally {
    clients.sqs.destroy();
    clients.documents.destroy();
  }
}

/** An error, as what was thrown and what the tool learnt on the way (the stack, the target). */
interface Thrown extends Error {
  readonly code?: string;
  readonly cause?: unknown;
  readonly Code?: string;
  readonly $metadata?: { httpStatusCode?: number };
  readonly localUrl?: string;
  readonly stackName?: string;
  readonly region?: string;
  readonly queueUrl?: string;
  readonly tableName?: string;
  readonly target?: ReplayTarget;
}

/** The first network error code (ECONNREFUSED, ENOTFOUND, …) in an error and its causes. */
function networkCode(error: unknown): string | undefined {
  for (let e = error as Thrown | undefined, depth = 0; e && depth < 5; e = e.cause as Thrown | undefined, depth++) {
    if (typeof e.code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(e.code)) return e.code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'ETIMEDOUT';
  }
  return undefined;
}

const PROFILE_HINT = 'set AWS_PROFILE (after aws sso login for an SSO profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';

/**
 * One line for any error: what is wrong and what to do about it. `exitCode` 2 for a command-line
 * mistake, 1 for anything else.
 */
export function explain(error: unknown): { message: string; exitCode: number } {
  const e = (error instanceof Error ? error : new Error(String(error))) as Thrown;
  const firstLine = (text: string) => text.split('\n')[0].trim();
  const one = (message: string, exitCode = 1) => ({ message: firstLine(message), exitCode });
  if (e instanceof CliError) return one(e.message, e.exitCode);
  const local = e.localUrl ?? e.target?.localUrl;
  const network = networkCode(e);
  if (local && network) {
    if (network === 'ETIMEDOUT') return one(`no answer from ${local} within 10 s: is it the local runtime (npm run dev)?`);
    if (network === 'ENOTFOUND' || network === 'EAI_AGAIN') return one(`no host ${new URL(local).hostname} (from --local ${local}): is the URL right?`);
    return one(`nothing answers at ${local}: is \`npm run dev\` running (it prints the API URL to use)?`);
  }
  const region = e.region ?? e.target?.region;
  const name = e.name ?? '';
  const text = e.message ?? '';
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(text)) {
    return one(`no AWS credentials found: ${PROFILE_HINT}`);
  }
  if (/^(ExpiredToken|ExpiredTokenException|RequestExpired)$/.test(name) || /token.*expired|expired.*token/i.test(text)) {
    return one('your AWS credentials have expired: refresh them (aws sso login, or new keys) and try again');
  }
  if (/^(InvalidClientTokenId|UnrecognizedClientException|SignatureDoesNotMatch|InvalidSignatureException|IncompleteSignature|InvalidAccessKeyId)$/.test(name)) {
    return one(`AWS does not accept these credentials (${name}): ${PROFILE_HINT}`);
  }
  if (/AccessDenied|UnauthorizedOperation|AuthorizationError/.test(name) || /not authorized to perform/i.test(text)) {
    const action = /perform:? ([a-z0-9-]+:[A-Za-z]+)/.exec(text)?.[1];
    const resource = /on resource:? (\S+)/.exec(text)?.[1];
    return one(`access denied${action ? `: your AWS identity may not call ${action}${resource ? ` on ${resource}` : ''}` : ` (${text})`}; `
      + 'ask for that permission, or use another AWS_PROFILE');
  }
  if (e.stackName && (name === 'ValidationError' || /does not exist/.test(text))) {
    return /does not exist/.test(text)
      ? one(`stack ${e.stackName} not found in ${region}: check --stack (the CloudFormation stack name) and the region (--region or AWS_REGION)`)
      : one(`stack ${e.stackName}: ${text}`);
  }
  if (/QueueDoesNotExist|NonExistentQueue/.test(name) || /NonExistentQueue|queue does not exist/i.test(text)) {
    return one(`${e.queueUrl ? `queue ${e.queueUrl}` : 'the queue'} does not exist${region ? ` in ${region}` : ''}: `
      + 'check --queue-url / --dlq-url (or --stack), and the region');
  }
  if (name === 'ResourceNotFoundException') {
    return one(`table ${e.tableName ?? e.target?.eventsTable ?? ''} does not exist${region ? ` in ${region}` : ''}: check --events-table (or --stack), and the region`);
  }
  if (network) {
    const host = /(?:getaddrinfo \w+|connect \w+) (\S+)/.exec(text)?.[1] ?? e.queueUrl ?? 'AWS';
    return one(`cannot reach ${host} (${network}): check the network and the region${region ? ` (${region})` : ''}`);
  }
  return one(`${text || name}${e.$metadata ? ` (${name})` : ''}`);
}

/** The command: runs `main`, and answers every mistake with one line on stderr (the stack too with --debug). */
export async function cli(argv: string[], out: ReplayOutput = consoleOutput(), error: (text: string) => void = (t) => process.stderr.write(t + '\n')): Promise<number> {
  try {
    return await main(argv, out);
  } catch (thrown) {
    const { message, exitCode } = explain(thrown);
    error(`error: ${message}`);
    if (argv.includes('--debug') && thrown instanceof Error && thrown.stack) error(thrown.stack);
    return exitCode;
  }
}

/** The SDK warns on Node.js 20 that its support ends: not the operator's concern here. */
function quietNodeVersionWarnings(): void {
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name !== 'NodeVersionSupportWarning' && !warning.message.startsWith('NodeVersionSupportWarning')) listeners.forEach((l) => l(warning));
  });
}

if (require.main === module) {
  quietNodeVersionWarnings();
  void cli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
