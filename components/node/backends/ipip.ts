// ipip: device <prefix>.ipip (type ipip, local = underlay address, dev = underlay interface,
// MTU = cluster MTU) carrying the node's tunnel address (first address of its first block) /32.
// Per peer block: `BLOCK via PEER_UNDERLAY dev weft.ipip onlink proto weft` — the kernel
// encapsulates towards the route's gateway, so no per-peer device is needed.
// ipip-crosssubnet: peers in the local underlay subnet get host-gw routes instead.
// The test machines have no ipip module: this backend is verified by unit tests of the generated
// `ip -batch` commands (test/unit/kernel/backends.test.ts), not in the dataplane suite.
import { canonicalCidr } from '../kernel/cidr.ts';
import type { DesiredKernelState } from '../kernel/types.ts';
import { checkPeers, directRoutes, emptyState, ipipDevice, sameSubnet, tunnelAddress } from './common.ts';
import type { DataplaneBackend, DataplaneConfig, LocalNode, PeerNode } from './types.ts';
import { DATAPLANES } from '../../../api/encapsulation.ts';

function ipipDesired(crossSubnet: boolean) {
  return (local: LocalNode, peers: PeerNode[], cfg: DataplaneConfig): DesiredKernelState => {
    checkPeers(local, peers);
    const state = emptyState(local, cfg);
    const dev = ipipDevice(cfg);
    state.links.push({
      name: dev, kind: 'ipip', mtu: cfg.mtu, addresses: [`${tunnelAddress(local)}/32`],
      ipip: { local: local.underlayAddress, dev: local.underlayInterface },
    });
    for (const p of peers) {
      if (crossSubnet && sameSubnet(local, p)) { state.routes.push(...directRoutes(local, p)); continue; }
      for (const b of p.blocks) state.routes.push({ dst: canonicalCidr(b), type: 'unicast', gateway: p.underlayAddress, dev, onlink: true });
    }
    return state;
  };
}

export const ipipBackend: DataplaneBackend = {
  name: 'ipip', overhead: DATAPLANES.ipip.overhead, desired: ipipDesired(false), tunnelDevices: (cfg) => [ipipDevice(cfg)],
};
export const ipipCrossSubnetBackend: DataplaneBackend = {
  name: 'ipip-crosssubnet', overhead: DATAPLANES['ipip-crosssubnet'].overhead, desired: ipipDesired(true), tunnelDevices: (cfg) => [ipipDevice(cfg)],
};
