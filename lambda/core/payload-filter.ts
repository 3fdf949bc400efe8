import * as z from 'zod';
import { SERVICE_FIELDS } from './envelope';
import { compareDecimals, Decimal, decimalKey, parseDecimal } from './exact-decimal';
import { HttpProblem } from './problem';
import { arrayElements, compactJson, memberText, objectMembers } from './raw-json';

/*
 * Payload filters (README "Payload filters", docs/architecture.md "Matching"): a subscription's
 * EventBridge-style content pattern over the event the publisher sent. Both the pattern and the
 * event are read from their exact JSON text, so numbers are compared as written, never as doubles.
 */

/** Bounds that keep a filter cheap to store, to cache and to evaluate for every event. */
export const MAX_FILTER_BYTES = 4096;
/** Levels of nested fields (`{"details":{"amount":[…]}}` has two). */
export const MAX_FILTER_DEPTH = 5;
/** Values and matchers in all of a filter's lists together. */
export const MAX_FILTER_VALUES = 100;
export const FILTER_OPERATORS = ['prefix', 'suffix', 'numeric', 'exists', 'anything-but'] as const;
const MAX_PROBLEMS = 20;
const NUMERIC_OPERATORS: readonly string[] = ['=', '<', '<=', '>', '>='];
const OPERATOR_LIST = 'prefix, suffix, numeric, exists or anything-but';
const NOT_AN_OBJECT = 'must be an object of event fields, e.g. {"details":{"region":["eu-west-1"]}}';

// ---------------------------------------------------------------------------------------------
// One read-only view over JSON, either exact text (patterns as sent and stored, events) or an
// already parsed value (what zod sees). Object members are lists, never property lookups on a
// plain object, so names such as `__proto__` and `constructor` are ordinary names.

type Kind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

interface JsonView {
  readonly kind: Kind;
  /** The value of a string or boolean. */
  readonly scalar: string | boolean | undefined;
  /** A number exactly as written; undefined in a parsed view (its numbers are doubles already). */
  readonly decimal: Decimal | undefined;
  /** Members in order, duplicates kept (only exact text can have them). */
  members(): readonly (readonly [string, JsonView])[];
  /** The member `name`, the last one when the name repeats (as JSON.parse reads it). */
  member(name: string): JsonView | undefined;
  items(): readonly JsonView[];
}

function kindOfText(text: string): Kind {
  switch (text[0]) {
    case '{': return 'object';
    case '[': return 'array';
    case '"': return 'string';
    case 't': case 'f': return 'boolean';
    case 'n': return 'null';
    default: return 'number';
  }
}

/** Compact JSON text (already accepted by JSON.parse), read lazily: only what a filter asks for. */
class TextView implements JsonView {
  public readonly kind: Kind;
  private cachedMembers?: readonly (readonly [string, JsonView])[];
  private byName?: Map<string, JsonView>;
  private cachedItems?: readonly JsonView[];
  private cachedScalar?: string | boolean;
  private cachedDecimal?: Decimal;

  constructor(private readonly text: string) {
    this.kind = kindOfText(text);
  }

  get scalar(): string | boolean | undefined {
    if (this.kind === 'boolean') return this.text === 'true';
    if (this.kind !== 'string') return undefined;
    return (this.cachedScalar ??= JSON.parse(this.text) as string);
  }

  get decimal(): Decimal | undefined {
    if (this.kind !== 'number') return undefined;
    return (this.cachedDecimal ??= parseDecimal(this.text));
  }

  public members(): readonly (readonly [string, JsonView])[] {
    return (this.cachedMembers ??= (objectMembers(this.text) ?? []).map(([key, value]) => [JSON.parse(key) as string, new TextView(value)] as const));
  }

  public member(name: string): JsonView | undefined {
    if (!this.byName) {
      this.byName = new Map();
      for (const [key, value] of this.members()) this.byName.set(key, value);
    }
    return this.byName.get(name);
  }

  public items(): readonly JsonView[] {
    return (this.cachedItems ??= (arrayElements(this.text) ?? []).map((element) => new TextView(element)));
  }
}

/** A value JSON.parse produced (own keys only; a `__proto__` key JSON.parse made is an own key). */
function parsedView(value: unknown): JsonView {
  const kind: Kind = value === null ? 'null' : Array.isArray(value) ? 'array'
    : typeof value === 'object' ? 'object' : typeof value === 'string' ? 'string'
      : typeof value === 'boolean' ? 'boolean' : 'number';
  const record = value as Record<string, unknown>;
  const members = () => (kind === 'object' ? Object.keys(record).map((key) => [key, parsedView(record[key])] as const) : []);
  return {
    kind,
    scalar: kind === 'string' || kind === 'boolean' ? (value as string | boolean) : undefined,
    decimal: undefined,
    members,
    member: (name) => (kind === 'object' && Object.hasOwn(record, name) ? parsedView(record[name]) : undefined),
    items: () => (kind === 'array' ? (value as unknown[]).map(parsedView) : []),
  };
}

// ---------------------------------------------------------------------------------------------
// Validation: every problem with the JSON path of the bad part, so a 400 can name it.

export interface FilterProblem {
  /** Keys and indexes from the filter's root. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

type Path = readonly (string | number)[];

/** ES2024 `String.prototype.isWellFormed` (lib es2023 does not declare it; Node.js 20+ has it). */
const isWellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

function patternProblems(root: JsonView): FilterProblem[] {
  const problems: FilterProblem[] = [];
  let values = 0;
  const report = (path: Path, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ path, message });
  };

  const checkString = (view: JsonView, path: Path, what = 'must be a string'): void => {
    if (view.kind !== 'string') report(path, what);
    else if (view.scalar === '') report(path, 'must not be empty');
    else if (!isWellFormed(view.scalar as string)) report(path, 'must be well-formed Unicode (no lone surrogates)');
  };

  const checkNumeric = (view: JsonView, path: Path): void => {
    const example = 'must be [operator, number] or a range [">" or ">=", number, "<" or "<=", number], e.g. [">", 0, "<=", 5]';
    const items = view.kind === 'array' ? view.items() : [];
    if (items.length !== 2 && items.length !== 4) return report(path, example);
    items.forEach((item, i) => {
      if (i % 2 === 1) {
        if (item.kind !== 'number') report([...path, i], 'must be a number');
      } else if (item.kind !== 'string' || !NUMERIC_OPERATORS.includes(item.scalar as string)) {
        report([...path, i], `must be one of ${NUMERIC_OPERATORS.join(' ')}`);
      }
    });
    if (items.length !== 4) return;
    const [low, lowValue, high, highValue] = items;
    if (!['>', '>='].includes(low.scalar as string)) return report([...path, 0], 'a range starts with its lower bound: ">" or ">="');
    if (!['<', '<='].includes(high.scalar as string)) return report([...path, 2], 'a range ends with its upper bound: "<" or "<="');
    // Only exact text knows its numbers; the bounds are compared as written.
    if (lowValue.decimal && highValue.decimal) {
      const order = compareDecimals(lowValue.decimal, highValue.decimal);
      if (order > 0 || (order === 0 && (low.scalar === '>' || high.scalar === '<'))) {
        report(path, 'is an empty range: the lower bound must be below the upper bound');
      }
    }
  };

  const checkAnythingBut = (view: JsonView, path: Path): void => {
    const shapes = 'must be a string, a number, a list of only strings or only numbers, or {"prefix": …} or {"suffix": …}';
    if (view.kind === 'string') return checkString(view, path), void values++;
    if (view.kind === 'number') return void values++;
    if (view.kind === 'array') {
      const items = view.items();
      if (items.length === 0) return report(path, 'must list at least one value');
      values += items.length;
      items.forEach((item, i) => {
        if (item.kind === 'string') checkString(item, [...path, i]);
        else if (item.kind !== 'number') report([...path, i], 'must be a string or a number');
      });
      const kinds = new Set(items.map((item) => item.kind));
      if (kinds.has('string') && kinds.has('number')) report(path, 'must list only strings or only numbers, not both');
      return;
    }
    if (view.kind === 'object') {
      const members = view.members();
      const [name, operand] = members[0] ?? [];
      if (members.length !== 1 || (name !== 'prefix' && name !== 'suffix')) return report(path, shapes);
      values++;
      return checkString(operand, [...path, name]);
    }
    report(path, shapes);
  };

  const checkMatcher = (view: JsonView, path: Path): void => {
    const members = view.members();
    if (members.length !== 1) return report(path, `must hold exactly one operator: ${OPERATOR_LIST}`);
    const [operator, operand] = members[0];
    const at = [...path, operator];
    switch (operator) {
      case 'prefix':
      case 'suffix':
        return checkString(operand, at);
      case 'exists':
        if (operand.kind !== 'boolean') report(at, 'must be true or false');
        return;
      case 'numeric':
        return checkNumeric(operand, at);
      case 'anything-but':
        return checkAnythingBut(operand, at);
      default:
        return report(at, `is not an operator; use ${OPERATOR_LIST}`);
    }
  };

  const checkObject = (view: JsonView, path: Path, depth: number): void => {
    if (depth > MAX_FILTER_DEPTH) return report(path, `nests fields deeper than ${MAX_FILTER_DEPTH} levels`);
    const members = view.members();
    if (members.length === 0) return report(path, 'must name at least one field');
    const seen = new Set<string>();
    for (const [name, value] of members) {
      const at = [...path, name];
      if (seen.has(name)) report(at, 'is named twice');
      seen.add(name);
      if (depth === 1 && (SERVICE_FIELDS as readonly string[]).includes(name)) {
        report(at, 'is set by the service, not the publisher: a filter sees only the fields of the event as published');
        continue;
      }
      if (value.kind === 'object') {
        checkObject(value, at, depth + 1);
      } else if (value.kind !== 'array') {
        report(at, 'must be a list of values, e.g. ["eu-west-1"], or an object of nested fields');
      } else if (value.items().length === 0) {
        report(at, 'must list at least one value');
      } else {
        value.items().forEach((item, i) => {
          values++;
          if (item.kind === 'object') checkMatcher(item, [...at, i]);
          else if (item.kind === 'array') report([...at, i], 'must be a value (string, number, boolean, null) or a matcher object, not a list');
          else if (item.kind === 'string' && !isWellFormed(item.scalar as string)) report([...at, i], 'must be well-formed Unicode (no lone surrogates)');
        });
      }
    }
  };

  if (root.kind !== 'object') return [{ path: [], message: NOT_AN_OBJECT }];
  checkObject(root, [], 1);
  if (values > MAX_FILTER_VALUES) report([], `holds ${values} values and matchers; a filter may hold at most ${MAX_FILTER_VALUES}`);
  return problems;
}

/**
 * The `filter` of the subscriptions API. zod sees the parsed request, whose numbers are doubles
 * already: it checks the shape; `filterTextOf()` then checks and keeps the exact text. The check
 * runs on the input as parsed (a preprocess), before zod copies the object and loses a
 * `__proto__` member to the copy's prototype.
 */
export const payloadFilterSchema = z
  .preprocess((value, ctx) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const problem of patternProblems(parsedView(value))) {
        ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message, input: value });
      }
    }
    return value;
  }, z.looseObject({}, { error: NOT_AN_OBJECT }))
  .meta({
    description: `An EventBridge-style content pattern over the published event: lists of values, or {${FILTER_OPERATORS.join('|')}} matchers, `
      + `nested like the event. At most ${MAX_FILTER_BYTES} bytes, ${MAX_FILTER_DEPTH} levels and ${MAX_FILTER_VALUES} values.`,
  });

// ---------------------------------------------------------------------------------------------
// Compiled filters and matching.

type LeafTest = (leaf: JsonView) => boolean;
type Matcher = { readonly exists: boolean } | { readonly test: LeafTest };
type FieldTest =
  | { readonly kind: 'nested'; readonly fields: ObjectTest }
  | { readonly kind: 'values'; readonly equals: ReadonlySet<string>; readonly matchers: readonly Matcher[] };
type ObjectTest = readonly (readonly [string, FieldTest])[];

/** One key per JSON scalar value: a number by its value (`1e2` = `100`), a string by its text. */
function scalarKey(leaf: JsonView): string {
  switch (leaf.kind) {
    case 'string': return `s${leaf.scalar as string}`;
    case 'number': return `n${leaf.decimal ? decimalKey(leaf.decimal) : ''}`;
    case 'boolean': return `b${String(leaf.scalar)}`;
    default: return 'null';
  }
}

/** The values at a field: scalars, with arrays (at any depth) flattened; objects are not values. */
function leavesOf(view: JsonView): JsonView[] {
  if (view.kind === 'array') return view.items().flatMap(leavesOf);
  return view.kind === 'object' ? [] : [view];
}

/** The objects at a field, with arrays flattened: a nested pattern must match one of them whole. */
function objectsOf(view: JsonView): JsonView[] {
  if (view.kind === 'array') return view.items().flatMap(objectsOf);
  return view.kind === 'object' ? [view] : [];
}

const isString = (leaf: JsonView) => leaf.kind === 'string';

function compileMatcher(view: JsonView): Matcher {
  const [operator, operand] = view.members()[0];
  switch (operator) {
    case 'prefix': {
      const prefix = operand.scalar as string;
      return { test: (leaf) => isString(leaf) && (leaf.scalar as string).startsWith(prefix) };
    }
    case 'suffix': {
      const suffix = operand.scalar as string;
      return { test: (leaf) => isString(leaf) && (leaf.scalar as string).endsWith(suffix) };
    }
    case 'exists':
      return { exists: operand.scalar === true };
    case 'numeric':
      return { test: numericTest(operand.items()) };
    default: { // anything-but: any value present except these
      const [shape, affix] = operand.kind === 'object' ? operand.members()[0] : [];
      if (shape === 'prefix') return { test: (leaf) => !(isString(leaf) && (leaf.scalar as string).startsWith(affix!.scalar as string)) };
      if (shape === 'suffix') return { test: (leaf) => !(isString(leaf) && (leaf.scalar as string).endsWith(affix!.scalar as string)) };
      const excluded = new Set((operand.kind === 'array' ? operand.items() : [operand]).map(scalarKey));
      return { test: (leaf) => !excluded.has(scalarKey(leaf)) };
    }
  }
}

function numericTest(items: readonly JsonView[]): LeafTest {
  const bounds: { operator: string; value: Decimal }[] = [];
  for (let i = 0; i < items.length; i += 2) bounds.push({ operator: items[i].scalar as string, value: items[i + 1].decimal! });
  return (leaf) => {
    const value = leaf.kind === 'number' ? leaf.decimal : undefined;
    if (!value) return false;
    return bounds.every(({ operator, value: bound }) => {
      const order = compareDecimals(value, bound);
      switch (operator) {
        case '=': return order === 0;
        case '<': return order < 0;
        case '<=': return order <= 0;
        case '>': return order > 0;
        default: return order >= 0;
      }
    });
  };
}

function compileObject(view: JsonView): ObjectTest {
  return view.members().map(([name, value]): readonly [string, FieldTest] => {
    if (value.kind === 'object') return [name, { kind: 'nested', fields: compileObject(value) }];
    const equals = new Set<string>();
    const matchers: Matcher[] = [];
    for (const item of value.items()) {
      if (item.kind === 'object') matchers.push(compileMatcher(item));
      else equals.add(scalarKey(item));
    }
    return [name, { kind: 'values', equals, matchers }];
  });
}

/**
 * Every field of the pattern must match (an absent field fails, unless `exists: false`); a field
 * matches when any of its values or matchers does. An array in the event matches when any element
 * does, and a nested pattern must match within one element (EventBridge's array consistency).
 */
function objectMatches(test: ObjectTest, view: JsonView | undefined): boolean {
  const candidates = view ? objectsOf(view) : [];
  // No object here: every field of the pattern is absent.
  if (candidates.length === 0) return test.every(([, field]) => fieldMatches(field, undefined));
  return candidates.some((candidate) => test.every(([name, field]) => fieldMatches(field, candidate.member(name))));
}

function fieldMatches(test: FieldTest, view: JsonView | undefined): boolean {
  if (test.kind === 'nested') return objectMatches(test.fields, view);
  // `exists` is about values, as in EventBridge: a field holding only objects (or []) has none.
  const leaves = view ? leavesOf(view) : [];
  if (test.equals.size > 0 && leaves.some((leaf) => test.equals.has(scalarKey(leaf)))) return true;
  return test.matchers.some((matcher) => ('exists' in matcher ? (leaves.length > 0) === matcher.exists : leaves.some(matcher.test)));
}

/**
 * An event to match, read from its exact text at most once however many filters look at it.
 * The text must be compact JSON, as the queue message's `eventJson` is (`parseQueueMessage`).
 */
export class FilterableEvent {
  /** @internal */
  public readonly view: JsonView;

  constructor(compactEventJson: string) {
    this.view = new TextView(compactEventJson);
  }
}

/** A compiled filter; `matches()` never throws and makes no request. */
export class PayloadFilter {
  constructor(private readonly test: ObjectTest) {}

  public matches(event: FilterableEvent | string): boolean {
    const view = typeof event === 'string' ? new TextView(compactJson(event)) : event.view;
    return objectMatches(this.test, view);
  }
}

export type CompiledFilter =
  | { readonly ok: true; readonly filter: PayloadFilter; /** The compact exact text, as stored. */ readonly text: string }
  | { readonly ok: false; readonly problems: readonly FilterProblem[] };

/** Checks a filter's exact JSON text (size, shape, ranges compared exactly) and compiles it. */
export function compilePayloadFilter(text: string): CompiledFilter {
  const compact = compactJson(text);
  const bytes = Buffer.byteLength(compact, 'utf8');
  if (bytes > MAX_FILTER_BYTES) {
    return { ok: false, problems: [{ path: [], message: `must be at most ${MAX_FILTER_BYTES} bytes of JSON, not ${bytes}` }] };
  }
  try {
    JSON.parse(compact);
  } catch {
    return { ok: false, problems: [{ path: [], message: 'is not JSON' }] };
  }
  const view = new TextView(compact);
  const problems = patternProblems(view);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, filter: new PayloadFilter(compileObject(view)), text: compact };
}

/**
 * The request's `filter` as exact compact text (its numbers as sent, which the parsed body has
 * lost), or a 400 naming each bad part. Call after the zod schema accepted the body.
 */
export function filterTextOf(body: string): string {
  const text = memberText(compactJson(body), 'filter');
  const compiled = text === undefined ? undefined : compilePayloadFilter(text);
  if (!compiled?.ok) {
    const problems = compiled?.problems ?? [{ path: [], message: 'is missing' }];
    throw HttpProblem.badRequest('The subscription filter is not valid.', problems.map((problem) => ({
      path: '/filter' + problem.path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join(''),
      message: problem.message,
    })));
  }
  return compiled.text;
}

/**
 * A stored filter text as a value for a JSON response that keeps its numbers as written
 * (`JSON.rawJSON`, Node.js 22+), so GET shows exactly the filter that was sent.
 */
export function filterResponseValue(text: string): unknown {
  const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
  try {
    return JSON.parse(text, (_key, value, context?: { source?: string }) =>
      (typeof value === 'number' && context?.source !== undefined ? rawJson(context.source) : value));
  } catch {
    return text;
  }
}
