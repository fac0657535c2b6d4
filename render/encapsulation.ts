/**
 * Each pool's effective encapsulation (Auto resolved, see docs/adr/0003-auto-encapsulation.md) and the
 * dataplane backend that follows from it, plus the check that host-gw can actually work.
 */
import { dataplaneFor, type DataplaneMode, type EffectiveEncapsulation } from '../api/index.ts';
import type { NormalizedPool } from './defaults.ts';
import type { ClusterProblem, Explanation, NodeFacts } from './types.ts';
import { describeFixes, type Fix } from '../api/advice.ts';
import { allOnLink, describeSubnets, hasReported, nameList, underlayOf, type Underlay } from './underlay.ts';

export const AUTO_ADR = 'docs/adr/0003-auto-encapsulation.md';

export interface PoolEncapsulation {
  encapsulation: EffectiveEncapsulation;
  dataplane: DataplaneMode;
  explain: Explanation[];
  problems: ClusterProblem[];
}

export { dataplaneFor };

const DATAPLANE_REASON: Record<DataplaneMode, string> = {
  'host-gw': 'encapsulation None without BGP: each node routes every other node\'s blocks via its underlay address',
  bgp: 'encapsulation None with BGP: BIRD on each node exchanges the block routes',
  vxlan: 'encapsulation VXLAN: all pod traffic between nodes goes through the VXLAN device',
  'vxlan-crosssubnet': 'encapsulation VXLANCrossSubnet: direct routes within a subnet, VXLAN across subnets',
  ipip: 'encapsulation IPIP: all pod traffic between nodes goes through the IPIP tunnel',
  'ipip-crosssubnet': 'encapsulation IPIPCrossSubnet: direct routes within a subnet, IPIP across subnets',
};

interface Located {
  name: string;
  underlay: Underlay;
}

/**
 * The selected nodes split by what they reported for the pool's address family. Nodes in
 * `copied` report an address another node reports too (DuplicateUnderlayAddress): it says
 * nothing about where they are, so they are set apart instead of located.
 */
function classify(nodes: readonly NodeFacts[], family: 4 | 6, copied: ReadonlySet<string> = new Set()) {
  const located: Located[] = [];
  const otherFamilyOnly: string[] = [];
  const pending: string[] = [];
  const duplicated: string[] = [];
  for (const n of nodes) {
    const u = underlayOf(n, family);
    if (u && copied.has(n.name)) duplicated.push(n.name);
    else if (u) located.push({ name: n.name, underlay: u });
    else if (hasReported(n)) otherFamilyOnly.push(n.name);
    else pending.push(n.name);
  }
  return { located, otherFamilyOnly, pending, duplicated };
}

function pendingNote(pending: string[], duplicated: string[] = []): string {
  return (pending.length === 0 ? '' : `; not reported yet: ${nameList(pending)}`)
    + (duplicated.length === 0 ? '' : `; not used: the addresses of ${nameList(duplicated)} are reported by more than one node (DuplicateUnderlayAddress)`);
}

/** Cloud providers whose networks drop packets to addresses the VM does not own (pod addresses). */
const CLOUDS: { name: string; providerID: RegExp; label: RegExp }[] = [
  { name: 'AWS', providerID: /^aws:\/\//, label: /^eks\.amazonaws\.com\// },
  { name: 'Azure', providerID: /^azure:\/\//, label: /^kubernetes\.azure\.com\// },
  { name: 'GCP', providerID: /^gce:\/\//, label: /^cloud\.google\.com\/gke-/ },
];

/** The cloud a node runs in, from its spec.providerID or its provider's node labels. */
export function cloudOf(node: NodeFacts): string | undefined {
  return CLOUDS.find((c) => c.providerID.test(node.providerID ?? '') || Object.keys(node.labels ?? {}).some((k) => c.label.test(k)))?.name;
}

function resolveAuto(pool: NormalizedPool, nodes: readonly NodeFacts[], copied: ReadonlySet<string>): { mode: EffectiveEncapsulation; reason: string } {
  const { located, otherFamilyOnly, pending, duplicated } = classify(nodes, pool.family, copied);
  const clouds = [...new Set(nodes.map(cloudOf).filter((c): c is string => c !== undefined))].sort();
  if (clouds.length > 0) {
    const inCloud = nodes.filter((n) => cloudOf(n) !== undefined).map((n) => n.name);
    return {
      mode: 'VXLAN',
      reason: `Auto: ${nameList(inCloud)} ${inCloud.length === 1 ? 'runs' : 'run'} in ${clouds.join(', ')} (the Nodes' providerID or labels), whose networks drop packets addressed to pod IPs unless source/destination checks are disabled or cloud routes added, even within one subnet; so pod traffic is tunnelled. Set spec.network.ipPools[${pool.index}].encapsulation to None if your cloud network routes the pod blocks`,
    };
  }
  if (otherFamilyOnly.length > 0) {
    return {
      mode: 'VXLAN',
      reason: `Auto: nodes ${nameList(otherFamilyOnly)} have no IPv${pool.family} underlay address, so IPv${pool.family} pod traffic must be tunnelled${pendingNote(pending, duplicated)}`,
    };
  }
  if (located.length === 0) {
    const why = duplicated.length > 0 ? `no selected node has reported an address of its own${pendingNote([], duplicated)}` : 'no selected node has reported its underlay address yet';
    return {
      mode: 'None',
      reason: `Auto, provisional: ${why}; Auto starts with None and switches to VXLANCrossSubnet only when reported nodes span subnets (${AUTO_ADR})`,
    };
  }
  if (allOnLink(located)) {
    const what = located.length === 1 ? `the only node with a known address is in ${describeSubnets(located)}` : `all ${located.length} nodes with a known address share one subnet: ${describeSubnets(located)}`;
    return { mode: 'None', reason: `Auto: ${what}${pendingNote(pending, duplicated)}` };
  }
  return { mode: 'VXLANCrossSubnet', reason: `Auto: nodes span subnets: ${describeSubnets(located)}${pendingNote(pending, duplicated)}` };
}

/** Decides one pool; `nodes` are the nodes its nodeSelector selects. */
export function decideEncapsulation(
  pool: NormalizedPool,
  nodes: readonly NodeFacts[],
  bgp: { enabled: boolean; fullMesh: boolean },
  copied: ReadonlySet<string> = new Set(),
): PoolEncapsulation {
  const field = `spec.network.ipPools[${pool.index}].encapsulation`;
  const { mode, reason } = pool.encapsulation === 'Auto'
    ? resolveAuto(pool, nodes, copied)
    : { mode: pool.encapsulation, reason: `set in ${field}` };
  const dataplane = dataplaneFor(mode, bgp.enabled);
  const explain: Explanation[] = [
    { subject: `pool ${pool.name} encapsulation`, decision: mode, reason },
    { subject: `pool ${pool.name} dataplane`, decision: dataplane, reason: DATAPLANE_REASON[dataplane] },
  ];
  const problems: ClusterProblem[] = [];

  if (dataplane === 'host-gw') {
    const { located, otherFamilyOnly } = classify(nodes, pool.family, copied);
    const split = located.length > 1 && !allOnLink(located);
    if (split || otherFamilyOnly.length > 0) {
      const where = [
        split ? `its nodes are in different subnets: ${describeSubnets(located)}` : '',
        otherFamilyOnly.length > 0 ? `nodes ${nameList(otherFamilyOnly)} have no IPv${pool.family} underlay address` : '',
      ].filter(Boolean).join(', and ');
      const fixes: Fix[] = [[{ path: field, value: 'VXLANCrossSubnet' }]];
      const message = `pool ${pool.name} uses host-gw (encapsulation None without BGP) but ${where}; pods on nodes that are not directly reachable cannot reach each other. Set ${describeFixes(fixes)}, or add BGP peers (spec.network.bgp.peers) that route the pod blocks between the subnets`;
      explain.push({ subject: `pool ${pool.name} host-gw`, decision: 'cannot reach every node', reason: message, warning: true });
      problems.push({ reason: 'HostGatewayAcrossSubnets', message, path: field, fixes });
    }
  }
  if (dataplane === 'bgp' && bgp.fullMesh) {
    const { located } = classify(nodes, pool.family, copied);
    if (located.length > 1 && !allOnLink(located)) {
      const fixes: Fix[] = [[{ path: field, value: 'VXLANCrossSubnet' }]];
      const message = `pool ${pool.name} is routed by a BGP full mesh, but its nodes are in different subnets: ${describeSubnets(located)}; mesh sessions are direct (one segment) and the next hops of other subnets are unreachable. Set ${describeFixes(fixes)}, or peer each node with its subnet's routers (spec.network.bgp.peers) instead of the full mesh`;
      explain.push({ subject: `pool ${pool.name} bgp`, decision: 'mesh spans subnets', reason: message, warning: true });
      problems.push({ reason: 'BGPMeshAcrossSubnets', message, path: field, fixes });
    }
  }
  if (dataplane === 'bgp' && pool.family === 6) {
    const fixes: Fix[] = [[{ path: field, value: 'VXLANCrossSubnet' }], [{ path: field, value: 'VXLAN' }]];
    const message = `pool ${pool.name} is IPv6 and routed by BGP, but Weft's BIRD configuration announces IPv4 blocks only; its pods are unreachable from other nodes. Set ${describeFixes(fixes)}`;
    explain.push({ subject: `pool ${pool.name} bgp`, decision: 'IPv6 not announced', reason: message, warning: true });
    problems.push({ reason: 'IPv6PoolOverBGP', message, path: field, fixes });
  }
  return { encapsulation: mode, dataplane, explain, problems };
}
