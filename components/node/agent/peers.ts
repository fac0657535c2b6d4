// The peer list the dataplane backends program: every other node with a NodeNetwork that
// reports an underlay address, with its blocks from the IPAMBlocks (authoritative and visible
// the moment a block is claimed, unlike NodeNetwork.status.blocks).
import ipaddr from 'ipaddr.js';
import type { PeerNode } from '../backends/types.ts';
import { orderBlocks } from '../ipam/claim.ts';
import { isIPv4Address, isIPv4CidrText, isIPv4Endpoint, isMac, isAsNumber, isWireGuardKey } from '../kernel/values.ts';
import { canonicalCidr, cidrCovers } from '../kernel/cidr.ts';
import type { IPAMBlockObject, NodeNetworkObject } from './kube.ts';

export function isIPv4Cidr(cidr: string): boolean {
  try { return ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4'; } catch { return false; }
}

export interface PeerOptions {
  self: string;
  /** Peers without a block contribute no routes and have no tunnel address; keep them only
   *  when a session matters by itself (BGP full mesh). */
  keepBlockless: boolean;
  /** Called for every peer value that is not of its type (it is left out, never programmed). */
  reject?: (r: PeerRejection) => void;
  /** The Installation's IPv4 pools: a peer's block must lie inside one, at its block size.
   *  Absent: not checked (tests of the peer list alone). */
  pools?: { cidr: string; blockSize?: number }[];
  /** This node's own blocks: a peer's block overlapping one of them is refused. */
  ownBlocks?: string[];
}

/** A value from a peer's objects that the agent refused to program, for events and logs. */
export interface PeerRejection { node: string; field: string; value: string; reason: string }

function shown(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

function nodeOwnerUid(o: { metadata?: { ownerReferences?: { kind?: string; name?: string; uid?: string }[] } }, node: string): string | undefined {
  return o.metadata?.ownerReferences?.find((r) => r.kind === 'Node' && r.name === node)?.uid;
}

function interval(cidr: string): [number, number] {
  const [addr, len] = ipaddr.IPv4.parseCIDR(cidr);
  const start = addr.toByteArray().reduce((a, b) => a * 256 + b, 0);
  return [start, start + 2 ** (32 - len) - 1];
}

/**
 * The peers to program: every other node whose NodeNetwork reports a well-formed underlay
 * address (and VTEP MAC), with its blocks. Everything here is another node's word, so a peer's
 * value that is not exactly of its type drops the peer, and a block is dropped when it is not
 * a CIDR, lies outside every pool (or is not of the pool's block size), belongs to another
 * incarnation of the node (its Node ownerReference uid differs from the NodeNetwork's), or
 * overlaps an older block of another node or one of ours. Each drop is reported to o.reject.
 */
export function computePeers(nodeNetworks: NodeNetworkObject[], blocks: IPAMBlockObject[], o: PeerOptions): PeerNode[] {
  const candidates = new Map<string, { address: string; mac?: string; ownerUid?: string; asNumber?: number; routeReflector?: boolean; wireguard?: { publicKey: string; endpoint: string } }>();
  // A WireGuard key is one node's: a second node publishing it would take the first one's peer
  // entry (allowed ips, endpoint) on every device. The oldest NodeNetwork keeps it.
  const keyOwner = new Map<string, string>();
  const byAge = [...nodeNetworks].sort((a, b) => {
    const ta = a.metadata?.creationTimestamp ? String(a.metadata.creationTimestamp) : '';
    const tb = b.metadata?.creationTimestamp ? String(b.metadata.creationTimestamp) : '';
    return ta < tb ? -1 : ta > tb ? 1 : (a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1;
  });
  for (const nn of byAge) {
    const key = nn.status?.wireguard?.publicKey;
    const name = nn.metadata?.name;
    if (name && isWireGuardKey(key) && !keyOwner.has(key)) keyOwner.set(key, name);
  }
  for (const nn of nodeNetworks) {
    const name = nn.metadata?.name;
    if (!name || name === o.self || nn.metadata?.deletionTimestamp) continue;
    const rawAddress = nn.status?.address;
    if (rawAddress === undefined || rawAddress === '') continue;
    // (issue 16: a MAC with a newline added lines to every peer's ip -batch.)
    const address = isIPv4CidrText(rawAddress) || isIPv4Address(rawAddress) ? rawAddress.split('/')[0]! : undefined;
    if (!address || !isIPv4Address(address)) {
      o.reject?.({ node: name, field: 'status.address', value: shown(rawAddress), reason: 'not an IPv4 address in CIDR form, e.g. 198.18.0.10/24' });
      continue;
    }
    const rawMac = nn.status?.vtep?.mac;
    if (rawMac !== undefined && rawMac !== '' && !isMac(rawMac)) {
      o.reject?.({ node: name, field: 'status.vtep.mac', value: shown(rawMac), reason: 'not a MAC address such as 0e:57:c6:12:00:0b' });
      continue;
    }
    // WireGuard: a bad or borrowed key leaves the peer reachable in plain (its own traffic only).
    let wireguard: { publicKey: string; endpoint: string } | undefined;
    const wg = nn.status?.wireguard;
    if (wg?.publicKey !== undefined) {
      if (!isWireGuardKey(wg.publicKey)) o.reject?.({ node: name, field: 'status.wireguard.publicKey', value: shown(wg.publicKey), reason: 'not a WireGuard key (base64 of 32 bytes, as wg prints it)' });
      else if (!isIPv4Endpoint(wg.endpoint)) o.reject?.({ node: name, field: 'status.wireguard.endpoint', value: shown(wg.endpoint), reason: 'not an IPv4 address and UDP port such as 198.18.0.10:51830' });
      else if (keyOwner.get(wg.publicKey) !== name) o.reject?.({ node: name, field: 'status.wireguard.publicKey', value: shown(wg.publicKey), reason: `node ${keyOwner.get(wg.publicKey)} published this key first` });
      else wireguard = { publicKey: wg.publicKey, endpoint: wg.endpoint };
    }
    const rawAs = nn.status?.bgp?.asNumber;
    if (rawAs !== undefined && !isAsNumber(rawAs)) {
      o.reject?.({ node: name, field: 'status.bgp.asNumber', value: shown(rawAs), reason: 'not an AS number (1-4294967295)' });
      continue;
    }
    const rr = nn.status?.bgp?.routeReflector === true;
    candidates.set(name, {
      address, ...(rawMac ? { mac: rawMac.toLowerCase() } : {}), ...(nodeOwnerUid(nn, name) ? { ownerUid: nodeOwnerUid(nn, name) } : {}),
      ...(rawAs !== undefined ? { asNumber: rawAs } : {}), ...(rr ? { routeReflector: true } : {}), ...(wireguard ? { wireguard } : {}),
    });
  }

  // Per-block checks, then overlaps, oldest block first (the first claim wins, as in the API).
  const vetted: { node: string; cidr: string; name: string }[] = [];
  for (const b of orderBlocks(blocks.filter((x) => !x.metadata?.deletionTimestamp && x.spec?.node && candidates.has(x.spec.node)))) {
    const node = b.spec.node;
    const cidr = b.spec.cidr;
    const field = `IPAMBlock ${b.metadata?.name ?? '?'}`;
    // The kernel layer is IPv4-only for now: IPv6 blocks are not routed between nodes.
    if (!isIPv4CidrText(cidr)) {
      if (!isIPv4Cidr(cidr) && !(typeof cidr === 'string' && ipaddr.isValidCIDR?.(cidr))) o.reject?.({ node, field: `${field} spec.cidr`, value: shown(cidr), reason: 'not a CIDR' });
      continue;
    }
    if (canonicalCidr(cidr) !== cidr) {
      o.reject?.({ node, field: `${field} spec.cidr`, value: shown(cidr), reason: 'host bits set; a block is a network address' });
      continue;
    }
    if (o.pools && !o.pools.some((p) => cidrCovers(p.cidr, cidr) && (p.blockSize === undefined || Number(cidr.split('/')[1]) === p.blockSize))) {
      o.reject?.({ node, field: `${field} spec.cidr`, value: shown(cidr), reason: `not a block of any pool (${o.pools.map((p) => `${p.cidr}${p.blockSize ? ` /${p.blockSize}` : ''}`).join(', ') || 'none'})` });
      continue;
    }
    const want = candidates.get(node)!.ownerUid;
    const has = nodeOwnerUid(b, node);
    if (want && has !== want) {
      o.reject?.({ node, field: `${field} metadata.ownerReferences`, value: shown(has ?? '<none>'), reason: `not owned by node ${node} (uid ${want}); a block of a deleted node of the same name waits for the garbage collector` });
      continue;
    }
    vetted.push({ node, cidr, name: b.metadata?.name ?? cidr });
  }
  const accepted: { node: string; cidr: string; lo: number; hi: number }[] = (o.ownBlocks ?? []).filter(isIPv4CidrText)
    .map((c) => { const [lo, hi] = interval(c); return { node: o.self, cidr: c, lo, hi }; });
  const byNode = new Map<string, string[]>();
  for (const v of vetted) {
    const [lo, hi] = interval(v.cidr);
    // Overlaps are rare (pool and block-size checks rule them out when pools are known), so a scan is fine.
    const clash = accepted.find((a) => a.node !== v.node && a.lo <= hi && lo <= a.hi);
    if (clash) {
      o.reject?.({ node: v.node, field: `IPAMBlock ${v.name} spec.cidr`, value: shown(v.cidr), reason: `overlaps ${clash.node === o.self ? 'this node\'s' : `node ${clash.node}'s older`} block ${clash.cidr}` });
      continue;
    }
    accepted.push({ node: v.node, cidr: v.cidr, lo, hi });
    byNode.set(v.node, [...(byNode.get(v.node) ?? []), v.cidr]);
  }

  const peers: PeerNode[] = [];
  for (const [name, c] of candidates) {
    const peerBlocks = byNode.get(name) ?? [];
    if (!peerBlocks.length && !o.keepBlockless) continue;
    peers.push({
      name, underlayAddress: c.address, blocks: peerBlocks, ...(c.mac ? { vxlanMac: c.mac } : {}),
      ...(c.asNumber !== undefined ? { asNumber: c.asNumber } : {}), ...(c.routeReflector ? { routeReflector: true } : {}), ...(c.wireguard ? { wireguard: c.wireguard } : {}),
    });
  }
  return peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What about a NodeNetwork matters to peers; other status changes (IPAM counts) trigger no sync. */
export function nodeNetworkPeerKey(nn: NodeNetworkObject): string {
  return JSON.stringify([nn.status?.address ?? '', nn.status?.vtep?.mac ?? '', !!nn.metadata?.deletionTimestamp, nn.status?.bgp?.asNumber ?? 0, !!nn.status?.bgp?.routeReflector, nn.status?.wireguard?.publicKey ?? '', nn.status?.wireguard?.endpoint ?? '']);
}

export function ipamBlockPeerKey(b: IPAMBlockObject): string {
  return JSON.stringify([b.spec, b.metadata?.creationTimestamp ?? '', !!b.metadata?.deletionTimestamp, b.metadata?.ownerReferences?.map((r) => r.uid) ?? []]);
}
