import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { killAllChildren, DevProcess, sleep, startDev } from '../helpers/dev-process';
import { at, canonical, firstDifference, Json, parseLossless, stringifyLossless, stringOf } from '../helpers/lossless-json';
import { Receiver, ReceiverPool } from '../helpers/receivers';

/*
 * Exact payloads (docs/architecture.md "Exact payloads"), as a property: any JSON `details` within the limits (arbitrary
 * member names including __proto__ and constructor, any Unicode, integers far beyond 2^53 written
 * as raw digits, long decimals, nested arrays, depth <= 10), published as raw JSON text through
 * the local runtime, comes out identical in the signed webhook body and in GET /events/{id}:
 * compared without ever going through a JS double (test/helpers/lossless-json.ts).
 */

const API_KEY = 'payload-roundtrip-key-0001';
const NUM_RUNS = 60;
/** A healthy event is delivered within a few hundred ms; this is generous on a busy machine. */
const DELIVERY_TIMEOUT_MS = 4_000;

// ---- arbitraries of lossless JSON

const HOSTILE_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '', '\u2028', '\u{1F680}'];
const HOSTILE_STRINGS = ['\u2028\u2029', 'nul\u0000', '\u202Eevil', '\uFEFF', 'e\u0301', '\u{1F469}\u200D\u{1F469}\u200D\u{1F467}', '</script>', '\\"'];
const HOSTILE_NUMBERS = [
  '18446744073709551615', '9007199254740993', '-9007199254740993', '-9223372036854775809', '5e-324', '1e308', '-0', '0.1',
  '1E+2', '2.5e-10', '3.14159265358979323846264338327950288419716939937510', '1.0000000000000000000000001',
];

const num = (raw: string): Json => ({ kind: 'number', raw });
const str = (value: string): Json => ({ kind: 'string', value });

const numberArb: fc.Arbitrary<Json> = fc.oneof(
  // Integers, most of them beyond 2^53.
  fc.bigInt({ min: -(2n ** 96n), max: 2n ** 96n }).map((n) => num(String(n))),
  fc.constantFrom(...HOSTILE_NUMBERS).map(num),
  // Decimals with more digits than a double holds.
  fc.tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.stringMatching(/^\d{1,30}$/)).map(([i, f]) => num(`${i}.${f}`)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => num(String(d))),
);
const stringArb: fc.Arbitrary<Json> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom(...HOSTILE_STRINGS),
).map(str);
const nameArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom(...HOSTILE_NAMES));
const leafArb: fc.Arbitrary<Json> = fc.oneof(
  numberArb,
  stringArb,
  fc.boolean().map((value): Json => ({ kind: 'boolean', value })),
  fc.constant<Json>({ kind: 'null' }),
);

/** `details`: an object (level 1) whose values nest at most 9 levels more. */
const detailsArb: fc.Arbitrary<Json> = fc.letrec<{ value: Json; array: Json; object: Json }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 9 }, leafArb, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }).map((items): Json => ({ kind: 'array', items })),
  object: fc.uniqueArray(fc.tuple(nameArb, tie('value')), { selector: ([name]) => name, maxLength: 5 })
    .map((entries): Json => ({ kind: 'object', entries })),
})).object
  .filter((value) => stringifyLossless(value).length <= 64 * 1024)
  // Counterexamples print as the JSON text that was published.
  .map((value) => Object.assign({ ...value }, { [fc.toStringMethod]: () => stringifyLossless(value) }));

// ---- the runtime and a receiver

interface Delivered {
  readonly body: string;
  readonly verified: boolean;
}

describe('exact payloads through the local runtime (property)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ens-roundtrip-'));
  const receivers = new ReceiverPool();
  const delivered = new Map<string, Delivered>();
  let dev: DevProcess;
  let receiver: Receiver;
  let secret = '';

  const call = async (method: string, route: string, body?: string): Promise<{ status: number; text: string }> => {
    const response = await fetch(dev.apiUrl + route, {
      method,
      headers: { 'x-api-key': API_KEY, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, text: await response.text() };
  };

  beforeAll(async () => {
    receiver = await receivers.start({
      responder: (request) => {
        let verified = false;
        try {
          new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
          verified = true;
        } catch {
          // recorded as unverified
        }
        let eventId: string | undefined;
        try {
          eventId = stringOf(at(parseLossless(request.body), 'data', 'eventId'));
        } catch {
          // not JSON: it matches no event and the property fails by time-out, naming the event
        }
        if (eventId && !delivered.has(eventId)) delivered.set(eventId, { body: request.body, verified });
        return { status: 200 };
      },
    });
    dev = await startDev(['--data-dir', dataDir, '--api-key', API_KEY, '--allow-private-targets', '--retry-schedule', '0s,1s,1s']);
    const subscription = await call('POST', '/subscriptions', JSON.stringify({
      eventType: 'roundtrip.*', severityFilter: 'LOW', channel: 'WEBHOOK', target: `${receiver.url}/hooks/roundtrip`,
    }));
    expect(subscription.status).toBe(201);
    secret = JSON.parse(subscription.text).secret;
    // The processor caches subscriptions for a second.
    await sleep(1200);
  }, 60_000);

  afterAll(async () => {
    await killAllChildren();
    await receivers.closeAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('details published as raw JSON come out identical in the webhook and in GET /events/{id}', async () => {
    let run = 0;
    const property = fc.asyncProperty(detailsArb, async (details) => {
      const title = `roundtrip ${run++}`;
      const text = stringifyLossless(details);
      const published = await call('POST', '/events', `{"eventType":"roundtrip.check","severity":"HIGH","title":${JSON.stringify(title)},"details":${text}}`);
      if (published.status !== 202) throw new Error(`POST /events answered ${published.status}: ${published.text.slice(0, 300)}`);
      const eventId: string = JSON.parse(published.text).eventId;

      const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
      while (!delivered.has(eventId) && Date.now() < deadline) await sleep(20);
      const delivery = delivered.get(eventId);
      if (!delivery) {
        const state = await call('GET', `/events/${eventId}`);
        throw new Error(`${eventId} not delivered within ${DELIVERY_TIMEOUT_MS} ms; GET answered ${state.status}: ${state.text.slice(0, 300)}`);
      }
      if (!delivery.verified) throw new Error(`${eventId}: the webhook signature did not verify`);
      const inWebhook = at(parseLossless(delivery.body), 'data', 'details');
      const webhookDiff = firstDifference(details, inWebhook);
      if (webhookDiff !== undefined || canonical(details) !== canonical(inWebhook!)) throw new Error(`webhook data.details differs at ${webhookDiff}`);

      const state = await call('GET', `/events/${eventId}`);
      if (state.status !== 200) throw new Error(`GET /events/${eventId} answered ${state.status}: ${state.text.slice(0, 300)}`);
      const stored = at(parseLossless(state.text), 'event', 'details');
      const storedDiff = firstDifference(details, stored);
      if (storedDiff !== undefined || canonical(details) !== canonical(stored!)) throw new Error(`GET event.details differs at ${storedDiff}`);
    });
    await fc.assert(property, {
      numRuns: NUM_RUNS,
      // A failure found late still has time to shrink; the test reports it either way.
      plugins: [fc.interruptAfterTimeLimit(45_000, { failOnInterrupt: true })],
    });
  }, 100_000);
});
