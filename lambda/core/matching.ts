import { Severity, severityRank } from './envelope';
import { compilePayloadFilter, FilterableEvent, PayloadFilter } from './payload-filter';
import { Subscription } from './subscription';

/**
 * The subscription patterns that can match an event type: the type itself, `*`, and every
 * `prefix.*` above it (`a.b.c` → `a.b.c`, `*`, `a.*`, `a.b.*`). Each is one index key.
 */
export function candidatePatterns(eventType: string): string[] {
  const patterns = [eventType, '*'];
  const parts = eventType.split('.');
  for (let i = 1; i < parts.length; i++) patterns.push(parts.slice(0, i).join('.') + '.*');
  return patterns;
}

/**
 * Whether a subscription wants an event: its pattern, its minimum severity, not paused, and its
 * payload filter (judged on the event's exact text; a filtered subscription never matches without it).
 */
export function subscriptionMatches(subscription: Subscription, eventType: string, severity: Severity, event?: FilterableEvent): boolean {
  if (!subscription.enabled) return false;
  if (severityRank(severity) < severityRank(subscription.severityFilter)) return false;
  const pattern = subscription.eventType;
  const typeMatches = pattern === '*' || pattern === eventType || (pattern.endsWith('.*') && eventType.startsWith(pattern.slice(0, -1)));
  if (!typeMatches || subscription.filter === undefined) return typeMatches;
  const filter = filterOf(subscription);
  return event !== undefined && filter !== undefined && filter.matches(event);
}

/** Compiled filters of the cached subscription items: compiled once per item, not per event. */
const compiledFilters = new WeakMap<Subscription, PayloadFilter | undefined>();

/** Undefined when the stored filter cannot be read (hand-edited, or from a newer version): it then matches nothing. */
function filterOf(subscription: Subscription): PayloadFilter | undefined {
  if (!compiledFilters.has(subscription)) {
    const compiled = typeof subscription.filter === 'string' ? compilePayloadFilter(subscription.filter) : undefined;
    compiledFilters.set(subscription, compiled?.ok ? compiled.filter : undefined);
  }
  return compiledFilters.get(subscription);
}

/** Port: the subscriptions stored under one pattern (the `byEventType` index, all pages). */
export interface SubscriptionIndex {
  byPattern(pattern: string): Promise<Subscription[]>;
  /** The subscriptions with these ids that exist (a fan-out follow-up's part: at most a few hundred). */
  byIds?(subscriptionIds: readonly string[]): Promise<Subscription[]>;
}

/**
 * Finds the subscriptions of an event, caching each pattern's subscriptions in the warm
 * container for `ttlMs`, so a busy event type costs one Query per TTL, not one per event.
 */
export class SubscriptionMatcher {
  private readonly cache = new Map<string, { expiresAt: number; items: Promise<Subscription[]> }>();

  constructor(private readonly index: SubscriptionIndex, private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /**
   * `only.ownerKeyId`: tenant isolation, only that key's subscriptions (from the same cached lists).
   * `eventJson`: the event's exact text, for payload filters (no request: the filter is on the item).
   * `among`: a fan-out follow-up's part (fan-out.ts), read by id rather than the whole pattern lists.
   */
  public async match(
    eventType: string, severity: Severity, only?: { readonly ownerKeyId: string }, eventJson?: string, among?: readonly string[],
  ): Promise<Subscription[]> {
    const lists = among ? [await this.byIds(among, eventType)] : await Promise.all(candidatePatterns(eventType).map((p) => this.subscriptionsFor(p)));
    const event = eventJson === undefined ? undefined : new FilterableEvent(eventJson);
    const seen = new Set<string>();
    return lists.flat().filter((s) => {
      if (seen.has(s.subscriptionId) || !subscriptionMatches(s, eventType, severity, event)) return false;
      if (only && s.ownerKeyId !== only.ownerKeyId) return false;
      seen.add(s.subscriptionId);
      return true;
    });
  }

  /** Read by id and not cached (at most a part, bounded whatever the pattern holds); without `byIds`, picked from the pattern lists. */
  private async byIds(ids: readonly string[], eventType: string): Promise<Subscription[]> {
    if (this.index.byIds) return this.index.byIds(ids);
    const wanted = new Set(ids);
    const lists = await Promise.all(candidatePatterns(eventType).map((p) => this.subscriptionsFor(p)));
    return lists.flat().filter((s) => wanted.has(s.subscriptionId));
  }

  private subscriptionsFor(pattern: string): Promise<Subscription[]> {
    const now = this.now();
    const cached = this.cache.get(pattern);
    if (cached && cached.expiresAt > now) return cached.items;
    const items = this.index.byPattern(pattern);
    this.cache.set(pattern, { expiresAt: now + this.ttlMs, items });
    // A failed lookup must not be cached.
    items.catch(() => this.cache.delete(pattern));
    return items;
  }
}
