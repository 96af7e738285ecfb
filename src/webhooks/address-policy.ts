/**
 * @module webhooks/address-policy
 *
 * Which addresses a webhook may be sent to. A gateway on the internet must not
 * be made to call into its own network: loopback, private, link-local (cloud
 * metadata at 169.254.169.254), carrier-grade NAT, multicast and unspecified
 * addresses are refused unless the operator allows them (`--webhook-allow-private`).
 * The check runs on every address the host name resolves to, at the moment of
 * sending, and the connection goes to the address checked: a name that
 * resolved to a public address when the task was submitted and to a private
 * one later (DNS rebinding) is refused then.
 */
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
// This network, private, carrier-grade NAT, loopback, link-local, protocol assignments, private,
// private, benchmarking, multicast, reserved (and broadcast).
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
// Unspecified, loopback, unique local, link-local, multicast, NAT64.
// IPv4-compatible (::a.b.c.d), local NAT64, site-local (deprecated, still routed on some networks), 6to4.
for (const [network, prefix] of [
  ['::', 96],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** Whether `address` (an IP) is one a webhook may not reach: loopback, private, link-local, … */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is checked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  return blocked.check(address, 'ipv6');
}

/** The host of a URL as an IP address when it is written as one (`[::1]` → `::1`), else null. */
export function literalAddressOf(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) === 0 ? null : bare;
}
