import ipaddr from 'ipaddr.js';

/**
 * The canonical text of a CIDR: network address, IPv6 written out in full so the derived object
 * name never starts or ends with '-' (":: /64" would).
 */
export function normalizeCidr(cidr: string): string {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  const net = addr.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
    : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  const text = net.kind() === 'ipv6' ? (net as ipaddr.IPv6).toNormalizedString() : net.toString();
  return `${text}/${len}`;
}

/** IPAMBlock name for a CIDR: 10.244.3.0/26 -> 10-244-3-0-26. Unique per CIDR by construction. */
export function blockName(cidr: string): string {
  return normalizeCidr(cidr).replace(/[.:/]/g, '-');
}
