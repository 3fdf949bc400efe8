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
  --local http://127.0.0.1:<port>              a local runtime (npm run dev)

Replayed events reach only the subscriptions that have not already received them.`;

const OUTPUT_SUFFIXES = { queueUrl: 'EventsQueueUrl', deadLetterQueueUrl: 'DeadLetterQueueUrl', eventsTable: 'EventsTableName' } as const;

/** Finds the queues and table from the flags, the stack outputs, or the local runtime. */
export async function resolveTarget(values: Record<string, string | boolean | undefined>): Promise<ReplayTarget> {
  const region = values.region as string | undefined;
  if (values.local) {
    const response = await fetch(new URL('/__local/config', String(values.local)));
    if (!response.ok) throw new Error(`${values.local} is not a local runtime (GET /__local/config answered ${response.status})`);
    return (await response.json()) as ReplayTarget;
  }
  if (values.stack) {
    const stacks = await new CloudFormationClient({ region }).send(new DescribeStacksCommand({ StackName: String(values.stack) }));
    const outputs = stacks.Stacks?.[0]?.Outputs ?? [];
    const prefix = (values.service as string | undefined) ?? '';
    const find = (suffix: string) => {
      const matches = outputs.filter((o) => o.OutputKey?.startsWith(prefix) && o.OutputKey.endsWith(suffix));
      if (matches.length !== 1) {
        throw new Error(`stack ${values.stack}: ${matches.length} outputs end in ${suffix}; `
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
  if (!queueUrl || !deadLetterQueueUrl || !eventsTable) throw new Error('say where the service is: --stack, --local, or --queue-url, --dlq-url and --events-table');
  return { queueUrl: String(queueUrl), deadLetterQueueUrl: String(deadLetterQueueUrl), eventsTable: String(eventsTable), region };
}

function consoleOutput(): ReplayOutput {
  return {
    line: (text) => process.stdout.write(text + '\n'),
    progress: (done, total, label) => {
      const width = 30;
      const filled = total > 0 ? Math.round((done / total) * width) : width;
      process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${label}${done >= total ? '\n' : ''}`);
    },
  };
}

function parseTime(value: unknown, flag: string): Date {
  const date = new Date(String(value));
  if (value === undefined || Number.isNaN(date.getTime())) throw new Error(`${flag} must be an ISO-8601 time, e.g. 2026-11-23T10:00:00Z`);
  return date;
}

/** Runs the tool; returns the process exit code. */
export async function main(argv: string[], out: ReplayOutput = consoleOutput()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
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
      'help': { type: 'boolean', default: false },
    },
  });
  const [command, sub, arg] = positionals[0] === 'replay' ? positionals.slice(1) : positionals;
  if (values.help || !command) {
    out.line(USAGE);
    return values.help ? 0 : 2;
  }
  const target = await resolveTarget(values);
  const clients = clientsFor(target);
  try {
    if (command === 'dlq' && sub === 'list') {
      const max = Number(values.max);
      if (!Number.isInteger(max) || max < 1) throw new Error('--max must be a positive whole number');
      const entries = await listDeadLetters(clients, target, max);
      out.line(`${entries.length} message(s) in the dead-letter queue${entries.length === max ? ` (showing the first ${max})` : ''}`);
      for (const e of entries) {
        out.line(`${e.eventId ?? '(no event id)'}  ${e.eventType ?? '?'}  received ${e.receiveCount}×  sent ${e.sentAt}  ${e.reason ?? ''}`);
      }
      return 0;
    }
    if (command === 'dlq' && sub === 'redrive') {
      const rate = values.rate === undefined ? undefined : Number(values.rate);
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) throw new Error('--rate must be 1 to 500 messages per second');
      const result = await redrive(clients, target, out, rate);
      out.line(`redrive ${result.status.toLowerCase()}: ${result.moved} message(s) moved back to the events queue`);
      return result.status === 'COMPLETED' ? 0 : 1;
    }
    if (command === 'event') {
      const eventId = sub ?? arg;
      if (!eventId || !/^evt_[0-9A-HJKMNP-TV-Z]{26}$/.test(eventId)) throw new Error('give the event id: replay event evt_…');
      const event = await replayEvent(clients, target, eventId);
      out.line(`re-queued ${event.eventId} (${event.event.eventType})`);
      return 0;
    }
    if (command === 'range') {
      const from = parseTime(values.from, '--from');
      const to = parseTime(values.to, '--to');
      if (from > to) throw new Error('--from must not be after --to');
      const events = await replayRange(clients, target, out, { from, to, eventType: values.type, dryRun: values['dry-run'] ?? false });
      if (values['dry-run']) {
        for (const e of events) out.line(`${e.eventId}  ${e.event.eventType}  ${e.receivedAt}  ${e.status}`);
        out.line(`dry run: ${events.length} event(s) would be re-queued`);
      } else {
        out.line(`re-queued ${events.length} event(s)`);
      }
      return 0;
    }
    out.line(USAGE);
    return 2;
  } finally {
    clients.sqs.destroy();
    clients.documents.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
