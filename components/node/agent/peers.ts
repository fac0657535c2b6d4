// The peer list the dataplane backends program: every other node with a NodeNetwork that
// reports an underlay address, with its blocks from the IPAMBlocks (authoritative and visible
// the moment a block is claimed, unlike NodeNetwork.status.blocks).
import ipaddr from 'ipaddr.js';
import type { PeerNode } from '../backends/types.ts';
import { orderBlocks } from '../ipam/claim.ts';
import type { IPAMBlockObject, NodeNetworkObject } from './kube.ts';

export function isIPv4Cidr(cidr: string): boolean {
  try { return ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4'; } catch { return false; }
}

export interface PeerOptions {
  self: string;
  /** Peers without a block contribute no routes and have no tunnel address; keep them only
   *  when a session matters by itself (BGP full mesh). */
  keepBlockless: boolean;
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
    const address = nn.status?.address?.split('/')[0];
    if (!address || !ipaddr.IPv4.isValid(address)) continue;
    // The kernel layer is IPv4-only for now: IPv6 blocks are not routed between nodes.
    const peerBlocks = orderBlocks(byNode.get(name) ?? []).map((b) => b.spec.cidr).filter(isIPv4Cidr);
    if (!peerBlocks.length && !o.keepBlockless) continue;
    peers.push({ name, underlayAddress: address, blocks: peerBlocks, ...(nn.status?.vtep?.mac ? { vxlanMac: nn.status.vtep.mac } : {}) });
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
