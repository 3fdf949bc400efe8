import { isForbiddenAddress } from '../../address-policy';
import type { TargetPolicy } from '../channel';

/** Why a webhook URL is not acceptable (https only, no credentials or fragment, SSRF guard), or undefined. */
export function webhookTargetError(target: string, policy: TargetPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'must be an absolute https:// URL';
  }
  if (url.protocol !== 'https:' && !(policy.allowPrivateTargets && url.protocol === 'http:')) return 'must be an https:// URL';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.hash) return 'must not contain a fragment';
  if (!policy.allowPrivateTargets) {
    // A trailing dot names the same host (`localhost.` is localhost).
    const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
    if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal')) return 'must not point to a local or internal host';
    if (/^[\d.]+$/.test(host) || host.includes(':')) {
      if (isForbiddenAddress(host)) return 'must not point to a private, loopback, link-local or reserved address';
    }
  }
  return undefined;
}
