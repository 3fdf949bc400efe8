import * as z from 'zod';

const emailSchema = z.email({ error: 'must be an email address' }).max(254, 'must be at most 254 characters');

/** Why an email target is not acceptable, or undefined. */
export function emailTargetError(target: string): string | undefined {
  return emailSchema.safeParse(target).success ? undefined : 'must be an email address';
}
