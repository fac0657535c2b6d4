/**
 * How many pod addresses one IPAM block holds: what host-local (the IPAM plugin in Weft's
 * conflist, configured with `ranges: [[{subnet: <block>}]]` and no rangeStart/rangeEnd/gateway)
 * hands out from it. host-local's range defaults (containernetworking/plugins,
 * plugins/ipam/host-local/backend/allocator/range.go) start at network+1, end at the last
 * address excluding the IPv4 broadcast, and skip the gateway, which defaults to network+1 — the
 * address ptp puts on the host side of every pod's veth. So an IPv4 block loses 3 addresses
 * (network, gateway, broadcast) and an IPv6 block 2 (network, gateway). Measured with Debian's
 * host-local here: a /28 gives 13 addresses (.2-.14), a /124 gives 14 (::2-::f).
 */

/** Addresses host-local hands out from a block of this family and prefix length (0 when none). */
export function blockCapacityOf(family: 4 | 6, prefixLength: number): number {
  const bits = family === 4 ? 32 : 128;
  // 2^52 is past any real block and still an exact JS number.
  const size = 2 ** Math.min(bits - prefixLength, 52);
  return Math.max(0, size - (family === 4 ? 3 : 2));
}

/** blockCapacityOf for a block CIDR such as "10.244.3.0/26" or "fd00:10:244::/122". */
export function blockCapacity(cidr: string): number {
  const slash = cidr.lastIndexOf('/');
  const prefixLength = Number(cidr.slice(slash + 1));
  if (slash < 0 || !Number.isInteger(prefixLength)) throw new Error(`block CIDR "${cidr}" has no prefix length (expected e.g. 10.244.3.0/26)`);
  return blockCapacityOf(cidr.includes(':') ? 6 : 4, prefixLength);
}
