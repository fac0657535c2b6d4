// The peer list the dataplane backends program: every other node with a NodeNetwork that
// reports an underlay address, with its blocks from the IPAMBlocks (authoritative and visible
// the moment a block is claimed, unlike NodeNetwork.status.blocks).
import ipaddr from 'ipaddr.js';
import type { PeerNode } from '../backends/types.ts';
import { orderBlocks } from '../ipam/claim.ts';
import { isIPv4Address, isIPv4CidrText, isMac } from '../kernel/values.ts';
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
}

/** A value from a peer's objects that the agent refused to program, for events and logs. */
export interface PeerRejection { node: string; field: string; value: string; reason: string }

function shown(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

export function computePeers(nodeNetworks: NodeNetworkObject[], blocks: IPAMBlockObject[], o: PeerOptions): PeerNode[] {
  const byNode = new Map<string, IPAMBlockObject[]>();
  for (const b of blocks) {
    if (b.metadata?.deletionTimestamp || !b.spec?.node) continue;
    const list = byNode.get(b.spec.node) ?? [];
    list.push(b);
    byNode.set(b.spec.node, list);
  }
  const peers: PeerNode[] = [];
  for (const nn of nodeNetworks) {
    const name = nn.metadata?.name;
    if (!name || name === o.self || nn.metadata?.deletionTimestamp) continue;
    const rawAddress = nn.status?.address;
    if (rawAddress === undefined || rawAddress === '') continue;
    // Everything below is another node's word: each value must be exactly of its type before
    // it may reach a kernel command (issue 16: a MAC with a newline added lines to ip -batch).
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
    // The kernel layer is IPv4-only for now: IPv6 blocks are not routed between nodes.
    const peerBlocks: string[] = [];
    for (const b of orderBlocks(byNode.get(name) ?? [])) {
      const cidr = b.spec.cidr;
      if (isIPv4CidrText(cidr)) peerBlocks.push(cidr);
      else if (!isIPv4Cidr(cidr)) {
        o.reject?.({ node: name, field: `IPAMBlock ${b.metadata?.name ?? '?'} spec.cidr`, value: shown(cidr), reason: 'not a CIDR' });
      }
    }
    if (!peerBlocks.length && !o.keepBlockless) continue;
    peers.push({ name, underlayAddress: address, blocks: peerBlocks, ...(rawMac ? { vxlanMac: rawMac.toLowerCase() } : {}) });
  }
  return peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What about a NodeNetwork matters to peers; other status changes (IPAM counts) trigger no sync. */
export function nodeNetworkPeerKey(nn: NodeNetworkObject): string {
  return JSON.stringify([nn.status?.address ?? '', nn.status?.vtep?.mac ?? '', !!nn.metadata?.deletionTimestamp]);
}

export function ipamBlockPeerKey(b: IPAMBlockObject): string {
  return JSON.stringify([b.spec, b.metadata?.creationTimestamp ?? '', !!b.metadata?.deletionTimestamp, b.metadata?.ownerReferences?.map((r) => r.uid) ?? []]);
}
