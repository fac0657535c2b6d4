/**
 * What render can tell about pools and node addresses from the facts: copies of one address on
 * several nodes, a pool that overlaps the nodes' own network, a pool with fewer blocks than the
 * nodes it selects. Each problem carries the settings it suggests (api/advice.ts).
 */
import { describeFixes, type Fix } from '../api/advice.ts';
import { blocksInPool, cidrsOverlap, freePoolCidr } from '../api/validation/pools.ts';
import type { NormalizedPool, NormalizedSpec } from './defaults.ts';
import type { ClusterProblem, Explanation, NodeFacts } from './types.ts';
import { duplicateAddresses, nameList, underlayOf, type DuplicateAddress } from './underlay.ts';

export interface Checked {
  explain: Explanation[];
  problems: ClusterProblem[];
}

/** Names of the nodes whose address of each family is a copy, for Auto to leave aside. */
export function copiedByFamily(dups: readonly DuplicateAddress[]): Record<4 | 6, Set<string>> {
  const out: Record<4 | 6, Set<string>> = { 4: new Set(), 6: new Set() };
  for (const d of dups) for (const n of d.nodes) out[d.family].add(n);
  return out;
}

/**
 * DuplicateUnderlayAddress: several nodes report one address — typically each VM's first NIC is
 * the same NAT interface (10.0.2.15) and autodetection took it. Blocking: routes, VXLAN FDB
 * entries and BGP sessions to that address would reach at most one node.
 */
export function duplicateAddressProblems(nodes: readonly NodeFacts[], spec: NormalizedSpec): Checked & { duplicates: DuplicateAddress[] } {
  const duplicates = duplicateAddresses(nodes);
  const explain: Explanation[] = [];
  const problems: ClusterProblem[] = [];
  for (const d of duplicates) {
    const field = `spec.network.nodeAddressAutodetectionV${d.family}`;
    const internal = d.nodes.map((name) => nodes.find((n) => n.name === name)?.internalIPs ?? []);
    const own = internal.every((ips) => ips.length > 0) && !internal.flat().includes(d.address);
    const current = d.family === 4 ? spec.autodetectionV4 : spec.autodetectionV6;
    const fixes: Fix[] = current?.kubernetes === 'NodeInternalIP' ? [] : [[{ path: field, value: { kubernetes: 'NodeInternalIP' } }]];
    const internalNote = own
      ? `; their InternalIPs differ (${d.nodes.map((n, i) => `${n} ${internal[i]!.join(',')}`).join(', ')}), so it is not their node address`
      : '';
    const message = `nodes ${nameList(d.nodes)} all report the underlay address ${d.address} (a copy, e.g. the same NAT interface on every VM)${internalNote}; routes and tunnels to ${d.address} reach at most one of them, so Weft cannot tell where these nodes are. Set ${fixes.length ? `${describeFixes(fixes)}, or ` : ''}${field} to {interface: <regex of the node NIC>} or {cidrs: [<the node network>]}`;
    explain.push({ subject: 'node addresses', decision: `${d.address} on ${d.nodes.length} nodes`, reason: message, warning: true });
    problems.push({ reason: 'DuplicateUnderlayAddress', message, path: field, fixes });
  }
  return { explain, problems, duplicates };
}

/**
 * PoolOverlapsNodeSubnet: a pool overlapping the subnet of a node's underlay address. Blocks may
 * take addresses hosts of that network hold, and natOutgoing does not masquerade pod traffic to
 * it (it is inside a pool). One problem per pool, naming the nodes.
 */
export function nodeSubnetOverlapProblems(pools: readonly NormalizedPool[], nodes: readonly NodeFacts[]): Checked {
  const explain: Explanation[] = [];
  const problems: ClusterProblem[] = [];
  const subnets = nodes.flatMap((n) => ([4, 6] as const).map((f) => underlayOf(n, f)).filter((u) => u !== undefined).map((u) => ({ node: n.name, subnet: u.subnet })));
  for (const pool of pools) {
    const hit = subnets.filter((s) => cidrsOverlap(pool.cidr, s.subnet));
    if (hit.length === 0) continue;
    const field = `spec.network.ipPools[${pool.index}].cidr`;
    const prefix = Number(pool.cidr.split('/')[1]);
    const taken = [...pools.filter((p) => p !== pool).map((p) => p.cidr), ...subnets.map((s) => s.subnet)];
    const free = freePoolCidr(pool.family, prefix, taken);
    const fixes: Fix[] = free ? [[{ path: field, value: free }]] : [];
    const nets = [...new Set(hit.map((h) => h.subnet))].sort();
    const message = `pool ${pool.name} (${pool.cidr}) overlaps the node network ${nets.join(', ')} (nodes ${nameList(hit.map((h) => h.node))}): blocks may take addresses that hosts there hold, and natOutgoing does not masquerade pod traffic to that network. Pick a pool outside it${free ? `: set ${describeFixes(fixes)}` : ''} (cidr is immutable: on a running cluster add a new pool with it and migrate)`;
    explain.push({ subject: `pool ${pool.name} cidr`, decision: 'overlaps the node network', reason: message, warning: true });
    problems.push({ reason: 'PoolOverlapsNodeSubnet', message, path: field, fixes });
  }
  return { explain, problems };
}

/**
 * PoolOutOfBlocks: a pool selected by more nodes than it has blocks; the nodes past the last
 * block get no pod addresses. A warning (non-blocking): the configuration is right for the
 * nodes that got blocks.
 */
export function blockCountProblems(pool: NormalizedPool, selected: number): Checked {
  const blocks = blocksInPool(pool.cidr, pool.blockSize);
  if (blocks === undefined || selected <= blocks) return { explain: [], problems: [] };
  const prefix = Number(pool.cidr.split('/')[1]);
  const max = pool.family === 4 ? 32 : 128;
  const need = pool.blockSize + Math.ceil(Math.log2(selected / blocks));
  const fixes: Fix[] = need <= max ? [[{ path: `spec.network.ipPools[${pool.index}].blockSize`, value: need }]] : [];
  const wider = pool.blockSize - Math.ceil(Math.log2(selected));
  const message = `pool ${pool.name} (${pool.cidr}, blockSize ${pool.blockSize}) has ${blocks} blocks for ${selected} nodes: every node needs a block, so ${selected - blocks} node(s) get no pod addresses. ${fixes.length ? `Set ${describeFixes(fixes)} (blockSize is immutable: on a running cluster add a new pool), or use` : 'Use'} a larger pool (/${wider} or wider instead of /${prefix})`;
  return {
    explain: [{ subject: `pool ${pool.name} blocks`, decision: `${blocks} blocks for ${selected} nodes`, reason: message, warning: true }],
    problems: [{ reason: 'PoolOutOfBlocks', message, path: `spec.network.ipPools[${pool.index}]`, fixes, blocking: false }],
  };
}
