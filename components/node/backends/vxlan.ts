// vxlan: device <prefix>.vxlan (VNI and dstport from spec.network.vxlan, default 4097 / 4799, nolearning, local = underlay address,
// dev = underlay interface, MTU = cluster MTU, MAC derived from the underlay address), carrying
// the node's VTEP address (first address of its first block) as a /32. Per peer:
//   FDB        PEER_VTEP_MAC dev weft.vxlan dst PEER_UNDERLAY self permanent
//   neighbour  PEER_VTEP_IP lladdr PEER_VTEP_MAC dev weft.vxlan nud permanent
//   route      PEER_BLOCK via PEER_VTEP_IP dev weft.vxlan onlink proto weft
// With learning off and static neighbours there is no ARP or flooding on the overlay, and one peer
// is exactly 2 + (its block count) kernel operations.
// vxlan-crosssubnet: peers in the local underlay subnet get host-gw routes instead.
import { canonicalCidr } from '../kernel/cidr.ts';
import type { DesiredKernelState, LinkSpec } from '../kernel/types.ts';
import {
  DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, checkPeers, derivedVtepMac, directRoutes, emptyState, sameSubnet,
  tunnelAddress, vxlanDevice,
} from './common.ts';
import type { DataplaneBackend, DataplaneConfig, LocalNode, PeerNode } from './types.ts';
import { DATAPLANES } from '../../../api/encapsulation.ts';

export function vxlanLink(local: LocalNode, cfg: DataplaneConfig): LinkSpec {
  return {
    name: vxlanDevice(cfg),
    kind: 'vxlan',
    mtu: cfg.mtu,
    mac: derivedVtepMac(local.underlayAddress),
    addresses: [`${tunnelAddress(local)}/32`],
    vxlan: {
      vni: cfg.vxlan?.vni ?? DEFAULT_VXLAN_VNI, port: cfg.vxlan?.port ?? DEFAULT_VXLAN_PORT,
      local: local.underlayAddress, dev: local.underlayInterface, learning: false,
    },
  };
}

export function addVxlanPeer(state: DesiredKernelState, peer: PeerNode, cfg: DataplaneConfig): void {
  const dev = vxlanDevice(cfg);
  const mac = (peer.vxlanMac ?? derivedVtepMac(peer.underlayAddress)).toLowerCase();
  const vtep = tunnelAddress(peer);
  state.fdb.push({ dev, mac, dst: peer.underlayAddress });
  state.neighbors.push({ dev, ip: vtep, mac });
  for (const b of peer.blocks) state.routes.push({ dst: canonicalCidr(b), type: 'unicast', gateway: vtep, dev, onlink: true });
}

function vxlanDesired(crossSubnet: boolean) {
  return (local: LocalNode, peers: PeerNode[], cfg: DataplaneConfig): DesiredKernelState => {
    checkPeers(local, peers);
    const state = emptyState(local, cfg);
    state.links.push(vxlanLink(local, cfg));
    for (const p of peers) {
      if (crossSubnet && sameSubnet(local, p)) state.routes.push(...directRoutes(local, p));
      else addVxlanPeer(state, p, cfg);
    }
    return state;
  };
}

export const vxlanBackend: DataplaneBackend = {
  name: 'vxlan', overhead: DATAPLANES.vxlan.overhead, desired: vxlanDesired(false), tunnelDevices: (cfg) => [vxlanDevice(cfg)],
};

export const vxlanCrossSubnetBackend: DataplaneBackend = {
  name: 'vxlan-crosssubnet', overhead: DATAPLANES['vxlan-crosssubnet'].overhead, desired: vxlanDesired(true), tunnelDevices: (cfg) => [vxlanDevice(cfg)],
};
