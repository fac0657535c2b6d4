// Building blocks shared by the backends.
import { canonicalCidr, cidrContains, networkAddress } from '../kernel/cidr.ts';
import { DEFAULT_LINK_PREFIX, WIREGUARD_DEVICE_SUFFIX } from '../kernel/protocol.ts';
import type { DesiredKernelState, NatSpec, RouteSpec } from '../kernel/types.ts';
import type { DataplaneConfig, LocalNode, PeerNode } from './types.ts';
import { vxlanDefaults } from '../../../api/effective-config.ts';

/** Used when a config names no VNI/port (tests, older configs): the Installation's defaults. */
export const DEFAULT_VXLAN_VNI = vxlanDefaults.vni;
export const DEFAULT_VXLAN_PORT = vxlanDefaults.port;

export function linkPrefix(cfg: DataplaneConfig): string { return cfg.linkPrefix ?? DEFAULT_LINK_PREFIX; }
export function vxlanDevice(cfg: DataplaneConfig): string { return `${linkPrefix(cfg)}.vxlan`; }
export function ipipDevice(cfg: DataplaneConfig): string { return `${linkPrefix(cfg)}.ipip`; }
export function wireguardDevice(cfg: DataplaneConfig): string { return `${linkPrefix(cfg)}${WIREGUARD_DEVICE_SUFFIX}`; }

/** Every mode: a blackhole for each owned block, so traffic to an unallocated address in it is
 *  dropped here instead of bouncing along the default route (pods' /32s are more specific). */
export function blackholes(local: LocalNode): RouteSpec[] {
  return local.blocks.map((b) => ({ dst: canonicalCidr(b), type: 'blackhole' }));
}

export function natSpec(cfg: DataplaneConfig): NatSpec | null {
  const sources = cfg.pools.filter((p) => p.natOutgoing).map((p) => p.cidr);
  return sources.length ? { natSources: sources, poolCidrs: cfg.pools.map((p) => p.cidr) } : null;
}

export function emptyState(local: LocalNode, cfg: DataplaneConfig): DesiredKernelState {
  return { links: [], routes: blackholes(local), neighbors: [], fdb: [], nat: natSpec(cfg) };
}

/** host-gw route: the peer is on our L2 segment, so its underlay address is a direct next hop. */
export function directRoutes(local: LocalNode, peer: PeerNode): RouteSpec[] {
  return peer.blocks.map((b) => ({ dst: canonicalCidr(b), type: 'unicast', gateway: peer.underlayAddress, dev: local.underlayInterface }));
}

export function sameSubnet(local: LocalNode, peer: PeerNode): boolean {
  return cidrContains(local.underlaySubnet, peer.underlayAddress);
}

/** Tunnel endpoint address of a node: the first address of its first block (never handed to a
 *  pod: host-local starts at .1, and .1 is the ptp gateway). */
export function tunnelAddress(node: { name: string; blocks: string[] }): string {
  const first = node.blocks[0];
  if (!first) throw new Error(`node ${node.name} has no IPAM block yet; a tunnel address is taken from its first block, so claim a block before programming the tunnel`);
  return networkAddress(first);
}

/** Deterministic, locally administered unicast MAC for a node's VTEP: 0e:57 + underlay IPv4. */
export function derivedVtepMac(underlayAddress: string): string {
  const octets = underlayAddress.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
  return ['0e', '57', ...octets].join(':');
}

export function checkPeers(local: LocalNode, peers: PeerNode[]): void {
  for (const p of peers) {
    if (p.name === local.name || p.underlayAddress === local.underlayAddress) {
      throw new Error(`peer list contains the local node ${local.name} (${p.name}, ${p.underlayAddress}); pass only other nodes as peers`);
    }
  }
}
