import * as z from 'zod';
import { EventEnvelope, eventEnvelopeSchema } from './envelope';
import { byteLength, HttpRequest, HttpResponse, jsonResponse } from './http';
import {
  ExistingClaim, fingerprintOf, IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_WINDOW_SECONDS, idempotencyInProgress, idempotencyMismatch,
  IdempotencyStore, parseIdempotencyKeyHeader, scopedIdempotencyKey,
} from './idempotency';
import { idSchema, newId, timeOfId } from './ids';
import { parseJsonBody, requireJsonContentType } from './json-body';
import { FieldError, HttpProblem, problemSchema, zodFieldErrors } from './problem';
import { messageGroupOf, QueuedEvent } from './queue-message';
import { EventQueue, SendOutcome } from './queued-event';
import { arrayElements, compactJson, memberText } from './raw-json';

export const MAX_BATCH_EVENTS = 100;
/**
 * Deepest nesting accepted in an event (the envelope object is level 1): DynamoDB stores at most
 * 32 levels and the processor stores the event inside its item, so two levels are kept spare;
 * much deeper values would also overflow the stack of JSON.stringify (a 5xx for bad input).
 */
export const MAX_EVENT_DEPTH = 30;
/** Below Lambda's 6 MB synchronous payload limit, with room for headers and base64. */
export const MAX_BATCH_BODY_BYTES = 4 * 1024 * 1024;

/** The answer for an event that is on the queue (POST /events, each accepted item of a batch, POST /webhooks/{source}). */
export const acceptedEventSchema = z.object({
  eventId: idSchema('evt'),
  status: z.literal('ACCEPTED'),
});
export type AcceptedEvent = z.infer<typeof acceptedEventSchema>;

/** A batch body: 1 to MAX_BATCH_EVENTS items. */
function batchOf<T extends z.ZodType>(item: T) {
  return z.object({
    events: z.array(item).min(1).max(MAX_BATCH_EVENTS),
  });
}

/**
 * POST /events/batch as documented: events. Each is validated on its own: an invalid one is
 * answered in its place and the others are queued.
 */
export const publishBatchSchema = batchOf(eventEnvelopeSchema);
/** What the handler checks of the whole batch before each item is validated on its own. */
const batchShapeSchema = batchOf(z.unknown());

/** POST /events/batch: one result per item, in the request's order. */
export const batchResultSchema = z.object({
  events: z.array(z.union([acceptedEventSchema, z.object({ error: problemSchema })])),
});
export type BatchResult = z.infer<typeof batchResultSchema>;

export interface IngestConfig {
  /** Largest accepted event body in bytes (the construct's `maxEventSize`). */
  readonly maxEventSizeBytes: number;
  /**
   * FIFO: the events of a request that share an ordering key are queued in their order, so an
   * event after one that could not be queued (yet) is not queued either: its retry would
   * otherwise land behind the later ones.
   */
  readonly keepOrder?: boolean;
}

export interface IngestDependencies {
  readonly queue: EventQueue;
  readonly idempotency: IdempotencyStore;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How long a repeat waits for a concurrent request with the same key before answering 409. */
const IN_PROGRESS_WAIT_MS = 2000;
const IN_PROGRESS_POLL_MS = 100;

/** One event of a request on its way to the queue. */
interface Candidate {
  /** The parsed view, validated. */
  readonly envelope: EventEnvelope;
  /** The publisher's envelope as compact, exact JSON text: what is queued, stored and delivered. */
  readonly eventJson: string;
  readonly fingerprint: string;
  readonly idempotencyKey?: string;
}

export type Outcome =
  | { readonly accepted: true; readonly eventId: string; readonly replayed: boolean }
  | { readonly accepted: false; readonly problem: HttpProblem };

/**
 * The publish path (POST /events, POST /events/batch): shallow validation, ids, idempotency,
 * and the queue. A 202 is returned only for events the queue has accepted.
 */
export class IngestService {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: IngestDependencies, private readonly config: IngestConfig) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  public async publishOne(request: HttpRequest): Promise<HttpResponse> {
    requireJsonContentType(request);
    if (byteLength(request.body) > this.config.maxEventSizeBytes) {
      throw payloadTooLarge(`The event is larger than the limit of ${this.config.maxEventSizeBytes} bytes.`);
    }
    const key = parseIdempotencyKeyHeader(request.headers['idempotency-key']);
    const body = parseJsonBody(request.body);
    requireShallowNesting(body, '');
    const envelope = this.validateEnvelope(body, '');
    const candidate: Candidate = {
      envelope,
      eventJson: compactJson(request.body!),
      fingerprint: fingerprintOf(request.body ?? ''),
      idempotencyKey: key === undefined ? undefined : scopedIdempotencyKey(request.callerKeyId, key),
    };
    const [outcome] = await this.accept([candidate], request.callerKeyId);
    if (!outcome.accepted) throw outcome.problem;
    return jsonResponse(202, { eventId: outcome.eventId, status: 'ACCEPTED' } satisfies AcceptedEvent, {
      location: `/events/${outcome.eventId}`,
      ...(outcome.replayed ? { 'idempotent-replayed': 'true' } : {}),
    });
  }

  public async publishBatch(request: HttpRequest): Promise<HttpResponse> {
    requireJsonContentType(request);
    if (byteLength(request.body) > MAX_BATCH_BODY_BYTES) {
      throw payloadTooLarge(`The batch is larger than the limit of ${MAX_BATCH_BODY_BYTES} bytes.`);
    }
    const key = parseIdempotencyKeyHeader(request.headers['idempotency-key']);
    const items = parseBatch(parseJsonBody(request.body));
    // The items' own text, so each event keeps its exact numbers and keys (raw-json.ts).
    const itemTexts = arrayElements(memberText(compactJson(request.body!), 'events') ?? '') ?? [];
    if (itemTexts.length !== items.length) throw new Error('batch items and their text disagree');

    // Validate every item; invalid ones get their own error and are never queued.
    const results: (Outcome | undefined)[] = new Array(items.length).fill(undefined);
    const candidates: Candidate[] = [];
    const positions: number[] = [];
    items.forEach((item, index) => {
      try {
        requireShallowNesting(item, `/events/${index}`);
        const serialized = itemTexts[index];
        if (byteLength(serialized) > this.config.maxEventSizeBytes) {
          throw payloadTooLarge(`Event ${index} is larger than the limit of ${this.config.maxEventSizeBytes} bytes.`, [
            { path: `/events/${index}`, message: `must be at most ${this.config.maxEventSizeBytes} bytes` },
          ]);
        }
        candidates.push({
          envelope: this.validateEnvelope(item, `/events/${index}`),
          eventJson: serialized,
          fingerprint: fingerprintOf(serialized),
          // One key covers the batch: each item gets its own derived key (a newline cannot occur
          // in a key, so it never collides with a single event's), so a retried batch yields
          // the same event id at each position.
          idempotencyKey: key === undefined ? undefined : scopedIdempotencyKey(request.callerKeyId, `batch\n${key}\n${index}`),
        });
        positions.push(index);
      } catch (error) {
        results[index] = { accepted: false, problem: asProblem(error) };
      }
    });

    if (candidates.length === 0) {
      const errors = results.flatMap((r) => (r && !r.accepted ? r.problem.errors ?? [{ path: '', message: r.problem.detail }] : []));
      throw HttpProblem.badRequest('No event in the batch is valid; nothing was queued.', errors);
    }
    const outcomes = await this.accept(candidates, request.callerKeyId);
    outcomes.forEach((outcome, i) => { results[positions[i]] = outcome; });

    // Nothing accepted and something failed on our side: the caller should retry the batch.
    if (!results.some((r) => r?.accepted)) {
      const serverSide = results.find((r) => r && !r.accepted && r.problem.status >= 500);
      if (serverSide && !serverSide.accepted) throw serverSide.problem;
    }
    return jsonResponse(202, {
      events: results.map((r) => (r!.accepted
        ? { eventId: r!.eventId, status: 'ACCEPTED' as const }
        : { error: r!.problem.toJSON() })),
    } satisfies BatchResult);
  }

  private validateEnvelope(body: unknown, pathPrefix: string): EventEnvelope {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw HttpProblem.badRequest('The event must be a JSON object.', [{ path: pathPrefix || '/', message: 'must be an object' }]);
    }
    const parsed = eventEnvelopeSchema.safeParse(body);
    if (!parsed.success) {
      throw HttpProblem.badRequest('The event envelope is not valid.', zodFieldErrors(parsed.error, pathPrefix));
    }
    return parsed.data;
  }

  /**
   * Queues one event that arrived another way than POST /events (an inbound webhook whose
   * signature was verified), with the same idempotency and queue guarantees.
   */
  public async acceptVerified(
    envelope: EventEnvelope, eventJson: string, fingerprint: string, idempotencyKey: string | undefined, source: string,
  ): Promise<Outcome> {
    const [outcome] = await this.accept([{ envelope, eventJson, fingerprint, idempotencyKey }], undefined, source);
    return outcome;
  }

  /** Claims idempotency keys, queues what needs queueing, and reports each event's outcome. */
  private async accept(candidates: readonly Candidate[], callerKeyId: string | undefined, source = 'api'): Promise<Outcome[]> {
    const nowMs = this.now();
    const expiresAt = Math.floor(nowMs / 1000) + IDEMPOTENCY_WINDOW_SECONDS;
    const plans = this.holdBackOutOfOrder(await Promise.all(candidates.map((c) => this.plan(c, newId('evt', nowMs), expiresAt))));

    const toSend = plans.filter((p): p is SendPlan => p.kind === 'send');
    const messages: QueuedEvent[] = toSend.map((p) => ({
      eventId: p.eventId,
      // The time in the id: a repeat that re-sends the event sends the very same message.
      receivedAt: new Date(timeOfId(p.eventId)).toISOString(),
      source,
      ...(callerKeyId ? { publisherKeyId: callerKeyId } : {}),
      eventJson: p.candidate.eventJson,
      event: p.candidate.envelope,
    }));
    let sendOutcomes: SendOutcome[];
    try {
      sendOutcomes = messages.length > 0 ? await this.deps.queue.send(messages) : [];
    } catch (error) {
      sendOutcomes = messages.map(() => ({ ok: false, reason: String(error) }));
    }

    const outcomeOf = new Map(toSend.map((plan, i) => [plan, sendOutcomes[i]]));

    return Promise.all(plans.map(async (plan): Promise<Outcome> => {
      if (plan.kind === 'rejected') {
        const key = plan.candidate?.idempotencyKey;
        if (plan.release && key !== undefined) await this.deps.idempotency.release(key).catch(() => undefined);
        return { accepted: false, problem: plan.problem };
      }
      if (plan.kind === 'already-queued') return { accepted: true, eventId: plan.eventId, replayed: true };
      const key = plan.candidate.idempotencyKey;
      const outcome = outcomeOf.get(plan);
      if (!outcome?.ok) {
        if (key !== undefined && plan.claimedNow) await this.deps.idempotency.release(key).catch(() => undefined);
        return { accepted: false, problem: unavailable('The event queue did not accept the event; it was not queued. Retry later.') };
      }
      // Best effort: if this write fails the record stays "not enqueued" and a repeat re-sends
      // under the same id, which the processor deduplicates.
      if (key !== undefined) await this.deps.idempotency.markEnqueued(key).catch(() => undefined);
      return { accepted: true, eventId: plan.eventId, replayed: plan.replayed };
    }));
  }

  /**
   * FIFO: after an event that the caller must retry (409, 503), the later events of its ordering
   * key in the same request are held back too (503, their claims released), so the retry queues
   * them in their order. An event refused for good (422) holds nothing back.
   */
  private holdBackOutOfOrder(plans: Plan[]): Plan[] {
    if (!this.config.keepOrder) return plans;
    const blocked = new Set<string>();
    return plans.map((plan) => {
      if (plan.kind === 'already-queued') return plan;
      const group = plan.candidate ? messageGroupOf(plan.candidate.envelope) : undefined;
      if (group === undefined) return plan;
      if (plan.kind === 'rejected') {
        if (plan.problem.status === 409 || plan.problem.status >= 500) blocked.add(group);
        return plan;
      }
      if (!blocked.has(group)) return plan;
      return {
        kind: 'rejected',
        candidate: plan.candidate,
        release: plan.claimedNow,
        problem: unavailable('An earlier event of this ordering key in the request was not queued, so this one was held back to keep their order. Retry.'),
      };
    });
  }

  /** Decides what to do with one event: send it, answer from an earlier request, or reject it. */
  private async plan(candidate: Candidate, eventId: string, expiresAt: number): Promise<Plan> {
    const key = candidate.idempotencyKey;
    if (key === undefined) return { kind: 'send', candidate, eventId, claimedNow: false, replayed: false };
    try {
      const claim = await this.deps.idempotency.claim(key, eventId, candidate.fingerprint, expiresAt);
      if (claim.status === 'claimed') return { kind: 'send', candidate, eventId, claimedNow: true, replayed: false };
      return await this.planRepeat(candidate, key, claim, eventId, expiresAt);
    } catch {
      return { kind: 'rejected', candidate, problem: unavailable('The idempotency record could not be written; nothing was queued. Retry later.') };
    }
  }

  /**
   * A key seen before. Its event is on the queue: answer with its id. Another request is still
   * queueing it: wait a moment for it, then 409 (never a second message for a live request).
   * The request that claimed it died before queueing it (its lease ran out): take the claim over
   * and send the event under the same id, so one key still yields one event.
   */
  private async planRepeat(candidate: Candidate, key: string, first: ExistingClaim, eventId: string, expiresAt: number): Promise<Plan> {
    const waitUntil = this.now() + IN_PROGRESS_WAIT_MS;
    let claim: ExistingClaim | undefined = first;
    for (;;) {
      if (!claim) {
        // Released: the earlier request could not queue it. Claim it afresh (once).
        const again = await this.deps.idempotency.claim(key, eventId, candidate.fingerprint, expiresAt);
        if (again.status === 'claimed') return { kind: 'send', candidate, eventId, claimedNow: true, replayed: false };
        claim = again;
      }
      if (claim.fingerprint !== candidate.fingerprint) return { kind: 'rejected', candidate, problem: idempotencyMismatch() };
      if (claim.enqueued) return { kind: 'already-queued', eventId: claim.eventId };
      const nowMs = this.now();
      if (nowMs - claim.claimedAt >= IDEMPOTENCY_LEASE_MS && await this.deps.idempotency.takeOver(key, claim.claimedAt, nowMs)) {
        return { kind: 'send', candidate, eventId: claim.eventId, claimedNow: true, replayed: true };
      }
      if (nowMs >= waitUntil) return { kind: 'rejected', candidate, problem: idempotencyInProgress() };
      await this.sleep(IN_PROGRESS_POLL_MS);
      claim = await this.deps.idempotency.read(key);
    }
  }
}

interface SendPlan {
  readonly kind: 'send';
  readonly candidate: Candidate;
  readonly eventId: string;
  /** This request created the idempotency record, so it must release it if the send fails. */
  readonly claimedNow: boolean;
  readonly replayed: boolean;
}

type Plan =
  | SendPlan
  | { readonly kind: 'already-queued'; readonly eventId: string }
  | {
    readonly kind: 'rejected';
    readonly problem: HttpProblem;
    readonly candidate?: Candidate;
    /** The claim this request made must be given up (an event held back to keep the order). */
    readonly release?: boolean;
  };

function parseBatch(body: unknown): unknown[] {
  const parsed = batchShapeSchema.safeParse(body);
  if (parsed.success) return parsed.data.events;
  const events = (body as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) {
    throw HttpProblem.badRequest('The body must be an object with an "events" array.', [{ path: '/events', message: 'must be an array' }]);
  }
  throw HttpProblem.badRequest(`A batch holds 1 to ${MAX_BATCH_EVENTS} events.`, [
    { path: '/events', message: `must hold 1 to ${MAX_BATCH_EVENTS} events, got ${events.length}` },
  ]);
}

/** Rejects values nested deeper than MAX_EVENT_DEPTH, measured without recursion. */
export function requireShallowNesting(value: unknown, path: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > MAX_EVENT_DEPTH) {
      throw HttpProblem.badRequest(`The event is nested more than ${MAX_EVENT_DEPTH} levels deep.`, [
        { path: path || '/', message: `must not be nested more than ${MAX_EVENT_DEPTH} levels deep` },
      ]);
    }
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
}

function payloadTooLarge(detail: string, errors?: FieldError[]): HttpProblem {
  return new HttpProblem(413, 'payload-too-large', 'Payload too large', detail, errors);
}

function unavailable(detail: string): HttpProblem {
  return new HttpProblem(503, 'queue-unavailable', 'Service unavailable', detail, undefined, { 'retry-after': '1' });
}

function asProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  throw error;
}
