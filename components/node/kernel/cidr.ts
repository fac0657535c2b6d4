// IPv4 CIDR helpers on top of ipaddr.js.
import ipaddr from 'ipaddr.js';

export function parseCidr(cidr: string): [ipaddr.IPv4, number] {
  const [addr, len] = ipaddr.IPv4.parseCIDR(cidr);
  return [addr, len];
}

/** "10.244.1.7/24" -> "10.244.1.0/24"; a bare address becomes /32. */
export function canonicalCidr(cidr: string): string {
  if (!cidr.includes('/')) return `${ipaddr.IPv4.parse(cidr).toString()}/32`;
  const [addr, len] = parseCidr(cidr);
  return `${ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${len}`).toString()}/${len}`;
}

export function cidrContains(cidr: string, address: string): boolean {
  const [net, len] = parseCidr(cidr);
  return ipaddr.IPv4.parse(address).match(net, len);
}

/** Whether CIDR inner lies entirely inside CIDR outer. */
export function cidrCovers(outer: string, inner: string): boolean {
  const [oNet, oLen] = parseCidr(outer);
  const [iNet, iLen] = parseCidr(inner);
  return iLen >= oLen && iNet.match(oNet, oLen);
}

/** First address of a CIDR ("10.244.1.0/26" -> "10.244.1.0"). */
export function networkAddress(cidr: string): string {
  return ipaddr.IPv4.networkAddressFromCIDR(canonicalCidr(cidr)).toString();
}

/** Drops CIDRs covered by another one and sorts; nft interval sets reject overlaps. */
export function minimalCidrs(cidrs: string[]): string[] {
  const canon = [...new Set(cidrs.map(canonicalCidr))];
  return canon.filter((c) => !canon.some((o) => o !== c && cidrCovers(o, c))).sort(compareCidr);
}

export function compareCidr(a: string, b: string): number {
  const [an, al] = parseCidr(a);
  const [bn, bl] = parseCidr(b);
  const ab = an.toByteArray();
  const bb = bn.toByteArray();
  for (let i = 0; i < 4; i++) if (ab[i] !== bb[i]) return ab[i]! - bb[i]!;
  return al - bl;
}

export function isIPv4(address: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(address);
}
