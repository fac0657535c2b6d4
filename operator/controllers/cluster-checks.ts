// Checks of an Installation that only the cluster can answer, beyond what render judges (host-gw
// across subnets): pools that overlap (each pool is schema-valid on its own), and pools that
// no longer cover the IPAM blocks nodes hold. Any problem here means: apply nothing, keep the
// running configuration, set Degraded with a message that says what to change.
import ipaddr from 'ipaddr.js';
import type { Installation, IPAMBlock, IPPool, NodeNetwork } from '../../api/index.ts';
import { findPoolOverlaps } from '../../api/validation/pools.ts';
import type { ClusterProblem } from '../../render/types.ts';

const MAX_NAMED = 5;

function names(list: readonly string[]): string {
  const sorted = [...new Set(list)].sort();
  return sorted.length <= MAX_NAMED ? sorted.join(', ') : `${sorted.slice(0, MAX_NAMED).join(', ')} and ${sorted.length - MAX_NAMED} more`;
}

function contains(poolCidr: string, blockCidr: string): boolean {
  try {
    const [p, plen] = ipaddr.parseCIDR(poolCidr);
    const [b, blen] = ipaddr.parseCIDR(blockCidr);
    if (p.kind() !== b.kind() || blen < plen) return false;
    return (b as ipaddr.IPv4).match([p as ipaddr.IPv4, plen]);
  } catch {
    return false;
  }
}

function defaultBlockSize(cidr: string): number {
  return cidr.includes(':') ? 122 : 26;
}

/** Addresses pods hold in a block, from the block's status or, failing that, its node's report. */
function allocatedIn(block: IPAMBlock, byNode: Map<string, NodeNetwork>): number {
  if (typeof block.status?.allocated === 'number') return block.status.allocated;
  const nn = byNode.get(block.spec.node);
  const reported = nn?.status?.blocks?.find((b) => b.cidr === block.spec.cidr);
  // Unknown usage counts as in use: releasing a pool whose blocks may hold pods breaks them.
  return typeof reported?.allocated === 'number' ? reported.allocated : 1;
}

export function poolOverlapProblems(pools: readonly IPPool[]): ClusterProblem[] {
  return findPoolOverlaps(pools).map((o) => ({
    reason: 'OverlappingPools',
    message: o.message,
    path: `spec.network.ipPools[${o.second}].cidr`,
  }));
}

/**
 * Blocks nodes hold that the new pools would orphan: a pool whose CIDR or block size no longer
 * matches its blocks (the pool was removed and re-added under the same name), or a removed pool
 * whose blocks still hold pod addresses.
 */
export function blockCoverageProblems(pools: readonly IPPool[], blocks: readonly IPAMBlock[], nodeNetworks: readonly NodeNetwork[]): ClusterProblem[] {
  const byName = new Map(pools.map((p, i) => [p.name, { pool: p, index: i }]));
  const byNode = new Map(nodeNetworks.map((n) => [n.spec?.nodeName ?? n.metadata?.name ?? '', n]));
  const uncovered = new Map<string, { index: number; pool: IPPool; blocks: IPAMBlock[] }>();
  const removedInUse = new Map<string, { blocks: IPAMBlock[]; addresses: number }>();
  for (const b of blocks) {
    if (b.metadata?.deletionTimestamp) continue;
    const entry = byName.get(b.spec.pool);
    if (entry) {
      const size = entry.pool.blockSize ?? defaultBlockSize(entry.pool.cidr);
      const prefix = Number(b.spec.cidr.split('/')[1]);
      if (!contains(entry.pool.cidr, b.spec.cidr) || prefix !== size) {
        const u = uncovered.get(b.spec.pool) ?? { index: entry.index, pool: entry.pool, blocks: [] };
        u.blocks.push(b);
        uncovered.set(b.spec.pool, u);
      }
      continue;
    }
    const inUse = allocatedIn(b, byNode);
    if (inUse > 0) {
      const r = removedInUse.get(b.spec.pool) ?? { blocks: [], addresses: 0 };
      r.blocks.push(b);
      r.addresses += inUse;
      removedInUse.set(b.spec.pool, r);
    }
  }
  const out: ClusterProblem[] = [];
  for (const [name, u] of [...uncovered].sort(([a], [b]) => a.localeCompare(b))) {
    const size = u.pool.blockSize ?? defaultBlockSize(u.pool.cidr);
    out.push({
      reason: 'PoolDoesNotCoverBlocks',
      path: `spec.network.ipPools[${u.index}]`,
      message:
        `pool "${name}" (cidr ${u.pool.cidr}, blockSize ${size}) no longer covers ${u.blocks.length} block(s) nodes hold ` +
        `(${names(u.blocks.map((b) => `${b.spec.cidr} on ${b.spec.node}`))}); give "${name}" back a range and blockSize that cover these blocks ` +
        `(the API server keeps a pool's cidr immutable, so remove the pool in one apply and add it back in the next), ` +
        `or add the new range as a pool with another name and remove "${name}" once its pods have moved`,
    });
  }
  for (const [name, r] of [...removedInUse].sort(([a], [b]) => a.localeCompare(b))) {
    out.push({
      reason: 'RemovedPoolInUse',
      path: 'spec.network.ipPools',
      message:
        `pool "${name}" was removed but ${r.blocks.length} of its block(s) still hold ${r.addresses} pod address(es) ` +
        `(nodes ${names(r.blocks.map((b) => b.spec.node))}); put the pool back, move or delete the pods using its addresses, then remove it`,
    });
  }
  return out;
}

export function clusterProblems(inst: Installation, blocks: readonly IPAMBlock[], nodeNetworks: readonly NodeNetwork[]): ClusterProblem[] {
  const pools = inst.spec?.network?.ipPools ?? [];
  return [...poolOverlapProblems(pools), ...blockCoverageProblems(pools, blocks, nodeNetworks)];
}
