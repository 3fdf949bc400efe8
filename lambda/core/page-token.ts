import { isId } from './ids';
import { HttpProblem } from './problem';

/**
 * The `nextToken` of a paged answer (subscriptions, an event's notifications): the last
 * subscription id of the page, base64url-encoded so callers treat it as opaque.
 */
export function pageToken(lastSubscriptionId: string): string {
  return Buffer.from(lastSubscriptionId).toString('base64url');
}

/** The subscription id a `nextToken` stands for; a 400 for anything this API did not return. */
export function subscriptionIdOfToken(token: string): string {
  const id = Buffer.from(token, 'base64url').toString('utf8');
  if (!isId('sub', id)) {
    throw HttpProblem.badRequest('The nextToken is not valid.', [{ path: '/query/nextToken', message: 'is not a token this API returned' }]);
  }
  return id;
}
