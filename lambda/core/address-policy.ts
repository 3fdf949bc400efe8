import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook must never reach (SSRF): loopback, private, link-local (incl. the
 * 169.254.169.254 metadata service), carrier-grade NAT, ULA, multicast, reserved and the
 * IPv4-mapped forms of them. Checked when a subscription is created and again at connect time.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  // No rule for ::ffff:0:0/96 (IPv4-mapped): BlockList matches IPv4 addresses against IPv6 rules
  // in their mapped form, so such a rule would refuse every IPv4 address. Mapped addresses are
  // judged by the IPv4 rules instead (below).
  // ::/96 also covers :: and the deprecated IPv4-compatible form; 2002::/16 (6to4) and
  // 2001::/32 (Teredo) embed IPv4 addresses too.
  // ::ffff:0:0:0/96 is the IPv4-translated form (RFC 2765), e.g. ::ffff:0:7f00:1 for 127.0.0.1.
  ['::', 96], ['::1', 128], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['2002::', 16], ['2001::', 32], ['100::', 64], ['2001:db8::', 32],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['fd00:ec2::254', 128],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** True when the IP literal is one a webhook may not be delivered to. */
export function isForbiddenAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return true;
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d): judge the IPv4 address it maps to.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (mapped) return isForbiddenAddress(mapped[1]);
    // The same in hex form (::ffff:7f00:1), which is how URLs spell it.
    const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
    if (mappedHex) {
      const [hi, lo] = [parseInt(mappedHex[1], 16), parseInt(mappedHex[2], 16)];
      return isForbiddenAddress(`${Math.floor(hi / 256)}.${hi % 256}.${Math.floor(lo / 256)}.${lo % 256}`);
    }
  }
  return blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}
