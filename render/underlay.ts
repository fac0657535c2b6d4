/**
 * Node underlay facts: checks them, and answers "are these nodes on one subnet?" — the question
 * behind Auto encapsulation and the host-gw sanity check.
 */
import ipaddr from 'ipaddr.js';
import type { ClusterFacts, NodeFacts } from './types.ts';
import { RenderInputError } from './types.ts';

export interface Underlay {
  family: 4 | 6;
  /** The node's own address, e.g. 198.18.0.5. */
  address: string;
  /** Its subnet, e.g. 198.18.0.0/24. */
  subnet: string;
  parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

function parseUnderlay(cidr: string): Underlay | undefined {
  if (!cidr.includes('/')) return undefined;
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch {
    return undefined;
  }
  const [addr, len] = parsed;
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const net = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return { family, address: addr.toString(), subnet: `${net.toString()}/${len}`, parsed };
}

/** Rejects facts render cannot reason about, naming the node and the field. */
export function checkFacts(facts: ClusterFacts): void {
  const problems: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  facts.nodes.forEach((n, i) => {
    const at = `facts.nodes[${i}]`;
    if (typeof n.name !== 'string' || n.name === '') problems.push({ path: `${at}.name`, message: 'required: the node name' });
    else if (seen.has(n.name)) problems.push({ path: `${at}.name`, message: `node ${n.name} is listed twice; list each node once` });
    else seen.add(n.name);
    for (const field of ['address', 'addressV6'] as const) {
      const v = n[field];
      if (v === undefined) continue;
      const u = typeof v === 'string' ? parseUnderlay(v) : undefined;
      if (!u) problems.push({ path: `${at}.${field}`, message: `${JSON.stringify(v)} must be the node's underlay address with its prefix length, e.g. 198.18.0.5/24` });
      else if (field === 'addressV6' && u.family !== 6) problems.push({ path: `${at}.${field}`, message: `${v} is not an IPv6 address; put the IPv4 address in address` });
    }
    if (n.mtu !== undefined && !(Number.isInteger(n.mtu) && n.mtu >= 576 && n.mtu <= 65535)) {
      problems.push({ path: `${at}.mtu`, message: `${JSON.stringify(n.mtu)} must be the underlay interface MTU, an integer from 576 to 65535` });
    }
    if (n.providerID !== undefined && typeof n.providerID !== 'string') problems.push({ path: `${at}.providerID`, message: 'must be the Node\'s spec.providerID, a string such as aws:///eu-west-1a/i-0123' });
    if (n.internalIPs !== undefined && (!Array.isArray(n.internalIPs) || n.internalIPs.some((x) => typeof x !== 'string' || !ipaddr.isValid(x)))) {
      problems.push({ path: `${at}.internalIPs`, message: 'must be a list of the Node\'s InternalIP addresses, e.g. [198.51.100.11]' });
    }
    if (n.labels !== undefined && (typeof n.labels !== 'object' || n.labels === null || Object.values(n.labels).some((x) => typeof x !== 'string'))) {
      problems.push({ path: `${at}.labels`, message: 'must be a map of label names to string values' });
    }
  });
  if (problems.length > 0) throw new RenderInputError(problems);
}

/** The node's underlay of one family: `address` if it is of that family, else `addressV6` for 6. */
export function underlayOf(node: NodeFacts, family: 4 | 6): Underlay | undefined {
  const primary = node.address ? parseUnderlay(node.address) : undefined;
  if (primary?.family === family) return primary;
  if (family === 6 && node.addressV6) return parseUnderlay(node.addressV6);
  return undefined;
}

/** The family of the address tunnels run over (the primary `address`), if reported. */
export function primaryFamily(node: NodeFacts): 4 | 6 | undefined {
  return node.address ? parseUnderlay(node.address)?.family : undefined;
}

export function hasReported(node: NodeFacts): boolean {
  return node.address !== undefined || node.addressV6 !== undefined;
}

/** Addresses reported by more than one node: copies (a NAT NIC every VM has), not node addresses. */
export interface DuplicateAddress {
  family: 4 | 6;
  /** The bare address, e.g. 10.0.2.15. */
  address: string;
  /** The nodes reporting it, sorted. */
  nodes: string[];
}

/**
 * Every underlay address that two or more nodes report, per family. Routes, FDB entries and BGP
 * sessions to such an address reach at most one of them, so nothing about the nodes' network
 * (shared subnet or not) can be concluded from it.
 */
export function duplicateAddresses(nodes: readonly NodeFacts[]): DuplicateAddress[] {
  const seen = new Map<string, DuplicateAddress>();
  for (const n of nodes) {
    for (const family of [4, 6] as const) {
      const u = underlayOf(n, family);
      if (!u) continue;
      const key = `${family}|${u.parsed[0].toNormalizedString()}`;
      const d = seen.get(key) ?? { family, address: u.address, nodes: [] };
      if (!d.nodes.includes(n.name)) d.nodes.push(n.name);
      seen.set(key, d);
    }
  }
  return [...seen.values()]
    .filter((d) => d.nodes.length > 1)
    .map((d) => ({ ...d, nodes: [...d.nodes].sort(compareStrings) }))
    .sort((a, b) => a.family - b.family || compareStrings(a.address, b.address));
}

/** The subnets of every node's underlay addresses (both families), e.g. 198.18.0.0/24. */
export function nodeSubnets(nodes: readonly NodeFacts[]): string[] {
  return nodes.flatMap((n) => [underlayOf(n, 4)?.subnet, underlayOf(n, 6)?.subnet].filter((s): s is string => s !== undefined));
}

/** a reaches b without a router when b's address is inside a's subnet. */
function onLink(a: Underlay, b: Underlay): boolean {
  return b.parsed[0].kind() === a.parsed[0].kind() && (b.parsed[0] as ipaddr.IPv4).match(a.parsed as [ipaddr.IPv4, number]);
}

/**
 * Whether every node reaches every other directly (each address inside every other's subnet).
 * Checked against each distinct subnet once: O(nodes × distinct subnets), and when the answer is
 * yes there are only a handful of distinct (nested) subnets, so it stays linear at 5000 nodes.
 */
export function allOnLink(nodes: readonly { underlay: Underlay }[]): boolean {
  const subnets = new Map<string, Underlay>();
  for (const n of nodes) if (!subnets.has(n.underlay.subnet)) subnets.set(n.underlay.subnet, n.underlay);
  for (const s of subnets.values()) for (const b of nodes) if (!onLink(s, b.underlay)) return false;
  return true;
}

/** "198.18.0.0/24 (a, b); 198.18.1.0/24 (c)": nodes grouped by subnet, subnets sorted. */
export function describeSubnets(nodes: readonly { name: string; underlay: Underlay }[]): string {
  const groups = new Map<string, string[]>();
  for (const n of nodes) groups.set(n.underlay.subnet, [...(groups.get(n.underlay.subnet) ?? []), n.name]);
  return [...groups.keys()]
    .sort(compareStrings)
    .map((s) => `${s} (${nameList(groups.get(s)!)})`)
    .join('; ');
}

const MAX_NAMES = 5;

/** "a, b, c" or "a, b, c, d, e and 12 more": short enough for a status message. */
export function nameList(names: readonly string[]): string {
  const sorted = [...names].sort(compareStrings);
  if (sorted.length <= MAX_NAMES) return sorted.join(', ');
  return `${sorted.slice(0, MAX_NAMES).join(', ')} and ${sorted.length - MAX_NAMES} more`;
}

/** Locale-independent string order (localeCompare depends on the machine). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
