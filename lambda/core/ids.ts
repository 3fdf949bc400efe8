import { createHash } from 'node:crypto';
import { decodeTime, encodeTime, monotonicFactory } from 'ulid';
import * as z from 'zod';

/** Prefixes of our ids: they say what an id names and keep ids of different things apart. */
export type IdPrefix = 'evt' | 'sub' | 'ntf';

const nextUlid = monotonicFactory();

/** A new prefixed, time-sortable id, e.g. `evt_01JD3...` (ULID body: 48-bit time + 80 random bits). */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${nextUlid(now)}`;
}

const ULID_BODY = '[0-7][0-9A-HJKMNP-TV-Z]{25}';

function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_${ULID_BODY}$`);
}

export function isId(prefix: IdPrefix, value: string | undefined): value is string {
  return value !== undefined && idPattern(prefix).test(value);
}

/** An id of the kind as a schema (API responses and path parameters in the OpenAPI document). */
export function idSchema(prefix: IdPrefix) {
  return z.string().regex(idPattern(prefix), `must look like ${prefix}_<26-character ULID>`);
}

/** The time (epoch ms) in an id's ULID body: when the id was made. */
export function timeOfId(id: string): number {
  return decodeTime(id.slice(id.indexOf('_') + 1));
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A prefixed ULID-shaped id that is the same every time for the same time and seed: used where
 * a retry or redelivery must produce the id the first try produced (e.g. `webhook-id`).
 */
export function deterministicId(prefix: IdPrefix, timeMs: number, seed: string): string {
  // 80 bits of the seed's digest as 16 base-32 characters, after ulid's own time part.
  let bits = BigInt('0x' + createHash('sha256').update(seed).digest('hex').slice(0, 20));
  let random = '';
  for (let i = 0; i < 16; i++) {
    random = CROCKFORD[Number(bits % 32n)] + random;
    bits /= 32n;
  }
  return `${prefix}_${encodeTime(Math.max(0, Math.floor(timeMs)), 10)}${random}`;
}
