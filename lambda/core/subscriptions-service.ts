import * as z from 'zod';
import { describeChannel, newSigningSecret } from './channels';
import { HEALTH_ATTRIBUTES } from './endpoint-health';
import { emptyResponse, HttpRequest, HttpResponse, jsonResponse } from './http';
import { isId, newId } from './ids';
import { parseJsonBody, requireJsonContentType } from './json-body';
import { pageToken, subscriptionIdOfToken } from './page-token';
import { filterTextOf } from './payload-filter';
import { HttpProblem } from './problem';
import {
  CreatedSubscription, createSubscriptionSchema, publicView, RotatedSecret, rotateSecretSchema, Subscription, SubscriptionChanges,
  subscriptionViewSchema, TargetPolicy, targetError,
  updateSubscriptionSchema,
} from './subscription';

export const DEFAULT_PAGE_SIZE = 25;

/** Attributes an update sets or removes besides the caller's changes. */
export interface AttributeChanges {
  readonly set?: Readonly<Record<string, unknown>>;
  readonly remove?: readonly string[];
}

/** What `enabled: true` resets: the endpoint's health (pristine, dated now, so processors drop what they remember) and the reasons. */
function revival(nowMs: number): AttributeChanges {
  return {
    set: { healthFailures: 0, healthAt: nowMs },
    remove: [...HEALTH_ATTRIBUTES.filter((a) => a !== 'healthFailures' && a !== 'healthAt'), 'disabledReason', 'disabledAt', 'pausedReason'],
  };
}

export const MAX_PAGE_SIZE = 100;

export interface SubscriptionPage {
  readonly items: Subscription[];
  /** Id of the last item when there may be more, to continue after. */
  readonly lastSubscriptionId?: string;
}

/** Port: where subscriptions live (the Subscriptions table). */
export interface SubscriptionStore {
  create(subscription: Subscription): Promise<void>;
  get(subscriptionId: string): Promise<Subscription | undefined>;
  listByOwner(ownerKeyId: string, limit: number, afterSubscriptionId?: string): Promise<SubscriptionPage>;
  /** How many subscriptions the key has (up to `atMost`, so a count never reads more than needed). */
  countByOwner(ownerKeyId: string, atMost: number): Promise<number>;
  /**
   * Applies the changes (and `also`: attributes the service sets or removes besides them) if the
   * subscription exists and belongs to the owner; undefined otherwise.
   */
  update(
    subscriptionId: string, ownerKeyId: string, changes: SubscriptionChanges, updatedAt: string, also?: AttributeChanges,
  ): Promise<Subscription | undefined>;
  /** Deletes it if it exists and belongs to the owner; false otherwise. */
  delete(subscriptionId: string, ownerKeyId: string): Promise<boolean>;
  /**
   * Sets `secret` to `rotation.next` and keeps `rotation.current` as `previousSecret` until
   * `rotation.previousExpiresAt` (without one, drops any previous secret), if the subscription
   * exists, belongs to the owner and its secret is still `rotation.current`; undefined otherwise.
   */
  rotateSecret(subscriptionId: string, ownerKeyId: string, rotation: SecretRotation, updatedAt: string): Promise<Subscription | undefined>;
}

export interface SecretRotation {
  readonly current: string;
  readonly next: string;
  readonly previousExpiresAt?: string;
}

/** How long a rotated-out secret still signs deliveries by default (the `secretRotationOverlap` prop). */
export const DEFAULT_SECRET_ROTATION_OVERLAP_SECONDS = 24 * 3600;

/** GET /subscriptions: the query parameters (also the OpenAPI document's). */
export const listQuerySchema = z.object({
  limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`).default(DEFAULT_PAGE_SIZE),
  nextToken: z.string().max(200, 'is not a valid token').optional().meta({ description: 'The `nextToken` of the previous page' }),
});

/** GET /subscriptions: one page of the caller's subscriptions. */
export const subscriptionPageSchema = z.object({
  items: z.array(subscriptionViewSchema),
  nextToken: z.string().optional().meta({ description: 'Present when there may be more: pass it as the nextToken query parameter' }),
});
export type SubscriptionPageView = z.infer<typeof subscriptionPageSchema>;

/**
 * The subscriptions API (docs/architecture.md "Tenants"). Subscriptions belong to the API key that created them:
 * another key gets 404 for them, exactly as if they did not exist.
 */
export class SubscriptionsService {
  constructor(
    private readonly store: SubscriptionStore,
    private readonly policy: TargetPolicy,
    private readonly now: () => number = Date.now,
    /** One key cannot multiply every event's fan-out: at most this many subscriptions per key. */
    private readonly maxPerKey: number = 100,
    /** How long a rotated-out secret still signs deliveries (0: not at all). */
    private readonly secretRotationOverlapSeconds: number = DEFAULT_SECRET_ROTATION_OVERLAP_SECONDS,
  ) {}

  public async create(request: HttpRequest): Promise<HttpResponse> {
    const owner = requireOwner(request);
    requireJsonContentType(request);
    const parsed = createSubscriptionSchema.safeParse(parseJsonBody(request.body));
    if (!parsed.success) throw HttpProblem.fromZod(parsed.error, 'The subscription is not valid.');
    const input = parsed.data;
    const problem = targetError(input.channel, input.target, this.policy);
    if (problem) throw HttpProblem.badRequest('The subscription target is not valid.', [{ path: '/target', message: problem }]);
    // The parsed body has rounded the filter's numbers: keep the text as sent.
    const filter = input.filter ? filterTextOf(request.body!) : undefined;

    // Checked before the write: concurrent creates by one key can pass it together, so a key may
    // end a few over the limit for a moment, never unboundedly.
    if (await this.store.countByOwner(owner, this.maxPerKey) >= this.maxPerKey) {
      throw new HttpProblem(409, 'subscription-limit-reached', 'Subscription limit reached',
        `This API key has ${this.maxPerKey} subscriptions, the most one key may have. Delete one or use another key.`);
    }
    const at = new Date(this.now()).toISOString();
    const subscription: Subscription = {
      subscriptionId: newId('sub'),
      ownerKeyId: owner,
      eventType: input.eventType,
      severityFilter: input.severityFilter,
      channel: input.channel,
      target: input.target,
      enabled: input.enabled,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(filter !== undefined ? { filter } : {}),
      ...(describeChannel(input.channel).hasSigningSecret ? { secret: newSigningSecret() } : {}),
      createdAt: at,
      updatedAt: at,
    };
    await this.store.create(subscription);
    // The secret is shown this once; GET never returns it.
    const created: CreatedSubscription = { ...publicView(subscription, this.now()), ...(subscription.secret ? { secret: subscription.secret } : {}) };
    return jsonResponse(201, created, {
      location: `/subscriptions/${subscription.subscriptionId}`,
    });
  }

  public async list(request: HttpRequest): Promise<HttpResponse> {
    const owner = requireOwner(request);
    const query = listQuerySchema.safeParse(request.queryParameters);
    if (!query.success) throw HttpProblem.fromZod(query.error, 'The query parameters are not valid.', '/query');
    const after = query.data.nextToken === undefined ? undefined : subscriptionIdOfToken(query.data.nextToken);
    const page = await this.store.listByOwner(owner, query.data.limit, after);
    return jsonResponse(200, {
      items: page.items.map((s) => publicView(s, this.now())),
      ...(page.lastSubscriptionId ? { nextToken: pageToken(page.lastSubscriptionId) } : {}),
    } satisfies SubscriptionPageView);
  }

  public async get(request: HttpRequest): Promise<HttpResponse> {
    const owner = requireOwner(request);
    const id = subscriptionIdOf(request);
    const subscription = await this.store.get(id);
    if (!subscription || subscription.ownerKeyId !== owner) throw notFound(id);
    return jsonResponse(200, publicView(subscription, this.now()));
  }

  public async update(request: HttpRequest): Promise<HttpResponse> {
    const owner = requireOwner(request);
    const id = subscriptionIdOf(request);
    requireJsonContentType(request);
    const parsed = updateSubscriptionSchema.safeParse(parseJsonBody(request.body));
    if (!parsed.success) throw HttpProblem.fromZod(parsed.error, 'The changes are not valid.');
    const { filter, ...fields } = parsed.data;
    const changes: SubscriptionChanges = { ...fields, ...(filter !== undefined ? { filter: filter && filterTextOf(request.body!) } : {}) };
    if (changes.target !== undefined) {
      // The target is checked against the channel, which only the stored item knows.
      const existing = await this.store.get(id);
      if (!existing || existing.ownerKeyId !== owner) throw notFound(id);
      const problem = targetError(existing.channel, changes.target, this.policy);
      if (problem) throw HttpProblem.badRequest('The subscription target is not valid.', [{ path: '/target', message: problem }]);
    }
    // `enabled: true` revives: a fresh health record, no disabled or paused reason (docs/architecture.md "Endpoint health").
    const now = this.now();
    const revive = changes.enabled === true ? revival(now) : undefined;
    const updated = await this.store.update(id, owner, changes, new Date(now).toISOString(), revive);
    if (!updated) throw notFound(id);
    return jsonResponse(200, publicView(updated, now));
  }

  /**
   * `POST /subscriptions/{id}/secret/rotate` (docs/architecture.md "Delivery"): a new
   * signing secret, shown this once. The replaced one keeps signing deliveries (next to the new
   * one) for the overlap, so receivers can switch without missing a delivery. At most two secrets
   * are ever valid: rotating again within the overlap drops the oldest at once.
   */
  public async rotateSecret(request: HttpRequest): Promise<HttpResponse> {
    const owner = requireOwner(request);
    const id = subscriptionIdOf(request);
    if (request.body !== undefined && request.body.trim() !== '') {
      requireJsonContentType(request);
      const parsed = rotateSecretSchema.safeParse(parseJsonBody(request.body));
      if (!parsed.success) throw HttpProblem.fromZod(parsed.error, 'A rotation takes no fields: send no body or {}.');
    }
    const existing = await this.store.get(id);
    if (!existing || existing.ownerKeyId !== owner) throw notFound(id);
    if (!describeChannel(existing.channel).hasSigningSecret || !existing.secret) {
      throw new HttpProblem(409, 'no-signing-secret', 'No signing secret',
        `${existing.channel} subscriptions are not signed: there is no secret to rotate.`);
    }
    const nowMs = this.now();
    const secret = newSigningSecret();
    const previousExpiresAt = this.secretRotationOverlapSeconds > 0
      ? new Date(nowMs + this.secretRotationOverlapSeconds * 1000).toISOString()
      : undefined;
    const rotation = { current: existing.secret, next: secret, previousExpiresAt };
    const rotated = await this.store.rotateSecret(id, owner, rotation, new Date(nowMs).toISOString());
    if (!rotated) {
      // Deleted meanwhile, or another rotation won: only the secret that was stored may be shown.
      const again = await this.store.get(id);
      if (!again || again.ownerKeyId !== owner) throw notFound(id);
      throw new HttpProblem(409, 'rotation-conflict', 'Rotated meanwhile',
        'Another request rotated this secret at the same moment; its answer holds the new secret. Rotate again if you need one.');
    }
    const answer: RotatedSecret = {
      ...publicView(rotated, nowMs),
      secret,
      ...(previousExpiresAt ? { previousSecretExpiresAt: previousExpiresAt } : {}),
    };
    return jsonResponse(200, answer);
  }

  public async remove(request: HttpRequest): Promise<HttpResponse> {
    const owner = requireOwner(request);
    const id = subscriptionIdOf(request);
    if (!(await this.store.delete(id, owner))) throw notFound(id);
    return emptyResponse(204);
  }
}

function requireOwner(request: HttpRequest): string {
  if (!request.callerKeyId) {
    throw new HttpProblem(403, 'forbidden', 'Forbidden', 'A valid x-api-key header is required.');
  }
  return request.callerKeyId;
}

function subscriptionIdOf(request: HttpRequest): string {
  const id = request.pathParameters.subscriptionId;
  if (!isId('sub', id)) {
    throw HttpProblem.badRequest('The subscription id is not valid.', [{ path: '/path/subscriptionId', message: 'must look like sub_<26-character ULID>' }]);
  }
  return id;
}


function notFound(id: string): HttpProblem {
  return HttpProblem.notFound(`No subscription ${id} exists for this API key.`);
}
