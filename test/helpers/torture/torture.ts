/*
 * Torture test of the whole local pipeline (issue 9): the real local runtime in a child process,
 * real receivers that verify every signature, >= 1,000 hostile-but-valid events published
 * concurrently with idempotency keys, SIGKILLs and restarts on the same data folder meanwhile,
 * then invariants checked from what the receivers saw and what GET /events/{id} says.
 *
 *   ts-node --transpile-only test/helpers/torture/torture.ts [--events N] [--mode standard|fifo|both]
 *       [--kills K] [--seed S] [--concurrency C] [--settle-timeout SECONDS] [--log-dir DIR] [--circuit-breaker off|5,2s,4s]
 *
 * Prints one summary line per mode and exits 1 if any invariant was broken. Long logs (every
 * violation, the runtime's output) go to files under --log-dir (default test-reports/torture).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';
import {
  details, EVENT_TYPES, Filter, Flavour, FLAVOURS, intBetween, J, matches, pick, pickFlavour, prng, SEVERITIES, Severity, SPOOFED, title,
} from './payloads';
import { children, DevProcess, sleep, startDev } from '../dev-process';
import { at, canonical, firstDifference, Json, member, parseLossless, stringifyLossless, stringOf } from '../lossless-json';
import { ReceivedRequest, Receiver, Reply, startReceiver } from '../receivers';

export type Mode = 'standard' | 'fifo';

export interface TortureOptions {
  /** Logical events to publish (default 1000). */
  readonly events?: number;
  readonly mode: Mode;
  /** SIGKILL + restart cycles while publishing (default 2). */
  readonly kills?: number;
  readonly seed?: number;
  /** Requests in flight (standard) or ordering keys published in parallel (fifo). Default 12 for both. */
  readonly concurrency?: number;
  /** How long, after publishing, every accepted event has to reach a final state (default 120 s). */
  readonly settleTimeoutMs?: number;
  readonly retrySchedule?: string;
  /**
   * The runtime's --circuit-breaker (default off: `failFirst` fails every first attempt on purpose,
   * which a breaker rightly takes for a broken endpoint; e.g. `5,2s,4s` runs the torture with one).
   */
  readonly circuitBreaker?: string;
  /** Where the log files go (default test-reports/torture). */
  readonly logDir?: string;
  /** Progress lines (default: none). */
  readonly progress?: (line: string) => void;
  /**
   * FIFO mode passes `--fifo` to the runtime (default true). False runs the FIFO publishers and
   * checks against a standard queue: a self-test of the ordering check, which must then fire.
   */
  readonly fifoFlag?: boolean;
  /** Keep the runtime's data folder (DynamoDB files, queue log) for a post-mortem; its path is logged. */
  readonly keepData?: boolean;
}

/** Invariant counts: every one must be 0. */
export interface TortureCounts {
  /** Valid events that never got a 202 (refused with a 4xx, or no answer within the retries). */
  readonly notAccepted: number;
  /** (a) Accepted events missing a verified 2xx delivery to a subscription they match. */
  readonly lost: number;
  /** (b) Pairs with several webhook-ids, webhook-ids shared by pairs, notificationIds that differ from the delivered webhook-id. */
  readonly unstableIds: number;
  /** (d) Keys answered with different eventIds, eventIds given to different events, deliveries under an id never answered. */
  readonly idempotencyBreaks: number;
  /** (c) Requests whose signature did not verify with the subscription's secret. */
  readonly badSignatures: number;
  /** (f) Accepted events whose delivered `data` or stored `event` differs from what was published. */
  readonly alteredPayloads: number;
  /** Events whose delivered eventId, source or receivedAt are the values the publisher tried to set. */
  readonly spoofedFields: number;
  /** Deliveries to a subscription the event does not match, or of events nobody published. */
  readonly misrouted: number;
  /** (e) Accepted events whose GET /events/{id} is not final, not COMPLETED / NO_MATCHING_SUBSCRIPTIONS or not all DELIVERED. */
  readonly unaccounted: number;
  /** Times the runtime exited without being killed. */
  readonly crashes: number;
  /** (g) FIFO: events whose first delivery came before that of an event published earlier with the same ordering key. */
  readonly outOfOrder: number;
}

export interface TortureResult {
  readonly mode: Mode;
  readonly events: number;
  readonly accepted: number;
  /** Events that set the service's own fields: the API must refuse them (400), so they are never accepted. */
  readonly spoofing: number;
  readonly counts: TortureCounts;
  /** Extra 2xx deliveries with the same webhook-id (at-least-once: reported, allowed). */
  readonly duplicates: number;
  readonly eventsPerSecond: number;
  readonly seconds: number;
  /** Set when the run could not be carried out (e.g. the runtime did not start). */
  readonly error?: string;
  readonly ok: boolean;
  readonly summary: string;
  /** A few examples of each broken invariant. */
  readonly examples: readonly string[];
  readonly logFile: string;
}

/** Every invariant count at 0: what a passing run reports. */
export const NO_VIOLATIONS: TortureCounts = {
  notAccepted: 0,
  lost: 0,
  unstableIds: 0,
  idempotencyBreaks: 0,
  badSignatures: 0,
  alteredPayloads: 0,
  spoofedFields: 0,
  misrouted: 0,
  unaccounted: 0,
  crashes: 0,
  outOfOrder: 0,
};

const API_KEY = 'torture-api-key-0001';
const DEFAULT_RETRY_SCHEDULE = '0s,1s,1s,2s,2s,3s,3s,5s';
const FINAL_STATES = new Set(['COMPLETED', 'NO_MATCHING_SUBSCRIPTIONS', 'PARTIALLY_FAILED', 'REJECTED']);
const REQUEST_TIMEOUT_MS = 20_000;
/** Per publish request (one copy): attempts and time before giving up. */
const PUBLISH_MAX_ATTEMPTS = 80;
const PUBLISH_MAX_MS = 90_000;
const MAX_BATCH = 20;
/**
 * Ordering keys in FIFO mode. While one event of a key waits for a retry (every event matching
 * the fail-first receiver does), the key's later events wait too: more keys, shorter queues.
 */
const FIFO_KEYS_DEFAULT = 12;
/** Examples kept per invariant in the log file. */
const MAX_EXAMPLES = 5000;

// ---- subscriptions and receivers

type ReceiverName = 'ok' | 'failFirst' | 'flaky';

interface SubscriptionPlan extends Filter {
  readonly name: string;
  readonly receiver: ReceiverName;
  readonly path: string;
}

/**
 * `ok` always answers 200, `failFirst` 500 to the first request of each webhook-id, `flaky` 503
 * with Retry-After: 1 about 30 % of the time. `never` must never be called.
 */
const SUBSCRIPTIONS: readonly SubscriptionPlan[] = [
  { name: 'all', eventType: '*', severityFilter: 'MEDIUM', receiver: 'ok', path: '/all' },
  { name: 'a', eventType: 'torture.a.*', severityFilter: 'LOW', receiver: 'failFirst', path: '/a' },
  { name: 'bx', eventType: 'torture.b.x', severityFilter: 'MEDIUM', receiver: 'flaky', path: '/bx' },
  { name: 'b', eventType: 'torture.b.*', severityFilter: 'LOW', receiver: 'flaky', path: '/b' },
  { name: 'cHigh', eventType: 'torture.c', severityFilter: 'HIGH', receiver: 'ok', path: '/c-high' },
  { name: 'never', eventType: 'other.*', severityFilter: 'LOW', receiver: 'ok', path: '/never' },
];
/** The subscription whose first deliveries must follow publish order in FIFO mode. */
const ORDER_SUBSCRIPTION = 'all';

interface Delivery {
  readonly seq: number;
  readonly at: number;
  readonly receiver: ReceiverName;
  readonly subscription?: string;
  readonly webhookId: string;
  readonly eventId?: string;
  readonly ref?: string;
  readonly body: string;
  readonly status: number;
  readonly verified: boolean;
  readonly parsed?: Json;
  readonly problem?: string;
}

// ---- events

interface Answer {
  readonly eventId?: string;
  readonly status: number;
  readonly problem?: string;
}

interface LogicalEvent {
  readonly index: number;
  readonly ref: string;
  readonly eventType: string;
  readonly severity: Severity;
  readonly orderingKey?: string;
  readonly flavour: Flavour;
  readonly spoof: boolean;
  readonly envelope: Json;
  readonly expected: readonly string[];
  readonly answers: Answer[];
  /** How it was published: alone, in a batch, or alone three times at once with one key. */
  via?: 'single' | 'batch' | 'single x3';
  /** The first eventId answered. */
  eventId?: string;
  /** Order in which events got their first 202 (publish order, per ordering key in FIFO mode). */
  acceptSeq?: number;
}

interface Unit {
  readonly index: number;
  readonly idempotencyKey: string;
  readonly events: readonly LogicalEvent[];
  readonly batch: boolean;
  /** 3: sent three times concurrently with the same key. */
  readonly copies: number;
}

function planEvents(count: number, mode: Mode, rng: () => number, runId: string, fifoKeys: number): { units: Unit[]; events: LogicalEvent[] } {
  const events: LogicalEvent[] = [];
  const orderingKeys = Array.from({ length: fifoKeys }, (_, i) => `key-${i}`);
  const newEvent = (orderingKey?: string): LogicalEvent => {
    const index = events.length;
    const ref = `ev-${String(index).padStart(5, '0')}`;
    const flavour = pickFlavour(rng);
    const eventType = pick(rng, EVENT_TYPES);
    const severity = pick(rng, SEVERITIES);
    const spoof = rng() < 0.03;
    const unknown = rng() < 0.1;
    const entries: [string, Json][] = [
      ['eventType', J.str(eventType)],
      ['severity', J.str(severity)],
      ['title', J.str(title(ref, flavour))],
      ...(orderingKey ? [['orderingKey', J.str(orderingKey)] as [string, Json]] : []),
      ['details', details(rng, ref, flavour)],
      // Unknown fields are kept (docs/architecture.md "Exact payloads").
      ...(unknown ? [['x-extra', J.obj(['kept', J.bool(true)], ['n', J.num('12345678901234567890123')])] as [string, Json]] : []),
      ...(spoof ? Object.entries(SPOOFED).map(([k, v]) => [k, J.str(v)] as [string, Json]) : []),
    ];
    const expected = SUBSCRIPTIONS.filter((s) => matches(s, eventType, severity)).map((s) => s.name);
    const event: LogicalEvent = { index, ref, eventType, severity, orderingKey, flavour, spoof, envelope: J.obj(...entries), expected, answers: [] };
    events.push(event);
    return event;
  };
  const units: Unit[] = [];
  while (events.length < count) {
    const left = count - events.length;
    const batch = left > 1 && rng() < 0.15;
    const size = batch ? Math.min(left, intBetween(rng, 2, MAX_BATCH)) : 1;
    // FIFO: a batch holds events of one ordering key, in order.
    const orderingKey = mode === 'fifo' ? pick(rng, orderingKeys) : undefined;
    const unitEvents = Array.from({ length: size }, () => newEvent(orderingKey));
    const copies = !batch && rng() < 0.02 ? 3 : 1;
    for (const e of unitEvents) e.via = batch ? 'batch' : copies > 1 ? 'single x3' : 'single';
    units.push({ index: units.length, idempotencyKey: `torture-${runId}-u${units.length}`, events: unitEvents, batch, copies });
  }
  return { units, events };
}

// ---- the runtime under test

class RuntimeUnderTest {
  public crashes = 0;
  public restarts: { at: number; downMs: number; reason: string }[] = [];
  private dev?: DevProcess;
  private port?: number;
  private incarnation = 0;
  private expectingExit = false;
  private stopped = false;
  private restarting?: Promise<void>;

  constructor(
    private readonly args: readonly string[],
    private readonly logDir: string,
    private readonly label: string,
    private readonly note: (line: string) => void,
  ) {}

  public get apiUrl(): string {
    return this.dev?.apiUrl ?? `http://127.0.0.1:${this.port ?? 9}`;
  }

  public async start(): Promise<void> {
    const args = this.port === undefined ? this.args : [...this.args, '--port', String(this.port)];
    let dev: DevProcess;
    try {
      dev = await startDev(args);
    } catch (error) {
      if (this.port === undefined) throw error;
      // The port was taken meanwhile: any free port will do (publishers read apiUrl each time).
      this.note(`restart on port ${this.port} failed, trying a free port: ${String(error).split('\n')[0]}`);
      dev = await startDev(this.args);
    }
    this.dev = dev;
    this.port = Number(new URL(dev.apiUrl).port);
    const incarnation = ++this.incarnation;
    void dev.exited.then((exit) => {
      this.saveOutput(dev, incarnation);
      if (this.expectingExit || this.stopped || this.dev !== dev) return;
      this.crashes++;
      this.note(`runtime exited on its own (${JSON.stringify(exit)}): restarting`);
      if (this.crashes <= 3) this.restarting = this.restart('crash');
    });
  }

  /** SIGKILL, then a new process on the same data folder (and port). */
  public async killAndRestart(): Promise<void> {
    await this.restarting;
    const dev = this.dev;
    if (!dev) return;
    this.expectingExit = true;
    dev.child.kill('SIGKILL');
    await dev.exited;
    this.expectingExit = false;
    await this.restart('SIGKILL');
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    await this.restarting?.catch(() => undefined);
    const dev = this.dev;
    if (dev && dev.child.exitCode === null && dev.child.signalCode === null) {
      dev.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 10_000)));
      const outcome = await Promise.race([dev.exited, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.note('runtime did not stop within 10 s of SIGTERM: SIGKILL');
        dev.child.kill('SIGKILL');
        await dev.exited;
      }
    }
  }

  private async restart(reason: string): Promise<void> {
    const started = Date.now();
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3 && !this.stopped; attempt++) {
      try {
        await this.start();
        this.restarts.push({ at: started, downMs: Date.now() - started, reason });
        return;
      } catch (error) {
        lastError = error;
        this.note(`restart attempt ${attempt} failed: ${String(error).split('\n')[0]}`);
        await sleep(500);
      }
    }
    if (!this.stopped) throw new Error(`the runtime could not be restarted: ${String(lastError)}`);
  }

  private saveOutput(dev: DevProcess, incarnation: number): void {
    const base = path.join(this.logDir, `${this.label}-runtime-${incarnation}`);
    fs.writeFileSync(`${base}.stdout.log`, dev.stdout());
    fs.writeFileSync(`${base}.stderr.log`, dev.stderr());
  }
}

// ---- HTTP

interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

async function http(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<HttpAnswer | { error: string }> {
  try {
    const response = await fetch(url, {
      method,
      headers: { 'x-api-key': API_KEY, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { error: `${(error as Error).name}: ${cause?.code ?? cause?.message ?? (error as Error).message}` };
  }
}

function tryJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const backoff = (attempt: number) => sleep(Math.min(1500, 50 * 1.6 ** attempt) * (0.5 + Math.random()));

// ---- the run

/** Runs the torture once in one mode against a fresh runtime; never throws for what it finds. */
export async function runTorture(options: TortureOptions): Promise<TortureResult> {
  const mode = options.mode;
  const eventCount = options.events ?? 1000;
  const kills = options.kills ?? 2;
  const seed = options.seed ?? 1;
  const fifoKeys = mode === 'fifo' ? options.concurrency ?? FIFO_KEYS_DEFAULT : FIFO_KEYS_DEFAULT;
  const concurrency = options.concurrency ?? 12;
  const settleTimeoutMs = options.settleTimeoutMs ?? 120_000;
  const progress = options.progress ?? (() => undefined);
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const logDir = path.resolve(options.logDir ?? path.join(__dirname, '..', '..', 'test-reports', 'torture'), `${mode}-${runId}`);
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, 'torture.log');
  const note = (line: string) => {
    const stamped = `${new Date().toISOString()} ${line}`;
    fs.appendFileSync(logFile, stamped + '\n');
  };
  const say = (line: string) => {
    note(line);
    progress(`[${mode}] ${line}`);
  };

  const rng = prng(seed);
  const flakyRng = prng(seed + 7919);
  const { units, events } = planEvents(eventCount, mode, rng, runId, fifoKeys);
  note(`config ${JSON.stringify({ mode, eventCount, units: units.length, batches: units.filter((u) => u.batch).length, tripled: units.filter((u) => u.copies > 1).length, kills, seed, concurrency, fifoKeys, settleTimeoutMs })}`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `ens-torture-${mode}-`));
  const secrets = new Map<string, string>();
  const subscriptionIds = new Map<string, string>();
  const planByPath = new Map(SUBSCRIPTIONS.map((s) => [s.path, s]));
  const deliveries: Delivery[] = [];
  const firstAttemptSeen = new Set<string>();
  let deliverySeq = 0;

  const respond = (receiver: ReceiverName) => (request: ReceivedRequest): Reply => {
    const plan = planByPath.get(request.path);
    const webhookId = String(request.headers['webhook-id'] ?? '');
    let verified = false;
    let problem: string | undefined;
    const secret = plan ? secrets.get(plan.name) : undefined;
    try {
      if (!secret) throw new Error(`no subscription at ${request.path}`);
      new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
      verified = true;
    } catch (error) {
      problem = `signature: ${(error as Error).message}`;
    }
    let parsed: Json | undefined;
    try {
      parsed = parseLossless(request.body);
    } catch (error) {
      problem = `${problem ? problem + '; ' : ''}body: ${(error as Error).message}`;
    }
    const data = at(parsed, 'data');
    const ref = stringOf(at(data, 'details', 'ref')) ?? /torture (ev-\d+)/.exec(stringOf(at(data, 'title')) ?? '')?.[1];
    let status = 200;
    if (receiver === 'failFirst' && !firstAttemptSeen.has(webhookId)) {
      firstAttemptSeen.add(webhookId);
      status = 500;
    }
    if (receiver === 'flaky' && flakyRng() < 0.3) status = 503;
    deliveries.push({
      seq: deliverySeq++,
      at: Date.now(),
      receiver,
      subscription: plan?.name,
      webhookId,
      eventId: stringOf(at(data, 'eventId')),
      ref,
      body: request.body,
      status,
      verified,
      parsed,
      problem,
    });
    return status === 503 ? { status, headers: { 'retry-after': '1' } } : { status };
  };

  const receivers: Receiver[] = [];
  const receiverUrl = new Map<ReceiverName, string>();
  for (const name of ['ok', 'failFirst', 'flaky'] as const) {
    const receiver = await startReceiver({ responder: respond(name) });
    receivers.push(receiver);
    receiverUrl.set(name, receiver.url);
  }

  const args = [
    '--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--retry-schedule', options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE,
    ...(mode === 'fifo' && options.fifoFlag !== false ? ['--fifo'] : []),
    '--circuit-breaker', options.circuitBreaker ?? 'off',
  ];
  const runtime = new RuntimeUnderTest(args, logDir, mode, say);
  const started = Date.now();
  let publishStart = started;
  let settledAt = started;
  let error: string | undefined;
  let accepted = 0;

  try {
    try {
      await runtime.start();
    } catch (startError) {
      throw new Error(`the runtime did not start: ${String(startError).split('\n').filter((l) => l.trim()).slice(0, 3).join(' | ')}`);
    }
    say(`runtime ready at ${runtime.apiUrl} (data ${dataDir})`);

    for (const plan of SUBSCRIPTIONS) {
      const target = `${receiverUrl.get(plan.receiver)}${plan.path}`;
      let created: any;
      for (let attempt = 0; attempt < 10 && !created; attempt++) {
        const answer = await http(`${runtime.apiUrl}/subscriptions`, 'POST', JSON.stringify({
          eventType: plan.eventType, severityFilter: plan.severityFilter, channel: 'WEBHOOK', target,
        }));
        if ('status' in answer && answer.status === 201) created = tryJson(answer.text);
        else if ('status' in answer && answer.status < 500) throw new Error(`POST /subscriptions answered ${answer.status}: ${answer.text.slice(0, 300)}`);
        else await backoff(attempt);
      }
      if (!created?.secret) throw new Error(`could not create subscription ${plan.name}`);
      secrets.set(plan.name, created.secret);
      subscriptionIds.set(plan.name, created.subscriptionId);
    }
    note(`subscriptions ${JSON.stringify([...subscriptionIds])}`);
    // The processor caches each pattern's subscriptions for SUBSCRIPTION_CACHE_TTL (1 s locally).
    await sleep(1200);

    // -- publish, with kills meanwhile
    let acceptSeq = 0;
    let unitsDone = 0;
    const recordAnswer = (event: LogicalEvent, answer: Answer) => {
      event.answers.push(answer);
      if (answer.eventId && event.eventId === undefined) {
        event.eventId = answer.eventId;
        event.acceptSeq = acceptSeq++;
      }
    };
    const envelopeText = (e: LogicalEvent) => stringifyLossless(e.envelope);
    const sendCopy = async (unit: Unit): Promise<void> => {
      const body = unit.batch ? `{"events":[${unit.events.map(envelopeText).join(',')}]}` : envelopeText(unit.events[0]);
      const route = unit.batch ? '/events/batch' : '/events';
      const deadline = Date.now() + PUBLISH_MAX_MS;
      for (let attempt = 0; attempt < PUBLISH_MAX_ATTEMPTS && Date.now() < deadline; attempt++) {
        const answer = await http(runtime.apiUrl + route, 'POST', body, { 'idempotency-key': unit.idempotencyKey });
        // 409: another copy of this key is still being queued (or died queueing it): the API
        // asks to retry with the same key and body, as a careful publisher does.
        if ('error' in answer || answer.status >= 500 || answer.status === 429 || answer.status === 409) {
          await backoff(attempt);
          continue;
        }
        const json = tryJson(answer.text);
        if (answer.status !== 202) {
          for (const e of unit.events) recordAnswer(e, { status: answer.status, problem: answer.text.slice(0, 2000) });
          return;
        }
        if (!unit.batch) {
          recordAnswer(unit.events[0], { status: 202, eventId: json?.eventId });
          return;
        }
        let retry = false;
        unit.events.forEach((e, i) => {
          const item = json?.events?.[i];
          if (item?.eventId) return recordAnswer(e, { status: 202, eventId: item.eventId });
          const status = Number(item?.error?.status ?? 0);
          if (status >= 500 || status === 429 || status === 409 || status === 0) retry = true;
          else recordAnswer(e, { status, problem: JSON.stringify(item?.error ?? item).slice(0, 2000) });
        });
        if (!retry) return;
        await backoff(attempt);
      }
      note(`gave up on unit ${unit.index} (${unit.idempotencyKey}) after ${PUBLISH_MAX_ATTEMPTS} attempts / ${PUBLISH_MAX_MS} ms`);
    };
    const publishUnit = async (unit: Unit) => {
      await Promise.all(Array.from({ length: unit.copies }, () => sendCopy(unit)));
      unitsDone++;
    };

    publishStart = Date.now();
    say(`publishing ${events.length} events in ${units.length} requests (${kills} kills)`);
    let publishing = true;
    let killError: unknown;
    const killer = (async () => {
      for (let k = 1; k <= kills; k++) {
        const threshold = Math.floor((k * units.length) / (kills + 1));
        while (publishing && unitsDone < threshold) await sleep(20);
        const during = publishing ? 'while publishing' : 'after publishing';
        const t0 = Date.now();
        await runtime.killAndRestart();
        say(`kill ${k}/${kills} ${during} (${unitsDone}/${units.length} requests done): back after ${Date.now() - t0} ms`);
      }
    })().catch((failure) => {
      killError = failure;
    });
    if (mode === 'standard') {
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < units.length) await publishUnit(units[next++]);
      }));
    } else {
      // Per ordering key one request at a time, each after the previous 202: publish order is well defined.
      const byKey = new Map<string, Unit[]>();
      for (const u of units) byKey.set(u.events[0].orderingKey!, [...(byKey.get(u.events[0].orderingKey!) ?? []), u]);
      await Promise.all([...byKey.values()].map(async (chain) => {
        for (const u of chain) await publishUnit(u);
      }));
    }
    publishing = false;
    await killer;
    if (killError) throw killError;
    const publishEnd = Date.now();
    const acceptedEvents = events.filter((e) => e.eventId !== undefined);
    accepted = acceptedEvents.length;
    say(`published in ${((publishEnd - publishStart) / 1000).toFixed(1)} s: ${accepted}/${events.length} accepted`);

    // -- settle: first the receivers (cheap), then GET /events/{id} until every event is final
    const settleDeadline = publishEnd + settleTimeoutMs;
    const deliveredPairs = () => {
      const pairs = new Set<string>();
      for (const d of deliveries) if (d.verified && d.status < 300 && d.ref && d.subscription) pairs.add(`${d.ref}|${d.subscription}`);
      return pairs;
    };
    const expectedPairs = acceptedEvents.flatMap((e) => e.expected.map((s) => `${e.ref}|${s}`));
    let missing = expectedPairs.length;
    while (Date.now() < settleDeadline) {
      const got = deliveredPairs();
      missing = expectedPairs.filter((p) => !got.has(p)).length;
      if (missing === 0) break;
      await sleep(250);
    }
    say(`receivers: ${expectedPairs.length - missing}/${expectedPairs.length} expected deliveries arrived`);

    const finalAnswers = new Map<string, { status: number; text: string; json: any }>();
    const pollDeadline = Math.max(settleDeadline, Date.now() + 5_000);
    let pending = [...acceptedEvents];
    for (let round = 0; pending.length > 0 && Date.now() < pollDeadline; round++) {
      const stillPending: LogicalEvent[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: 6 }, async () => {
        while (next < pending.length) {
          const e = pending[next++];
          const answer = await http(`${runtime.apiUrl}/events/${e.eventId}`, 'GET');
          const json = 'status' in answer ? tryJson(answer.text) : undefined;
          if ('status' in answer) finalAnswers.set(e.eventId!, { status: answer.status, text: answer.text, json });
          if (!('status' in answer) || answer.status !== 200 || !FINAL_STATES.has(json?.deliveryStatus)) stillPending.push(e);
        }
      }));
      pending = stillPending;
      if (pending.length > 0) await sleep(500);
    }
    settledAt = Date.now();
    say(`GET /events: ${accepted - pending.length}/${accepted} final after ${((settledAt - publishEnd) / 1000).toFixed(1)} s`);
    // Late duplicates come within a retry step or two.
    await sleep(2000);

    // -- invariants
    const result = checkInvariants(mode, events, acceptedEvents, deliveries, finalAnswers, subscriptionIds);
    const counts: TortureCounts = { ...result.counts, crashes: runtime.crashes };
    const seconds = (settledAt - publishStart) / 1000;
    // End to end: events delivered to all their subscriptions, up to the last of those deliveries.
    const lastDelivery = Math.max(publishStart, ...result.completedAt);
    const eventsPerSecond = result.completedAt.length > 0 ? result.completedAt.length / Math.max(0.001, (lastDelivery - publishStart) / 1000) : 0;
    for (const [kind, list] of Object.entries(result.examples)) for (const line of list.slice(0, MAX_EXAMPLES)) note(`violation ${kind}: ${line}`);
    note(`by flavour ${JSON.stringify(result.byFlavour)}`);
    note(`receivers ${JSON.stringify(receivers.map((r, i) => ({ receiver: ['ok', 'failFirst', 'flaky'][i], requests: r.requests.length })))}`);
    note(`restarts ${JSON.stringify(runtime.restarts)}`);
    return finish(mode, events.length, accepted, counts, result.duplicates, eventsPerSecond, seconds, undefined, result.examples, logFile, note,
      events.filter((e) => e.spoof).length);
  } catch (runError) {
    error = runError instanceof Error ? runError.message : String(runError);
    say(`error: ${error}`);
    const zero: TortureCounts = { ...NO_VIOLATIONS, crashes: runtime.crashes };
    return finish(mode, events.length, accepted, zero, 0, 0, (Date.now() - started) / 1000, error, {}, logFile, note);
  } finally {
    await runtime.stop().catch((stopError) => note(`stopping the runtime: ${String(stopError)}`));
    for (const child of [...children]) child.kill('SIGKILL');
    await Promise.all(receivers.map((r) => r.close()));
    if (options.keepData) note(`data folder kept: ${dataDir}`);
    else fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function finish(
  mode: Mode, events: number, accepted: number, counts: TortureCounts, duplicates: number, eventsPerSecond: number, seconds: number,
  error: string | undefined, examples: Record<string, string[]>, logFile: string, note: (line: string) => void, spoofing = 0,
): TortureResult {
  const broken = Object.values(counts).some((n) => n > 0);
  const ok = !error && !broken;
  const c = counts;
  const summary = error
    ? `mode=${mode} events=${events} error=${JSON.stringify(error)}`
    : `mode=${mode} events=${events} accepted=${accepted} refusedSpoofing=${spoofing} lost=${c.lost} unstableIds=${c.unstableIds} idempotencyBreaks=${c.idempotencyBreaks} `
      + `badSignatures=${c.badSignatures} alteredPayloads=${c.alteredPayloads} spoofedFields=${c.spoofedFields} misrouted=${c.misrouted} `
      + `unaccounted=${c.unaccounted} crashes=${c.crashes} outOfOrder=${c.outOfOrder} duplicates=${duplicates} throughput=${eventsPerSecond.toFixed(1)} events/s`;
  note(`summary ${summary} (${seconds.toFixed(1)} s)`);
  const flat = Object.entries(examples).flatMap(([kind, list]) => list.slice(0, 3).map((line) => `${kind}: ${line}`));
  return { mode, events, accepted, spoofing, counts, duplicates, eventsPerSecond, seconds, error, ok, summary, examples: flat, logFile };
}

// ---- invariants

type Examples = Record<keyof Omit<TortureCounts, 'crashes'>, string[]>;

function checkInvariants(
  mode: Mode, events: readonly LogicalEvent[], acceptedEvents: readonly LogicalEvent[], deliveries: readonly Delivery[],
  finalAnswers: ReadonlyMap<string, { status: number; text: string; json: any }>, subscriptionIds: ReadonlyMap<string, string>,
) {
  const examples: Examples = {
    notAccepted: [],
    lost: [],
    unstableIds: [],
    idempotencyBreaks: [],
    badSignatures: [],
    alteredPayloads: [],
    spoofedFields: [],
    misrouted: [],
    unaccounted: [],
    outOfOrder: [],
  };
  const flag = (kind: keyof Examples, line: string) => examples[kind].push(line);
  const byRef = new Map(events.map((e) => [e.ref, e]));
  const subscriptionName = new Map([...subscriptionIds].map(([name, id]) => [id, name]));

  // notAccepted + (d) idempotency: one eventId per key (per position of a batch), one event per eventId.
  const eventIdOwners = new Map<string, Set<string>>();
  for (const e of events) {
    // An event that sets the service's own fields must be refused with a 400 naming each of them
    // (docs/architecture.md "Exact payloads"): accepting it is a spoofing hole, any other answer a plain refusal.
    if (e.spoof) {
      const last = e.answers[e.answers.length - 1];
      if (e.eventId !== undefined) flag('spoofedFields', `${e.ref}: an event setting ${Object.keys(SPOOFED).join(', ')} was accepted as ${e.eventId}`);
      else if (last?.status === 400 && Object.keys(SPOOFED).every((field) => last.problem?.includes(`/${field}"`))) continue;
    }
    if (e.eventId === undefined) {
      const last = e.answers[e.answers.length - 1];
      flag('notAccepted', `${e.ref} (${e.flavour}) ${last ? `answered ${last.status}: ${last.problem}` : 'never answered'}`);
      continue;
    }
    const ids = new Set(e.answers.filter((a) => a.eventId).map((a) => a.eventId!));
    if (ids.size > 1) flag('idempotencyBreaks', `${e.ref}: one Idempotency-Key answered with ${[...ids].join(', ')}`);
    const refusals = e.answers.filter((a) => !a.eventId);
    if (refusals.length > 0) flag('idempotencyBreaks', `${e.ref}: accepted as ${e.eventId} but the same key and body were also answered ${refusals[0].status}: ${refusals[0].problem}`);
    for (const id of ids) eventIdOwners.set(id, new Set([...(eventIdOwners.get(id) ?? []), e.ref]));
  }
  for (const [id, owners] of eventIdOwners) if (owners.size > 1) flag('idempotencyBreaks', `${id} was answered for different events: ${[...owners].join(', ')}`);

  // (c) signatures, and what can be said of each request.
  const pairs = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    if (!d.verified) flag('badSignatures', `#${d.seq} ${d.subscription ?? '?'} ${d.webhookId}: ${d.problem}`);
    const event = d.ref ? byRef.get(d.ref) : undefined;
    if (!event || !d.subscription) {
      flag('misrouted', `#${d.seq} to ${d.subscription ?? '?'} of an event nobody published (ref ${d.ref ?? '?'}, eventId ${d.eventId ?? '?'})`);
      continue;
    }
    if (!event.expected.includes(d.subscription)) {
      flag('misrouted', `${event.ref} (${event.eventType} ${event.severity}) delivered to ${d.subscription}`);
      continue;
    }
    const key = `${event.ref}|${d.subscription}`;
    pairs.set(key, [...(pairs.get(key) ?? []), d]);
  }
  // Misrouted pairs are counted once each.
  examples.misrouted = [...new Set(examples.misrouted)];

  // (b) one webhook-id per (event, subscription), never shared.
  const pairsOfWebhookId = new Map<string, Set<string>>();
  let duplicates = 0;
  for (const [key, list] of pairs) {
    const ids = new Set(list.map((d) => d.webhookId));
    if (ids.size > 1) flag('unstableIds', `${key} (${byRef.get(key.split('|')[0])?.via}): ${ids.size} webhook-ids ${[...ids].join(', ')}`);
    for (const id of ids) pairsOfWebhookId.set(id, new Set([...(pairsOfWebhookId.get(id) ?? []), key]));
    const ok = list.filter((d) => d.verified && d.status < 300).length;
    duplicates += Math.max(0, ok - 1);
  }
  for (const [id, keys] of pairsOfWebhookId) if (keys.size > 1) flag('unstableIds', `webhook-id ${id} used for ${[...keys].join(', ')}`);

  const byFlavour: Record<string, { events: number; accepted: number; lost: number; altered: number }> = {};
  for (const f of FLAVOURS) byFlavour[f] = { events: 0, accepted: 0, lost: 0, altered: 0 };
  for (const e of events) byFlavour[e.flavour].events++;
  const completedAt: number[] = [];

  for (const e of acceptedEvents) {
    byFlavour[e.flavour].accepted++;
    const okDeliveries = (sub: string) => (pairs.get(`${e.ref}|${sub}`) ?? []).filter((d) => d.verified && d.status < 300);
    // (a) a verified 2xx to every matching subscription.
    const missing = e.expected.filter((s) => okDeliveries(s).length === 0);
    if (missing.length === 0 && e.expected.length > 0) completedAt.push(Math.max(...e.expected.map((s) => okDeliveries(s)[0].at)));
    if (missing.length > 0) {
      byFlavour[e.flavour].lost++;
      const tried = e.expected.map((s) => `${s}:${(pairs.get(`${e.ref}|${s}`) ?? []).map((d) => d.status).join('/') || 'none'}`).join(' ');
      flag('lost', `${e.ref} ${e.eventId} (${e.flavour}, ${e.via}, ${e.eventType} ${e.severity}) never delivered to ${missing.join(', ')} [attempts seen ${tried}]`);
    }

    // (f) exact payloads, (d) ids under which it was delivered, spoofed service fields.
    const answer = finalAnswers.get(e.eventId!);
    const stored = answer?.status === 200 ? safeParse(answer.text) : undefined;
    const serviceKeys = new Set(Object.keys(SPOOFED));
    let altered: string | undefined;
    let spoofed: string | undefined;
    for (const s of e.expected) {
      for (const d of pairs.get(`${e.ref}|${s}`) ?? []) {
        const data = at(d.parsed, 'data');
        const type = stringOf(at(d.parsed, 'type'));
        if (type !== e.eventType) altered ??= `delivery #${d.seq}: type ${JSON.stringify(type)} instead of ${e.eventType}`;
        const diff = compareEnvelope(e.envelope, data, serviceKeys);
        if (diff) altered ??= `delivery #${d.seq} to ${s}: ${diff}`;
        const deliveredId = d.eventId;
        if (e.spoof && (deliveredId === SPOOFED.eventId || stringOf(member(data, 'source')) === SPOOFED.source
          || stringOf(member(data, 'receivedAt')) === SPOOFED.receivedAt)) {
          spoofed ??= `${e.ref} ${e.eventId}: delivered with eventId ${deliveredId}, source ${stringifyLossless(member(data, 'source') ?? J.nil())}, `
            + `receivedAt ${stringifyLossless(member(data, 'receivedAt') ?? J.nil())}`;
        } else if (deliveredId !== e.eventId) {
          flag('idempotencyBreaks', `${e.ref}: answered ${e.eventId} but delivered to ${s} as ${deliveredId}`);
        } else if (stored) {
          for (const field of ['source', 'receivedAt']) {
            const want = stringOf(member(stored, field));
            const got = stringOf(member(data, field));
            if (want !== got) altered ??= `delivery #${d.seq}: data.${field} ${JSON.stringify(got)} but GET says ${JSON.stringify(want)}`;
          }
        }
      }
    }
    if (spoofed) flag('spoofedFields', spoofed);
    if (stored) {
      const diff = compareEnvelope(e.envelope, member(stored, 'event'), serviceKeys);
      if (diff) altered ??= `GET /events/${e.eventId} event: ${diff}`;
    }
    if (altered) {
      byFlavour[e.flavour].altered++;
      flag('alteredPayloads', `${e.ref} ${e.eventId} (${e.flavour}, ${e.via}) ${altered}`);
    }

    // (e) the final state through GET /events/{id}.
    const wantState = e.expected.length > 0 ? 'COMPLETED' : 'NO_MATCHING_SUBSCRIPTIONS';
    if (!answer || answer.status !== 200) {
      flag('unaccounted', `${e.ref} ${e.eventId} (${e.flavour}): GET answered ${answer ? `${answer.status} ${answer.text.slice(0, 160)}` : 'nothing'}`);
      continue;
    }
    const json = answer.json;
    const notifications: { subscriptionId: string; notificationId: string; status: string; reason?: string }[] = json?.notifications ?? [];
    const delivered = notifications.filter((n) => n.status === 'DELIVERED').map((n) => subscriptionName.get(n.subscriptionId) ?? n.subscriptionId);
    const wrong = json?.deliveryStatus !== wantState || notifications.length !== e.expected.length
      || delivered.length !== e.expected.length || e.expected.some((s) => !delivered.includes(s));
    if (wrong) {
      const summary = notifications.map((n) => `${subscriptionName.get(n.subscriptionId) ?? n.subscriptionId}:${n.status}${n.reason ? ` (${n.reason.slice(0, 80)})` : ''}`).join(' ');
      flag('unaccounted', `${e.ref} ${e.eventId} (${e.flavour}): ${json?.deliveryStatus}, expected ${wantState} to [${e.expected.join(', ')}], notifications [${summary}]`);
    }
    for (const n of notifications) {
      const sub = subscriptionName.get(n.subscriptionId);
      const seen = new Set((pairs.get(`${e.ref}|${sub}`) ?? []).map((d) => d.webhookId));
      if (seen.size > 0 && !seen.has(n.notificationId)) {
        flag('unstableIds', `${e.ref}|${sub}: GET says notificationId ${n.notificationId}, delivered as ${[...seen].join(', ')}`);
      }
    }
  }

  // (g) FIFO: per ordering key, first deliveries to the always-200 subscription in publish order.
  if (mode === 'fifo') {
    const firstArrival = new Map<string, number>();
    for (const d of deliveries) {
      if (d.subscription === ORDER_SUBSCRIPTION && d.verified && d.status < 300 && d.ref && !firstArrival.has(d.ref)) firstArrival.set(d.ref, d.seq);
    }
    const byKey = new Map<string, LogicalEvent[]>();
    for (const e of acceptedEvents) if (e.expected.includes(ORDER_SUBSCRIPTION)) byKey.set(e.orderingKey!, [...(byKey.get(e.orderingKey!) ?? []), e]);
    for (const [key, list] of byKey) {
      list.sort((x, y) => x.acceptSeq! - y.acceptSeq!);
      let latest: { ref: string; seq: number } | undefined;
      for (const e of list) {
        const seq = firstArrival.get(e.ref);
        if (seq === undefined) continue;
        if (latest && seq < latest.seq) flag('outOfOrder', `${key}: ${e.ref} (published after ${latest.ref}) arrived first (#${seq} < #${latest.seq})`);
        if (!latest || seq > latest.seq) latest = { ref: e.ref, seq };
      }
    }
  }

  const counts = Object.fromEntries(Object.entries(examples).map(([k, v]) => [k, v.length])) as Record<keyof Examples, number>;
  return { counts, examples, duplicates, byFlavour, completedAt };
}

function safeParse(text: string): Json | undefined {
  try {
    return parseLossless(text);
  } catch {
    return undefined;
  }
}

/** Every published member (service fields aside) present in `actual` and equal, digits, order and characters included. */
function compareEnvelope(published: Json, actual: Json | undefined, skip: ReadonlySet<string>): string | undefined {
  if (actual?.kind !== 'object') return `not an object: ${actual ? stringifyLossless(actual).slice(0, 80) : '(absent)'}`;
  if (published.kind !== 'object') return 'published envelope is not an object';
  for (const [key, value] of published.entries) {
    if (skip.has(key)) continue;
    const got = member(actual, key);
    if (got === undefined) return `/${key} missing`;
    if (canonical(value) !== canonical(got)) return firstDifference(value, got, `/${key}`) ?? `/${key} differs`;
  }
  return undefined;
}

// ---- command line

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'events': { type: 'string', default: '1000' },
      'mode': { type: 'string', default: 'both' },
      'kills': { type: 'string', default: '2' },
      'seed': { type: 'string', default: '1' },
      'concurrency': { type: 'string' },
      'settle-timeout': { type: 'string', default: '120' },
      'log-dir': { type: 'string' },
      'keep-data': { type: 'boolean', default: false },
      'circuit-breaker': { type: 'string' },
    },
  });
  const number = (name: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${value}`);
    return n;
  };
  const modes: Mode[] = values.mode === 'both' ? ['standard', 'fifo'] : values.mode === 'standard' || values.mode === 'fifo' ? [values.mode] : [];
  if (modes.length === 0) throw new Error(`--mode must be standard, fifo or both, got ${values.mode}`);
  const results: TortureResult[] = [];
  for (const mode of modes) {
    results.push(await runTorture({
      mode,
      events: number('events', values.events, 1),
      kills: number('kills', values.kills, 0),
      seed: number('seed', values.seed, 0),
      concurrency: values.concurrency === undefined ? undefined : number('concurrency', values.concurrency, 1),
      settleTimeoutMs: number('settle-timeout', values['settle-timeout'], 1) * 1000,
      logDir: values['log-dir'],
      keepData: values['keep-data'],
      circuitBreaker: values['circuit-breaker'],
      progress: (line) => console.error(line),
    }));
  }
  for (const r of results) {
    if (!r.ok) for (const line of r.examples.slice(0, 12)) console.error(`  ${r.mode} ${line.length > 300 ? line.slice(0, 297) + '...' : line}`);
    console.error(`  log: ${r.logFile}`);
  }
  for (const r of results) console.log(r.summary);
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  });
}
