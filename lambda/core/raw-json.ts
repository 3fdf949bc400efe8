/**
 * Exact JSON text (docs/architecture.md "Exact payloads"): what a publisher sent is what
 * subscribers receive. JavaScript's JSON.parse reads every number as a double (18446744073709551615
 * becomes 18446744073709552000, 1e400 becomes Infinity and then null) and an object key
 * `__proto__` can be lost on the way through object spreads and schema libraries. So the service
 * validates a parsed view of an event but stores, queues and delivers the publisher's own text,
 * with insignificant white space removed. These helpers work on text that JSON.parse has already
 * accepted: they never decide whether text is JSON, only where its parts are.
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/** Index just past the string literal that starts at `start` (a `"`). */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i += 1;
  }
  return i;
}

/** The JSON text with white space outside strings removed; numbers, keys and strings untouched. */
export function compactJson(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const end = endOfString(text, i);
      out += text.slice(i, end);
      i = end;
    } else {
      if (!WHITESPACE.has(c)) out += c;
      i += 1;
    }
  }
  return out;
}

/** Index just past the value that starts at `start` in compact JSON text. */
function endOfValue(text: string, start: number): number {
  const c = text[start];
  if (c === '"') return endOfString(text, start);
  if (c !== '{' && c !== '[') {
    let i = start;
    while (i < text.length && !',]}'.includes(text[i])) i += 1;
    return i;
  }
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const d = text[i];
    if (d === '"') {
      i = endOfString(text, i);
      continue;
    }
    if (d === '{' || d === '[') depth += 1;
    if (d === '}' || d === ']') {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
    i += 1;
  }
  return i;
}

/**
 * The members of a compact JSON object as [raw key, raw value] pairs, in order (duplicates kept).
 * Returns undefined when the text is not an object.
 */
export function objectMembers(compact: string): [string, string][] | undefined {
  if (!compact.startsWith('{')) return undefined;
  const members: [string, string][] = [];
  let i = 1;
  while (i < compact.length && compact[i] !== '}') {
    const keyEnd = endOfString(compact, i);
    const key = compact.slice(i, keyEnd);
    const valueEnd = endOfValue(compact, keyEnd + 1); // past the ':'
    members.push([key, compact.slice(keyEnd + 1, valueEnd)]);
    i = compact[valueEnd] === ',' ? valueEnd + 1 : valueEnd;
  }
  return members;
}

/** The elements of a compact JSON array as raw texts, in order. Undefined when not an array. */
export function arrayElements(compact: string): string[] | undefined {
  if (!compact.startsWith('[')) return undefined;
  const elements: string[] = [];
  let i = 1;
  while (i < compact.length && compact[i] !== ']') {
    const end = endOfValue(compact, i);
    elements.push(compact.slice(i, end));
    i = compact[end] === ',' ? end + 1 : end;
  }
  return elements;
}

/**
 * The raw text of member `name` of a compact JSON object; the last one when the key repeats, as
 * JSON.parse reads it. Keys are compared after JSON decoding (`"ev\u0065nts"` is `events`).
 */
export function memberText(compact: string, name: string): string | undefined {
  const members = objectMembers(compact) ?? [];
  for (let i = members.length - 1; i >= 0; i--) {
    if (JSON.parse(members[i][0]) === name) return members[i][1];
  }
  return undefined;
}

/**
 * `{…head}` followed by the members of `tail` as one object text, e.g. service fields first and
 * the publisher's envelope after them. Both must be compact object texts.
 */
export function joinObjects(head: string, tail: string): string {
  if (head === '{}') return tail;
  if (tail === '{}') return head;
  return `${head.slice(0, -1)},${tail.slice(1)}`;
}

/** `object` as JSON text with member `name` (placed last) set to the raw JSON text `raw`. */
export function stringifyWithRaw(object: Record<string, unknown>, name: string, raw: string): string {
  return joinObjects(JSON.stringify(object), `{${JSON.stringify(name)}:${raw}}`);
}

/** Compact JSON text laid out with two-space indents, for people (emails); values untouched. */
export function indentJson(compact: string): string {
  let out = '';
  let depth = 0;
  let i = 0;
  const newline = () => '\n' + '  '.repeat(depth);
  while (i < compact.length) {
    const c = compact[i];
    if (c === '"') {
      const end = endOfString(compact, i);
      out += compact.slice(i, end);
      i = end;
      continue;
    }
    const next = compact[i + 1];
    if ((c === '{' || c === '[') && next !== '}' && next !== ']') {
      depth += 1;
      out += c + newline();
    } else if ((c === '}' || c === ']') && out.length > 0 && !'{['.includes(out[out.length - 1])) {
      depth -= 1;
      out += newline() + c;
    } else if (c === ',') {
      out += ',' + newline();
    } else if (c === ':') {
      out += ': ';
    } else {
      out += c;
    }
    i += 1;
  }
  return out;
}
