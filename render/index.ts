/**
 * render(installation, facts, options) -> the desired objects of a Weft installation, with the
 * reasons for every choice. Pure: no I/O, no clock, no randomness; same input, same bytes.
 */
import type { EffectivePool, Installation } from '../api/index.ts';
import { ENCRYPTIONS } from '../api/index.ts';
import { renderBirdTemplate } from './bird.ts';
import { renderConfigMap } from './configmap.ts';
import { renderConflist } from './conflist.ts';
import { renderDaemonSet } from './daemonset.ts';
import { normalizeSpec, type NormalizedSpec } from './defaults.ts';
import { bgpEnabled, buildEffectiveConfig } from './effective.ts';
import { decideEncapsulation } from './encapsulation.ts';
import { configHash } from '../api/config-hash.ts';
import { describeFixes, type Fix } from '../api/advice.ts';
import { freePoolCidr } from '../api/validation/pools.ts';
import { isCalicoSyntax, nodeSelectorMatches, parseNodeSelector, SelectorSyntaxError, type NodeSelector } from '../api/node-selector.ts';
import { decideMtu } from './mtu.ts';
import { renderNamespace } from './namespace.ts';
import { sortObjects } from './sort.ts';
import {
  RenderInputError,
  type ClusterFacts,
  type ClusterProblem,
  type Explanation,
  type NodeFacts,
  type RenderOptions,
  type RenderResult,
} from './types.ts';
import { checkFacts, compareStrings, nameList, nodeSubnets } from './underlay.ts';
import { blockCountProblems, copiedByFamily, duplicateAddressProblems, nodeSubnetOverlapProblems } from './pools.ts';

export * from './types.ts';
export { toYaml, toJsonList, explainText, formatExplanation, formatProblem } from './serialize.ts';
export { parseSelector, selectorMatches, matchesRequirements, SelectorSyntaxError } from '../api/label-selector.ts';
export { parseNodeSelector, nodeSelectorMatches, selectsNode, isCalicoSyntax, type NodeSelector } from '../api/node-selector.ts';
export type { Requirement, SelectorOperator } from '../api/label-selector.ts';
export { canonicalJson } from '../api/config-hash.ts';
export { kindOrder, compareObjects } from './sort.ts';

/** Registry of the released images; an Installation's spec.registry replaces it. */
export const DEFAULT_REGISTRY = 'ghcr.io/weft-dev';

export const defaultRenderOptions: RenderOptions = { operatorVersion: '0.0.0-dev', registry: DEFAULT_REGISTRY };

export const noFacts: ClusterFacts = { nodes: [] };

function agentImage(spec: NormalizedSpec, options: RenderOptions): { image: string; reason: string } {
  if (options.agentImage) return { image: options.agentImage, reason: 'the operator was started with an explicit node agent image' };
  const registry = spec.registry || options.registry;
  const from = spec.registry ? 'spec.registry' : 'the default registry';
  return { image: `${registry}/weft-node:${options.operatorVersion}`, reason: `${from} ${registry}, tag = operator version ${options.operatorVersion}` };
}

function parseSelectors(spec: NormalizedSpec): { pools: NodeSelector[]; peers: NodeSelector[] } {
  const problems: { path: string; message: string }[] = [];
  const parse = (text: string, path: string): NodeSelector => {
    try {
      return parseNodeSelector(text);
    } catch (e) {
      if (!(e instanceof SelectorSyntaxError)) throw e;
      problems.push({ path, message: `${e.message}; use a Kubernetes label selector such as "zone=a,tier!=edge" or a Calico selector such as "all()" or "zone == 'a' && !has(edge)"` });
      return { op: 'all' };
    }
  };
  const pools = spec.pools.map((p) => parse(p.nodeSelector, `spec.network.ipPools[${p.index}].nodeSelector`));
  const peers = spec.bgp.peers.map((p, i) => parse(p.nodeSelector, `spec.network.bgp.peers[${i}].nodeSelector`));
  if (spec.bgp.routeReflectors) parse(spec.bgp.routeReflectors.nodeSelector, 'spec.network.bgp.routeReflectors.nodeSelector');
  if (problems.length > 0) throw new RenderInputError(problems);
  return { pools, peers };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Renders an Installation (validated with api/validation) against what is known of the cluster.
 * Throws RenderInputError for facts or node selectors it cannot use.
 */
export function render(installation: Installation, facts: ClusterFacts = noFacts, options: RenderOptions = defaultRenderOptions): RenderResult {
  const spec = normalizeSpec(installation);
  checkFacts(facts);
  const nodes: NodeFacts[] = [...facts.nodes].sort((a, b) => compareStrings(a.name, b.name));
  const selectors = parseSelectors(spec);
  const explain: Explanation[] = [];
  const degraded: ClusterProblem[] = [];

  const { image, reason: imageReason } = agentImage(spec, options);
  explain.push({ subject: 'node agent image', decision: image, reason: imageReason });

  const dups = duplicateAddressProblems(nodes, spec);
  explain.push(...dups.explain);
  degraded.push(...dups.problems);
  const copied = copiedByFamily(dups.duplicates);
  const overlaps = nodeSubnetOverlapProblems(spec.pools, nodes);
  explain.push(...overlaps.explain);
  degraded.push(...overlaps.problems);

  // Reflector sessions are `direct` like the mesh's: both need the nodes on one segment.
  const bgp = { enabled: bgpEnabled(spec), fullMesh: spec.bgp.mode !== 'Disabled' };
  const pooled = new Set<string>();
  const pools: EffectivePool[] = spec.pools.map((pool, i) => {
    const selected = nodes.filter((n) => nodeSelectorMatches(selectors.pools[i]!, n.labels ?? {}));
    for (const n of selected) pooled.add(n.name);
    if (nodes.length > 0) {
      const how = pool.nodeSelector === '' ? 'empty nodeSelector selects every node' : `nodeSelector ${JSON.stringify(pool.nodeSelector)}${isCalicoSyntax(pool.nodeSelector) ? ' (Calico syntax)' : ''}`;
      const which = selected.length === 0 ? 'selects none' : `selects ${nameList(selected.map((n) => n.name))}`;
      explain.push({
        subject: `pool ${pool.name} nodes`,
        decision: `${selected.length} of ${nodes.length}`,
        reason: pool.nodeSelector === '' ? how : `${how} ${which}`,
        ...(selected.length === 0 ? { warning: true } : {}),
      });
    }
    const blocks = blockCountProblems(pool, selected.length);
    explain.push(...blocks.explain);
    degraded.push(...blocks.problems);
    const decided = decideEncapsulation(pool, selected, bgp, copied[pool.family]);
    explain.push(...decided.explain);
    degraded.push(...decided.problems);
    return {
      name: pool.name,
      cidr: pool.cidr,
      family: pool.family,
      blockSize: pool.blockSize,
      encapsulation: decided.encapsulation,
      dataplane: decided.dataplane,
      natOutgoing: pool.natOutgoing,
      nodeSelector: pool.nodeSelector,
      ...(pool.disableBGPExport ? { disableBGPExport: true } : {}),
    };
  });

  if (spec.pools.length === 0) {
    const fixes: Fix[] = [[{ path: 'spec.network.ipPools', value: [{ name: 'default', cidr: freePoolCidr(4, 16, nodeSubnets(nodes)) ?? '10.244.0.0/16' }] }]];
    const message = `spec.network.ipPools is empty, so pods get no addresses; set ${describeFixes(fixes)}`;
    explain.push({ subject: 'pools', decision: 'none', reason: message, warning: true });
    degraded.push({ reason: 'NoIPPools', message, path: 'spec.network.ipPools', fixes });
  } else {
    const orphans = nodes.filter((n) => !pooled.has(n.name)).map((n) => n.name);
    if (orphans.length > 0) {
      const message = `${plural(orphans.length, 'node')} (${nameList(orphans)}) ${orphans.length === 1 ? 'is' : 'are'} selected by no IP pool, so pods there get no address; widen a pool's nodeSelector or add a pool for them`;
      explain.push({ subject: 'pools', decision: 'nodes without a pool', reason: message, warning: true });
      degraded.push({ reason: 'NodesWithoutPool', message, path: 'spec.network.ipPools', blocking: false });
    }
  }

  const mtu = decideMtu(spec.mtu, pools, nodes, spec.encryption.mode);
  explain.push(...mtu.explain);
  degraded.push(...mtu.problems);
  if (spec.encryption.mode === 'WireGuard') {
    const wg = ENCRYPTIONS.WireGuard;
    explain.push({
      subject: 'encryption',
      decision: `WireGuard, UDP port ${spec.encryption.port}`,
      reason: `spec.network.encryption.mode is WireGuard: pod traffic between nodes is encrypted (kernel WireGuard where the module exists, userspace wireguard-go otherwise; NodeNetwork status says which); it adds ${wg.overhead} bytes per packet (${wg.overheadV6} over an IPv6 underlay), which the MTU ${spec.mtu > 0 ? 'set in spec.network.mtu must leave room for' : 'above subtracts'}`,
    });
  }

  const effective = buildEffectiveConfig(spec, pools, mtu.mtu, mtu.reason);
  const b = effective.bgp;
  explain.push({
    subject: 'bgp',
    decision: b.enabled ? (b.fullMesh ? `FullMesh, AS ${b.asNumber}` : b.routeReflectors ? `RouteReflectors, AS ${b.asNumber}` : `AS ${b.asNumber}`) : 'Disabled',
    reason: b.enabled
      ? `${b.fullMesh ? 'every node peers with every other node over iBGP' : b.routeReflectors ? `nodes selected by ${JSON.stringify(b.routeReflectors.nodeSelector)} reflect routes (cluster ID ${b.routeReflectors.clusterID}); the others peer with them only` : 'no node-to-node mesh'}${b.peers.length > 0 ? `; ${plural(b.peers.length, 'external peer')}: ${b.peers.map((p) => `${p.peerIP} AS ${p.asNumber}`).join(', ')}` : ''}`
      : 'spec.network.bgp.mode is Disabled and no peers are configured',
  });
  const plugins = ['ptp', ...(effective.hostPorts ? ['portmap'] : []), ...(effective.bandwidth ? ['bandwidth'] : [])];
  explain.push({
    subject: 'cni plugins',
    decision: plugins.join(', '),
    reason: `ptp with host-local IPAM; portmap ${effective.hostPorts ? 'for' : 'left out:'} hostPorts ${effective.hostPorts ? 'Enabled' : 'Disabled'}; bandwidth ${effective.bandwidth ? 'for' : 'left out:'} bandwidth ${effective.bandwidth ? 'Enabled' : 'Disabled'}`,
  });
  const ad = effective.autodetection;
  const method = (a: object) => Object.keys(a).sort().map((k) => `${k}=${JSON.stringify((a as Record<string, unknown>)[k])}`).join(',');
  explain.push({
    subject: 'node address autodetection',
    decision: `v4 ${method(ad.v4)}${ad.v6 ? `; v6 ${method(ad.v6)}` : ''}`,
    reason: `${spec.autodetectionV4 ? 'v4 from spec' : 'v4 default firstFound'}${ad.v6 ? (spec.autodetectionV6 ? ', v6 from spec' : ', v6 default firstFound (an IPv6 pool exists)') : ''}`,
  });

  const conflist = renderConflist(effective);
  const bird = renderBirdTemplate(effective);
  const hash = configHash({ effective, conflist, bird, image });
  // The pod template carries the hash of the same Installation rendered without facts: what the
  // nodes report (addresses, MTUs) changes the ConfigMap, which running agents apply in place,
  // never the template, so no fact restarts an agent (docs/adr/0010). Render is pure, so this is
  // the hash of the first render of every cluster.
  const specHash = nodes.length === 0 ? hash : render(installation, noFacts, options).configHash;
  const objects = sortObjects([
    renderNamespace(spec.installationName),
    renderConfigMap(spec.installationName, effective, conflist, bird, hash),
    renderDaemonSet(spec, effective, image, specHash),
  ]);
  return { objects, explain, degraded, effective, configHash: hash, specHash, image };
}

/** Installation.status.encapsulation: "VXLANCrossSubnet" when all pools agree, else "a=None,b=VXLAN". */
export function encapsulationSummary(pools: readonly Pick<EffectivePool, 'name' | 'encapsulation'>[]): string {
  const modes = new Set(pools.map((p) => p.encapsulation));
  if (modes.size === 1) return [...modes][0]!;
  return pools.map((p) => `${p.name}=${p.encapsulation}`).join(',');
}
