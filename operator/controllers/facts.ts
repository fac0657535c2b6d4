// Cluster facts for render, from the informer caches: each Node's labels plus what its agent
// reported in its NodeNetwork (underlay address and MTU). One agent's malformed report must not
// stop the whole cluster from being reconciled, so values render would reject are dropped here.
import ipaddr from 'ipaddr.js';
import type { NodeNetwork } from '../../api/index.ts';
import type { ClusterFacts, NodeFacts } from '../../render/index.ts';
import type { KubeObject } from '../../kube/index.ts';
import { isConditionTrue } from './rollout.ts';

function validCidr(v: unknown): v is string {
  if (typeof v !== 'string' || !v.includes('/')) return false;
  try {
    ipaddr.parseCIDR(v);
    return true;
  } catch {
    return false;
  }
}

export interface FactsResult {
  facts: ClusterFacts;
  /** Reports that were dropped, "node: field value", for a log line. */
  dropped: string[];
}

export function buildFacts(nodes: readonly KubeObject[], nodeNetworks: readonly NodeNetwork[]): FactsResult {
  const reports = new Map<string, NodeNetwork>();
  for (const nn of nodeNetworks) reports.set(nn.spec?.nodeName || nn.metadata?.name || '', nn);
  const dropped: string[] = [];
  const out: NodeFacts[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name;
    if (!name || n.metadata?.deletionTimestamp) continue;
    const f: NodeFacts = { name, labels: { ...(n.metadata?.labels ?? {}) } };
    const providerID = (n as { spec?: { providerID?: unknown } }).spec?.providerID;
    if (typeof providerID === 'string' && providerID !== '') f.providerID = providerID;
    const internalIPs = internalIPsOf(n);
    if (internalIPs.length) f.internalIPs = internalIPs;
    const st = reports.get(name)?.status;
    if (st?.address !== undefined) {
      if (validCidr(st.address)) f.address = st.address;
      else dropped.push(`${name}: address ${JSON.stringify(st.address)}`);
    }
    if (st?.addressV6 !== undefined) {
      if (validCidr(st.addressV6) && st.addressV6.includes(':')) f.addressV6 = st.addressV6;
      else dropped.push(`${name}: addressV6 ${JSON.stringify(st.addressV6)}`);
    }
    if (st?.mtu !== undefined) {
      if (Number.isInteger(st.mtu) && st.mtu >= 576 && st.mtu <= 65535) f.mtu = st.mtu;
      else dropped.push(`${name}: mtu ${JSON.stringify(st.mtu)}`);
    }
    out.push(f);
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { facts: { nodes: out }, dropped };
}

/** The Node's InternalIP addresses (status.addresses), the valid ones. */
function internalIPsOf(n: KubeObject): string[] {
  const addresses = ((n as { status?: { addresses?: { type?: string; address?: string }[] } }).status?.addresses ?? []);
  return addresses.filter((a) => a.type === 'InternalIP' && typeof a.address === 'string' && ipaddr.isValid(a.address)).map((a) => a.address!);
}

/** What of a Node the Installation depends on: a change elsewhere (heartbeats, other status) is ignored. */
export function nodeProjection(n: KubeObject): string {
  return JSON.stringify([n.metadata?.labels ?? {}, !!n.metadata?.deletionTimestamp, internalIPsOf(n), (n as { spec?: { providerID?: unknown } }).spec?.providerID ?? '']);
}

/** What of a NodeNetwork the Installation depends on. */
export function nodeNetworkProjection(nn: NodeNetwork): string {
  const s = nn.status;
  // podUID: a report of a new agent pod with an unchanged hash still changes what the rollout sees.
  return JSON.stringify([s?.address, s?.addressV6, s?.mtu, s?.configHash, s?.podUID, isConditionTrue(s?.conditions, 'Ready')]);
}
