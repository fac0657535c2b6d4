// host-gw: no encapsulation. For each peer block: `BLOCK via PEER_UNDERLAY dev UNDERLAY_IF proto
// weft`. Needs every node on one L2 segment (the next hop must be directly reachable).
import { checkPeers, directRoutes, emptyState } from './common.ts';
import type { DataplaneBackend } from './types.ts';

export const hostGwBackend: DataplaneBackend = {
  name: 'host-gw',
  overhead: 0,
  desired(local, peers, cfg) {
    checkPeers(local, peers);
    const state = emptyState(local, cfg);
    for (const p of peers) state.routes.push(...directRoutes(local, p));
    return state;
  },
  tunnelDevices: () => [],
};
