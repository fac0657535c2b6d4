// host-gw: no encapsulation. For each peer block: `BLOCK via PEER_UNDERLAY dev UNDERLAY_IF proto
// weft`. Needs every node on one L2 segment (the next hop must be directly reachable): a peer in
// another subnet gets no route (the kernel would refuse the whole batch) and is reported instead;
// the operator sets Degraded for host-gw across subnets.
import { checkPeers, directRoutes, emptyState, sameSubnet } from './common.ts';
import type { DataplaneBackend } from './types.ts';
import { DATAPLANES } from '../../../api/encapsulation.ts';

export const hostGwBackend: DataplaneBackend = {
  name: 'host-gw',
  overhead: DATAPLANES['host-gw'].overhead,
  desired(local, peers, cfg) {
    checkPeers(local, peers);
    const state = emptyState(local, cfg);
    for (const p of peers) {
      if (sameSubnet(local, p)) state.routes.push(...directRoutes(local, p));
      else {
        (state.unroutable ??= []).push({
          peer: p.name,
          reason: `${p.underlayAddress} is outside ${local.underlaySubnet}; host-gw needs one subnet (use VXLANCrossSubnet or BGP)`,
        });
      }
    }
    return state;
  },
  tunnelDevices: () => [],
};
