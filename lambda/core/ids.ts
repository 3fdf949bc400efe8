import { monotonicFactory } from 'ulid';

/** Prefixes of our ids: they say what an id names and keep ids of different things apart. */
export type IdPrefix = 'evt' | 'sub' | 'ntf';

const nextUlid = monotonicFactory();

/** A new prefixed, time-sortable id, e.g. `evt_01JD3...` (ULID body: 48-bit time + 80 random bits). */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${nextUlid(now)}`;
}

const ULID_BODY = '[0-7][0-9A-HJKMNP-TV-Z]{25}';

export function isId(prefix: IdPrefix, value: string | undefined): value is string {
  return value !== undefined && new RegExp(`^${prefix}_${ULID_BODY}$`).test(value);
}
