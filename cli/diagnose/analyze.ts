// The pure half of `weft diagnose`: snapshot -> findings. No I/O and no clock (the snapshot's
// collectedAt is "now"), so each finding is tested on a crafted snapshot. One fault should give
// one finding: consequences of a problem already reported (a BGP session down because the peer's
// BIRD is down, a DF ping failing because the node's own interface is too small) are added to
// that finding's evidence instead of being reported again.
import ipaddr from 'ipaddr.js';
import { blockCapacityOf, vxlanDefaults, nodeSelectorMatches, parseNodeSelector, poolEncapsulationFacts, type EffectiveEncapsulation, type IPAMBlock, type NodeNetwork } from '../../api/index.ts';
import { describeFixes, type Fix } from '../../api/advice.ts';
import { blocksInPool, cidrsOverlap, freePoolCidr } from '../../api/validation/pools.ts';
import {
  isUnavailable, type AgentReport, type BgpSessionFacts, type DfProbe, type Finding, type InterfaceFacts, type Severity, type Snapshot, type TunnelProbe,
} from './snapshot.ts';

export interface AnalysisOptions {
  /** Pool utilization thresholds (fractions). */
  poolWarn: number;
  poolCritical: number;
  conntrackWarn: number;
  conntrackCritical: number;
  /** Progressing=True for longer than this is a stalled rollout. */
  rolloutStallMs: number;
  /** Our conflist's file name when no NodeNetwork reports it. */
  conflistName: string;
}

export const defaultAnalysisOptions: AnalysisOptions = {
  poolWarn: 0.8,
  poolCritical: 0.95,
  conntrackWarn: 0.8,
  conntrackCritical: 0.95,
  rolloutStallMs: 10 * 60_000,
  conflistName: '10-weft.conflist',
};

/** Every finding id, its severity (or severities) and what it checks: the documentation of `weft diagnose`. */
export const FINDINGS: Record<string, { severity: string; checks: string }> = {
  'installation-missing': { severity: 'critical', checks: 'no Installation "default": nothing is installed' },
  'operator-degraded': { severity: 'critical', checks: 'the Installation is Degraded (reason and message from the operator)' },
  'rollout-stalled': { severity: 'warning', checks: 'Progressing=True for longer than the stall time, or the operator has not observed the latest generation' },
  'agent-missing': { severity: 'critical', checks: 'a Node has no NodeNetwork: no agent runs there (or it cannot reach the API)' },
  'agent-not-ready': { severity: 'critical', checks: 'a node agent reports Ready=False (its reason) or its pod is not ready' },
  'agent-unreachable': { severity: 'warning', checks: '/debug/diagnose of a node agent cannot be read; node-level checks of that node are skipped' },
  'mtu-exceeds-underlay': { severity: 'critical', checks: 'pod MTU + encapsulation overhead > the MTU of the node\'s underlay interface (as the kernel shows it now)' },
  'mtu-path-df-failed': { severity: 'critical', checks: 'a DF ping between two nodes\' underlay addresses at pod MTU + overhead fails while a small one passes' },
  'cni-conflist-missing': { severity: 'critical', checks: 'Weft\'s conflist is not in the node\'s CNI conf dir' },
  'cni-conflist-shadowed': { severity: 'critical', checks: 'another CNI config (.conf/.conflist/.json) sorts before Weft\'s: the runtime uses it instead' },
  'cni-conflist-invalid': { severity: 'critical', checks: 'Weft\'s conflist does not parse' },
  'cni-plugin-missing': { severity: 'critical', checks: 'a plugin the conflist chains is not in the CNI bin dir' },
  'ipam-pool-utilization': { severity: 'warning >= 80% / critical >= 95%', checks: 'addresses allocated / addresses the pool can hand out' },
  'ipam-node-blocks-full': { severity: 'warning (pool has free blocks) / critical (pool has none)', checks: 'every block a node holds in a pool is full' },
  'ipam-leaked-addresses': { severity: 'warning', checks: 'host-local holds addresses for no pod on the node (count per node)' },
  'ipam-orphan-block': { severity: 'warning', checks: 'an IPAMBlock names a node that no longer exists (or an earlier node of that name)' },
  'bgp-daemon-down': { severity: 'critical', checks: 'BGP dataplane and BIRD does not answer on the node' },
  'bgp-session-down': { severity: 'critical', checks: 'a BGP session is not Established (with the peer and BIRD\'s info)' },
  'vxlan-fdb-missing': { severity: 'critical', checks: 'the VXLAN device lacks the FDB entry (peer VTEP MAC -> peer underlay address) of a peer' },
  'vxlan-neighbour-missing': { severity: 'critical', checks: 'the VXLAN device lacks the neighbour entry (peer tunnel address -> peer VTEP MAC) of a peer' },
  'vxlan-udp-blocked': { severity: 'critical', checks: 'the underlay ping to a peer passes but the tunnel ping (UDP, spec.network.vxlan.port) fails with all entries present' },
  'underlay-address-duplicated': { severity: 'critical', checks: 'two or more nodes advertise the same underlay address (a copy such as a NAT interface every VM has); notes when it is none of the Nodes\' InternalIPs' },
  'underlay-address-gone': { severity: 'critical', checks: 'the address a node advertises (NodeNetwork.status.address) is no longer on any of its interfaces (a floating address that moved)' },
  'pool-overlaps-node-subnet': { severity: 'critical', checks: 'a pod pool overlaps the subnet of the nodes\' underlay addresses' },
  'ipam-pool-out-of-blocks': { severity: 'critical', checks: 'a pool has fewer blocks than the nodes it selects: some nodes get no block' },
  'bgp-mesh-across-subnets': { severity: 'critical', checks: 'a BGP full mesh routes a pool but the nodes are not all in one underlay subnet' },
  'address-wrong-interface': { severity: 'critical', checks: 'the autodetected underlay address is on a bridge, CNI, container or tunnel interface, or inside a pod pool' },
  'hostgw-nodes-not-one-subnet': { severity: 'critical', checks: 'a host-gw pool is in use but the nodes are not all in one underlay subnet' },
  'kernel-ip-forward-off': { severity: 'critical', checks: 'net.ipv4.ip_forward is not 1' },
  'kernel-rp-filter-strict': { severity: 'warning', checks: 'strict rp_filter (1) on a tunnel path (max of conf/all and conf/<tunnel device>)' },
  'kernel-gc-thresh3-low': { severity: 'warning', checks: 'net.ipv4.neigh.default.gc_thresh3 below 2 x (nodes + pods on the node)' },
  'kernel-conntrack-near-full': { severity: 'warning >= 80% / critical >= 95%', checks: 'nf_conntrack_count / nf_conntrack_max' },
};

// ---------- small helpers ----------

function cond(obj: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[] } } | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

function addrOf(cidr: string | undefined): string | undefined { return cidr?.split('/')[0]; }

function inSubnet(cidr: string | undefined, address: string | undefined): boolean {
  if (!cidr || !address || !cidr.includes('/')) return false;
  try {
    const [net, len] = ipaddr.parseCIDR(cidr);
    const a = ipaddr.parse(address);
    return a.kind() === net.kind() && a.match(net, len);
  } catch { return false; }
}

function list<T>(x: T[] | { unavailable: string } | undefined): T[] | undefined {
  return x === undefined || isUnavailable(x) ? undefined : x;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface PoolView { name: string; cidr: string; blockSize: number; encapsulation: EffectiveEncapsulation | string; dataplane: string }

function pools(s: Snapshot): PoolView[] {
  const st = s.installation?.status?.ipPools;
  if (st?.length) return st.map((p) => ({ name: p.name, cidr: p.cidr, blockSize: p.blockSize, encapsulation: p.encapsulation, dataplane: p.dataplane ?? '' }));
  return (s.installation?.spec?.network?.ipPools ?? []).map((p) => ({ name: p.name, cidr: p.cidr, blockSize: p.blockSize ?? 26, encapsulation: p.encapsulation ?? 'Auto', dataplane: '' }));
}

// The pool's facts from api/encapsulation.ts, by its encapsulation or its dataplane (both
// spellings bridged by that table); unknown or unresolved (Auto) modes count as no tunnel.
function overheadOf(p: PoolView): number { return poolEncapsulationFacts(p)?.overhead ?? 0; }
function isVxlan(p: PoolView): boolean { return poolEncapsulationFacts(p)?.tunnel === 'vxlan'; }
function isCrossSubnet(p: PoolView): boolean { return poolEncapsulationFacts(p)?.crossSubnet ?? false; }
function isHostGw(p: PoolView): boolean { return p.dataplane === 'host-gw'; }
function isBgp(p: PoolView): boolean { return p.dataplane === 'bgp'; }

class Findings {
  readonly out: Finding[] = [];
  add(f: Finding): Finding { this.out.push(f); return f; }
  find(id: string, node?: string): Finding | undefined { return this.out.find((f) => f.id === id && (node === undefined || f.node === node)); }
  has(id: string, node?: string): boolean { return this.find(id, node) !== undefined; }
  onNode(node: string): Finding[] { return this.out.filter((f) => f.node === node); }
}

function agentOf(s: Snapshot, node: string): AgentReport | undefined {
  const a = s.agents[node];
  return a && !a.error ? a : undefined;
}

function nodeNetwork(s: Snapshot, node: string): NodeNetwork | undefined {
  return s.nodeNetworks.find((n) => n.metadata?.name === node);
}

function podMtu(s: Snapshot, nn: NodeNetwork | undefined): number | undefined {
  return nn?.status?.podMTU ?? s.installation?.status?.mtu ?? s.installation?.spec?.network?.mtu;
}

/** The underlay interface as the kernel shows it now (agent report), else as the agent reported it at start. */
function underlayInterface(s: Snapshot, node: string): { name?: string; mtu?: number; iface?: InterfaceFacts } {
  const nn = nodeNetwork(s, node);
  const name = nn?.status?.interface;
  const iface = list(agentOf(s, node)?.interfaces)?.find((i) => i.name === name);
  return { name, mtu: iface?.mtu ?? nn?.status?.mtu, iface };
}

function nodeByAddress(s: Snapshot, address: string): string | undefined {
  return s.nodeNetworks.find((n) => addrOf(n.status?.address) === address)?.metadata?.name
    ?? s.nodes.find((n) => n.internalIPs.includes(address))?.name;
}

// ---------- the checks ----------

function checkInstallation(s: Snapshot, f: Findings, o: AnalysisOptions): void {
  const inst = s.installation;
  if (!inst) {
    f.add({ id: 'installation-missing', severity: 'critical', summary: 'no Installation "default": Weft is not installed in this cluster', evidence: ['GET installations.operator.weft.dev/default: not found'], remediation: 'kubectl apply --server-side -f config/samples/installation.yaml (edit the pools first)' });
    return;
  }
  const events = s.events.filter((e) => e.kind === 'Installation' && e.type === 'Warning').slice(-3).map((e) => `event ${e.reason}: ${e.note}`);
  const degraded = cond(inst, 'Degraded');
  if (degraded?.status === 'True') {
    f.add({
      id: 'operator-degraded', severity: 'critical',
      summary: `the operator refuses the Installation (${degraded.reason}): the previous configuration keeps running`,
      evidence: [`Degraded=True ${degraded.reason}: ${degraded.message}`, ...events],
      remediation: `fix what the message names in the Installation spec (kubectl edit installation default): ${degraded.message}`,
    });
  }
  const progressing = cond(inst, 'Progressing');
  const now = Date.parse(s.collectedAt);
  const since = Date.parse(progressing?.lastTransitionTime ?? '');
  if (progressing?.status === 'True' && Number.isFinite(since) && now - since > o.rolloutStallMs) {
    const n = inst.status?.nodes;
    const behind = s.nodeNetworks.filter((x) => inst.status?.configHash && x.status?.configHash !== inst.status.configHash).map((x) => x.metadata?.name ?? '?');
    f.add({
      id: 'rollout-stalled', severity: 'warning',
      summary: `the node-agent rollout has been in progress for ${Math.round((now - since) / 60_000)} minutes`,
      evidence: [`Progressing=True ${progressing.reason}: ${progressing.message}`, ...(n ? [`nodes: ${n.ready ?? 0} ready, ${n.updated ?? 0} updated of ${n.desired ?? 0}`] : []), ...(behind.length ? [`not on configuration ${inst.status!.configHash!.slice(0, 12)}: ${behind.join(', ')}`] : []), ...events],
      remediation: 'look at the agents that are not updated or not Ready (kubectl -n weft-system get pods -o wide; their logs); a paused rollout resumes with spec.nodeUpdateStrategy.paused=false',
    });
  }
}

function checkAgents(s: Snapshot, f: Findings): void {
  for (const node of s.nodes) {
    const nn = nodeNetwork(s, node.name);
    const pod = s.agentPods?.find((p) => p.node === node.name);
    if (!nn) {
      f.add({
        id: 'agent-missing', severity: 'critical', node: node.name,
        summary: `node ${node.name} has no NodeNetwork: no Weft agent runs there or it cannot reach the API`,
        evidence: [pod ? `agent pod ${pod.name}: ${pod.phase ?? '?'}, ready ${pod.ready}, ${pod.restarts} restarts${pod.detail ? `, ${pod.detail}` : ''}` : 'no weft-node pod on this node'],
        remediation: pod ? `kubectl -n weft-system logs ${pod.name}` : 'check the weft-node DaemonSet (kubectl -n weft-system describe ds weft-node): taints, node selector, image pull',
      });
      continue;
    }
    const ready = cond(nn, 'Ready');
    const evidence: string[] = [];
    if (ready?.status !== 'True') evidence.push(`NodeNetwork Ready=${ready?.status ?? 'Unknown'}${ready?.reason ? ` ${ready.reason}` : ''}: ${ready?.message ?? 'the agent has not reported'}`);
    if (pod && !pod.ready) evidence.push(`agent pod ${pod.name} not ready (${pod.phase ?? '?'}, ${pod.restarts} restarts${pod.detail ? `, ${pod.detail}` : ''})`);
    if (evidence.length) {
      f.add({
        id: 'agent-not-ready', severity: 'critical', node: node.name,
        summary: `the Weft agent on ${node.name} is not Ready${ready?.reason ? ` (${ready.reason})` : ''}`,
        evidence,
        remediation: `kubectl -n weft-system logs ${pod?.name ?? `-l app.kubernetes.io/name=weft-node --field-selector spec.nodeName=${node.name}`}; the message says what the agent could not do`,
      });
    }
    const agent = s.agents[node.name];
    if (agent?.error) {
      f.add({
        id: 'agent-unreachable', severity: 'warning', node: node.name,
        summary: `cannot read the agent's /debug/diagnose on ${node.name}: node-level checks of this node were skipped`,
        evidence: [`${agent.endpoint}: ${agent.error}`],
        remediation: 'check that the agent runs and that this machine reaches the node on the health port (weft diagnose --agent-address NODE=HOST:PORT overrides the address)',
      });
    }
  }
}

function checkMtu(s: Snapshot, f: Findings): void {
  const ps = pools(s);
  const overhead = Math.max(0, ...ps.map(overheadOf));
  const mode = ps.find((p) => overheadOf(p) === overhead)?.encapsulation ?? 'None';
  for (const node of s.nodes) {
    const nn = nodeNetwork(s, node.name);
    const pod = podMtu(s, nn);
    const u = underlayInterface(s, node.name);
    if (pod === undefined || u.mtu === undefined) continue;
    if (pod + overhead > u.mtu) {
      const agentCond = cond(nn, 'MTUTooLarge');
      f.add({
        id: 'mtu-exceeds-underlay', severity: 'critical', node: node.name,
        summary: `pod MTU ${pod} + ${overhead} bytes of ${mode} overhead exceeds ${u.name ?? 'the underlay'}'s MTU ${u.mtu} on ${node.name}: large packets between pods are dropped`,
        evidence: [`${u.name ?? 'underlay'} mtu ${u.mtu}${u.iface ? ' (kernel, now)' : ' (NodeNetwork.status.mtu)'}`, `pod MTU ${pod} (${nn?.status?.podMTU !== undefined ? 'NodeNetwork.status.podMTU' : 'Installation.status.mtu'})`, ...(agentCond?.status === 'True' ? [`agent condition MTUTooLarge: ${agentCond.message}`] : [])],
        remediation: `set spec.network.mtu to at most ${u.mtu - overhead} (or remove it to let Weft use min underlay MTU - overhead), or raise ${u.name ?? 'the underlay interface'}'s MTU on ${node.name} to at least ${pod + overhead} (then restart the agent there so it detects the new MTU)`,
      });
    }
  }
  // DF probes: a failure explained by an end's own interface belongs to that finding.
  const failed = (s.dfProbes ?? []).filter((p) => !p.ok && p.smallOk);
  const unexplained: DfProbe[] = [];
  for (const p of failed) {
    const owner = f.find('mtu-exceeds-underlay', p.from) ?? f.find('mtu-exceeds-underlay', p.to);
    if (owner) owner.evidence.push(`DF ping ${p.from} -> ${p.to} with ${p.size} bytes of payload fails`);
    else unexplained.push(p);
  }
  const seen = new Set<string>();
  for (const p of unexplained) {
    const key = [p.from, p.to].sort(byName).join('|');
    if (seen.has(key)) continue;
    seen.add(key);
    const back = unexplained.find((q) => q.from === p.to && q.to === p.from);
    f.add({
      id: 'mtu-path-df-failed', severity: 'critical', node: p.from, peer: p.to,
      summary: `the underlay between ${p.from} and ${p.to} does not carry ${p.size + 28}-byte packets with DF set: pod packets at the configured MTU are dropped on this path`,
      evidence: [`ping -M do -s ${p.size} ${p.from} -> ${p.to} fails${p.detail ? `: ${p.detail}` : ''}; a small ping passes`, ...(back ? [`also ${p.to} -> ${p.from}`] : [])],
      remediation: `find the hop with the smaller MTU between ${p.from} and ${p.to} (tracepath from ${p.from}) and raise it, or set spec.network.mtu to fit it`,
    });
  }
}

function checkConflist(s: Snapshot, f: Findings, o: AnalysisOptions): void {
  for (const node of s.nodes) {
    const a = agentOf(s, node.name);
    if (!a) continue;
    const nn = nodeNetwork(s, node.name);
    const ours = nn?.status?.cni?.conflist?.split('/').pop() || o.conflistName;
    const dir = a.conflistDir && !isUnavailable(a.conflistDir) ? a.conflistDir : undefined;
    if (dir) {
      const configs = dir.entries.filter((e) => /\.(conf|conflist|json)$/.test(e)).sort(byName);
      if (!configs.includes(ours)) {
        f.add({
          id: 'cni-conflist-missing', severity: 'critical', node: node.name,
          summary: `${dir.path}/${ours} is missing on ${node.name}: new pods there get no network`,
          evidence: [`${dir.path} holds: ${dir.entries.join(', ') || '(nothing)'}`, `NodeNetwork.status.cni.written=${nn?.status?.cni?.written ?? '?'}`],
          remediation: `the agent writes it once it holds a block: see its Ready condition and logs (kubectl -n weft-system logs the weft-node pod on ${node.name}); check that ${dir.path} is writable`,
        });
      } else if (configs[0] !== ours) {
        const before = configs.slice(0, configs.indexOf(ours));
        f.add({
          id: 'cni-conflist-shadowed', severity: 'critical', node: node.name,
          summary: `${before.join(', ')} sorts before ${ours} in ${dir.path} on ${node.name}: the container runtime uses ${before[0]} for new pods, not Weft`,
          evidence: [`${dir.path}: ${configs.join(', ')}`],
          remediation: `remove ${before.map((b) => `${dir.path}/${b}`).join(', ')} on ${node.name} (another CNI's leftover) or uninstall that CNI; pods created since it appeared must be recreated`,
        });
      }
    }
    const cl = a.conflist && !isUnavailable(a.conflist) ? a.conflist : undefined;
    if (cl && 'error' in cl) {
      f.add({
        id: 'cni-conflist-invalid', severity: 'critical', node: node.name,
        summary: `${cl.name} on ${node.name} does not parse: the runtime cannot set up pods`,
        evidence: [cl.error],
        remediation: `delete ${cl.name} on ${node.name}; the agent rewrites it on its next pass (within its resync interval)`,
      });
    }
    const bin = a.cniBinDir && !isUnavailable(a.cniBinDir) ? a.cniBinDir : undefined;
    if (cl && 'plugins' in cl && bin) {
      const missing = cl.plugins.filter((p) => !bin.entries.includes(p));
      if (missing.length) {
        f.add({
          id: 'cni-plugin-missing', severity: 'critical', node: node.name,
          summary: `CNI plugin${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing from ${bin.path} on ${node.name}: every pod setup there fails`,
          evidence: [`${cl.name} chains ${cl.plugins.join(', ')}`, `${bin.path} holds ${bin.entries.length} files`],
          remediation: `restart the weft-node pod on ${node.name} (its install-cni init container copies the plugins), or install containernetworking-plugins into ${bin.path}`,
        });
      }
    }
  }
}

/** What the agent reported for the block, else what host-local will hand out from it. */
function reportedCapacity(b: IPAMBlock, size: number): number {
  return b.status?.capacity ?? blockCapacityOf(b.spec.cidr.includes(':') ? 6 : 4, size);
}

function checkIpam(s: Snapshot, f: Findings, o: AnalysisOptions): void {
  const nodeNames = new Set(s.nodes.map((n) => n.name));
  for (const p of pools(s)) {
    let prefix: number;
    try { prefix = ipaddr.parseCIDR(p.cidr)[1]; } catch { continue; }
    const blocks = s.blocks.filter((b) => b.spec.pool === p.name);
    const totalBlocks = 2 ** (p.blockSize - prefix);
    const perBlock = blocks[0] ? reportedCapacity(blocks[0], p.blockSize) : blockCapacityOf(p.cidr.includes(':') ? 6 : 4, p.blockSize);
    const capacity = totalBlocks * perBlock;
    const allocated = blocks.reduce((n, b) => n + (b.status?.allocated ?? nodeBlock(s, b)?.allocated ?? 0), 0);
    const used = capacity > 0 ? allocated / capacity : 0;
    if (used >= o.poolWarn) {
      const severity: Severity = used >= o.poolCritical ? 'critical' : 'warning';
      f.add({
        id: 'ipam-pool-utilization', severity,
        summary: `pool ${p.name} (${p.cidr}) is ${Math.floor(used * 100)}% allocated`,
        evidence: [`${allocated} of ${capacity} addresses (${blocks.length} of ${totalBlocks} /${p.blockSize} blocks claimed)`],
        remediation: `add a pool to spec.network.ipPools (pools cannot be resized in place), or free addresses (completed pods, leaked addresses: see ipam-leaked-addresses)`,
      });
    }
    const free = totalBlocks - blocks.length;
    for (const node of [...new Set(blocks.map((b) => b.spec.node))].sort(byName)) {
      const mine = blocks.filter((b) => b.spec.node === node);
      const counts = mine.map((b) => ({ cidr: b.spec.cidr, allocated: b.status?.allocated ?? nodeBlock(s, b)?.allocated, capacity: nodeBlock(s, b)?.capacity ?? b.status?.capacity }));
      if (!counts.length || counts.some((c) => c.allocated === undefined || c.capacity === undefined || c.allocated < c.capacity)) continue;
      f.add({
        id: 'ipam-node-blocks-full', severity: free > 0 ? 'warning' : 'critical', node,
        summary: `every block ${node} holds in pool ${p.name} is full: ${free > 0 ? 'new pods wait until the agent claims another block' : 'the pool has no free block left, so new pods on this node fail'}`,
        evidence: counts.map((c) => `${c.cidr}: ${c.allocated}/${c.capacity}`).concat(`${free} unclaimed blocks in ${p.cidr}`),
        remediation: free > 0 ? `check the agent on ${node} (it claims a block above its threshold; see its logs and Ready condition)` : `add a pool to spec.network.ipPools, or a smaller blockSize for a new pool; release leaked addresses`,
      });
    }
  }
  for (const nn of s.nodeNetworks) {
    const name = nn.metadata?.name ?? '';
    const a = agentOf(s, name);
    const leaked = Math.max(nn.status?.ipam?.leaked ?? 0, a?.leaked ?? 0);
    if (leaked > 0) {
      f.add({
        id: 'ipam-leaked-addresses', severity: 'warning', node: name,
        summary: `${leaked} address${leaked > 1 ? 'es' : ''} on ${name} held by host-local for no pod`,
        evidence: [`leaked ${leaked} (agent ${a?.leaked !== undefined ? `now ${a.leaked}` : '-'}, NodeNetwork.status.ipam.leaked ${nn.status?.ipam?.leaked ?? '-'}); released so far ${nn.status?.ipam?.released ?? 0}`],
        remediation: `the agent releases them after its grace period (--leak-grace-period, 10m); if they keep coming, CNI DEL fails on ${name}: check the container runtime's logs`,
      });
    }
  }
  const nodeUid = new Map(s.nodes.map((n) => [n.name, n.uid]));
  for (const b of s.blocks) {
    const owner = b.metadata?.ownerReferences?.find((r) => r.kind === 'Node');
    const gone = !nodeNames.has(b.spec.node);
    const stale = !gone && owner && nodeUid.get(b.spec.node) && owner.uid !== nodeUid.get(b.spec.node);
    if (!gone && !stale) continue;
    f.add({
      id: 'ipam-orphan-block', severity: 'warning', node: b.spec.node,
      summary: `block ${b.spec.cidr} of pool ${b.spec.pool} belongs to ${gone ? `node ${b.spec.node}, which no longer exists` : `an earlier node named ${b.spec.node}`}`,
      evidence: [`IPAMBlock ${b.metadata?.name}: node ${b.spec.node}${owner ? `, owner uid ${owner.uid}` : ', no owner reference'}${b.metadata?.creationTimestamp ? `, created ${b.metadata.creationTimestamp}` : ''}`],
      remediation: `the operator releases it after its grace period; if it stays, check the operator's logs, or kubectl delete ipamblock ${b.metadata?.name} once no pod uses its addresses`,
    });
  }
}

function nodeBlock(s: Snapshot, b: IPAMBlock) {
  return nodeNetwork(s, b.spec.node)?.status?.blocks?.find((x) => x.cidr === b.spec.cidr);
}

/**
 * How to fix a session that is down, from what BIRD said and what the Installation says of the
 * peer: a wrong AS, a password (an MD5 mismatch is silent: the kernel drops the segments, so the
 * session only times out), a multihop peer, or the network between them.
 */
export function bgpSessionFix(node: string, x: BgpSessionFacts, peer: { asNumber?: number; passwordSecretKey?: string; ebgpMultihop?: number; configured: boolean }): string {
  const err = x.lastError ?? '';
  const where = peer.configured ? `spec.network.bgp.peers (peerIP ${x.peer})` : 'spec.network.bgp';
  if (/Bad peer AS/i.test(err)) return `the AS numbers do not match: the peer ${x.peer} rejects ${node}'s AS or reports another one; set the peer's asNumber in ${where} (and the weft.dev/bgp-as-number annotation of the Nodes) to what the router is configured with`;
  if (/Authentication|MD5/i.test(err)) return `the session password does not match: make key ${peer.passwordSecretKey ?? '<passwordSecretKey>'} of Secret weft-system/weft-bgp-passwords equal to the router's password for ${node}`;
  if (peer.passwordSecretKey) return `the session to ${x.peer} uses a TCP MD5 password (key ${peer.passwordSecretKey} of Secret weft-system/weft-bgp-passwords); a mismatch is silent (the kernel drops the segments, BIRD sees only timeouts): compare it with the router's password for ${node}, then check TCP 179 between them`;
  if (peer.configured && peer.ebgpMultihop === undefined) return `${x.peer} is a configured peer without ebgpMultihop: Weft expects it on ${node}'s segment; if it is routed hops away set ebgpMultihop in ${where}, else check TCP 179 between them and the router's neighbor configuration for ${node}`;
  return `check TCP 179 between ${node} and ${x.peer} (firewalls), the peer's AS number in ${where}, and BIRD on the peer (birdc show protocols all)`;
}

function checkBgp(s: Snapshot, f: Findings): void {
  const bgpSpec = s.installation?.spec?.network?.bgp;
  const enabled = (bgpSpec?.mode !== undefined && bgpSpec.mode !== 'Disabled') || (bgpSpec?.peers?.length ?? 0) > 0;
  if (!pools(s).some(isBgp) && !enabled) return;
  const down = new Set<string>();
  for (const node of s.nodes) {
    const a = agentOf(s, node.name);
    if (a?.bgp && isUnavailable(a.bgp)) {
      down.add(node.name);
      f.add({
        id: 'bgp-daemon-down', severity: 'critical', node: node.name,
        summary: `BIRD does not answer on ${node.name}: it announces no routes and learns none`,
        evidence: [a.bgp.unavailable],
        remediation: `the agent on ${node.name} starts BIRD on its next pass; if it stays down, see the agent's log (bird -p on its config) and restart the weft-node pod`,
      });
    }
  }
  for (const node of s.nodes) {
    const sessions: BgpSessionFacts[] = list(agentOf(s, node.name)?.bgp) ?? [];
    for (const x of sessions) {
      if (x.state === 'Established') continue;
      const peerNode = nodeByAddress(s, x.peer);
      if (peerNode && down.has(peerNode)) {
        f.find('bgp-daemon-down', peerNode)!.evidence.push(`${node.name}'s session to it: ${x.state}${x.info ? ` (${x.info})` : ''}`);
        continue;
      }
      f.add({
        id: 'bgp-session-down', severity: 'critical', node: node.name, peer: peerNode ?? x.peer,
        summary: `BGP session ${node.name} -> ${peerNode ? `${peerNode} (${x.peer})` : x.peer} is ${x.state}, not Established: routes to its blocks are missing`,
        evidence: [`${x.name ?? 'session'} ${x.peer}: ${x.state}${x.info ? ` ${x.info}` : ''}${x.lastError ? `; last error: ${x.lastError}` : ''}`],
        remediation: bgpSessionFix(node.name, x, ((p) => (p ? { ...p, configured: true } : { configured: false }))(bgpSpec?.peers?.find((p) => p.peerIP === x.peer))),
      });
    }
  }
}

/** The UDP port VXLAN packets travel on: the Installation's, else the default. */
function vxlanPort(s: Snapshot): number {
  return s.installation?.spec?.network?.vxlan?.port ?? vxlanDefaults.port;
}

interface VxlanPeer { node: string; address: string; mac: string; tunnelIp: string }

/** The peers node reaches through VXLAN, from their NodeNetworks (what the agent programs). */
function vxlanPeers(s: Snapshot, node: string, crossSubnet: boolean): VxlanPeer[] {
  const me = nodeNetwork(s, node);
  const out: VxlanPeer[] = [];
  for (const nn of s.nodeNetworks) {
    const name = nn.metadata?.name;
    const address = addrOf(nn.status?.address);
    const mac = nn.status?.vtep?.mac;
    const tunnelIp = nn.status?.vtep?.ip;
    if (!name || name === node || !address || !mac || !tunnelIp) continue;
    if (crossSubnet && inSubnet(me?.status?.address, address)) continue;
    out.push({ node: name, address, mac: mac.toLowerCase(), tunnelIp });
  }
  return out.sort((a, b) => byName(a.node, b.node));
}

function checkVxlan(s: Snapshot, f: Findings): void {
  const vx = pools(s).filter(isVxlan);
  if (!vx.length) return;
  const crossSubnet = vx.every(isCrossSubnet);
  const broken = new Set<string>();
  for (const node of s.nodes) {
    const a = agentOf(s, node.name);
    if (!a || !nodeNetwork(s, node.name)?.status?.vtep) continue;
    const peers = vxlanPeers(s, node.name, crossSubnet);
    const fdb = list(a.fdb);
    if (fdb) {
      const missing = peers.filter((p) => !fdb.some((e) => e.mac.toLowerCase() === p.mac && e.dst === p.address));
      if (missing.length) {
        for (const p of missing) broken.add([node.name, p.node].sort(byName).join('|'));
        f.add({
          id: 'vxlan-fdb-missing', severity: 'critical', node: node.name, peer: missing.map((p) => p.node).join(','),
          summary: `the VXLAN device on ${node.name} has no FDB entry for ${missing.map((p) => p.node).join(', ')}: pod traffic to ${missing.length > 1 ? 'them' : 'it'} is dropped`,
          evidence: missing.map((p) => `missing: ${p.mac} dst ${p.address} (${p.node})`),
          remediation: `the agent on ${node.name} re-adds them on its next pass (resync interval); if they stay missing, see its log for kernel sync errors, or restart the weft-node pod on ${node.name}`,
        });
      }
    }
    const neigh = list(a.neighbours);
    if (neigh) {
      const missing = peers.filter((p) => !neigh.some((e) => e.dst === p.tunnelIp && e.lladdr?.toLowerCase() === p.mac && !e.state.includes('FAILED') && !e.state.includes('INCOMPLETE')));
      if (missing.length) {
        for (const p of missing) broken.add([node.name, p.node].sort(byName).join('|'));
        f.add({
          id: 'vxlan-neighbour-missing', severity: 'critical', node: node.name, peer: missing.map((p) => p.node).join(','),
          summary: `the VXLAN device on ${node.name} has no neighbour entry for the tunnel address of ${missing.map((p) => p.node).join(', ')}: pod traffic to ${missing.length > 1 ? 'them' : 'it'} is dropped`,
          evidence: missing.map((p) => `missing: ${p.tunnelIp} lladdr ${p.mac} (${p.node})`),
          remediation: `the agent on ${node.name} re-adds them on its next pass; if they stay missing, see its log for kernel sync errors, or restart the weft-node pod on ${node.name}`,
        });
      }
    }
  }
  // Tunnel probes: failures with every entry present point at the path (the VXLAN UDP port). A node that
  // is an end of most failing pairs is the one that drops them.
  let pending: TunnelProbe[] = (s.tunnelProbes ?? []).filter((p) => p.underlayOk && !p.tunnelOk && !broken.has([p.from, p.to].sort(byName).join('|')));
  while (pending.length) {
    const count = new Map<string, number>();
    for (const p of pending) for (const n of new Set([p.from, p.to])) count.set(n, (count.get(n) ?? 0) + 1);
    const [culprit] = [...count].sort((a, b) => b[1] - a[1] || byName(a[0], b[0]))[0]!;
    const mine = pending.filter((p) => p.from === culprit || p.to === culprit);
    const others = [...new Set(mine.map((p) => (p.from === culprit ? p.to : p.from)))].sort(byName);
    const blame = culprit;
    f.add({
      id: 'vxlan-udp-blocked', severity: 'critical', node: blame, peer: others.join(','),
      summary: `VXLAN packets (UDP ${vxlanPort(s)}) between ${blame} and ${others.join(', ')} do not arrive, while plain underlay pings do: pod traffic across this path is dropped`,
      evidence: mine.map((p) => `${p.from} -> ${p.to}: underlay ping ok, ping of tunnel address ${p.tunnelAddress} fails`),
      remediation: `allow UDP ${vxlanPort(s)} (spec.network.vxlan.port) from the other nodes' underlay addresses into ${blame} (host firewall: nft list ruleset / iptables -S on ${blame}; cloud security groups)`,
    });
    pending = pending.filter((p) => !mine.includes(p));
  }
}

/** Names that belong to bridges, CNIs and containers, never to the node's uplink. */
const NOT_UPLINK = /^(cni|docker|cali|flannel|weave|kube-bridge|kube-ipvs|virbr|br-|veth|lxc|cilium|vxlan|tunl|vnet|weft|genev|wg|podman|tap)/;
const TUNNEL_KINDS = new Set(['vxlan', 'ipip', 'gre', 'gretap', 'geneve', 'wireguard', 'tun', 'sit', 'ip6tnl']);

function checkAddressInterface(s: Snapshot, f: Findings): void {
  const poolCidrs = pools(s).map((p) => p.cidr);
  for (const nn of s.nodeNetworks) {
    const name = nn.metadata?.name ?? '';
    if (s.onlyNode && s.onlyNode !== name) continue;
    const ifname = nn.status?.interface;
    const address = addrOf(nn.status?.address);
    if (!ifname || !address) continue;
    const ifaces = list(agentOf(s, name)?.interfaces);
    const iface = ifaces?.find((i) => i.name === ifname);
    const reasons: string[] = [];
    if (NOT_UPLINK.test(ifname)) reasons.push(`${ifname} is named like a bridge, CNI or container interface`);
    if (iface && TUNNEL_KINDS.has(iface.kind)) reasons.push(`${ifname} is a ${iface.kind} tunnel`);
    if (iface?.kind === 'bridge' && ifaces) {
      const ports = ifaces.filter((i) => i.master === ifname);
      if (!ports.some((p) => p.kind !== 'veth' && p.kind !== 'tap')) reasons.push(`${ifname} is a bridge with ${ports.length ? `only container ports (${ports.map((p) => p.name).join(', ')})` : 'no ports'}: a container bridge, not the uplink`);
    }
    // An address inside a pool on an otherwise fine uplink is the pool's fault (pool-overlaps-node-subnet).
    if (!reasons.length) continue;
    const inPool = poolCidrs.find((c) => inSubnet(c, address));
    if (inPool) reasons.push(`${address} is inside pod pool ${inPool}`);
    const field = `spec.network.nodeAddressAutodetectionV${address.includes(':') ? 6 : 4}`;
    const fixes: Fix[] = [[{ path: field, value: { kubernetes: 'NodeInternalIP' } }], [{ path: field, value: { interface: 'eth0|ens.*' } }]];
    f.add({
      id: 'address-wrong-interface', severity: 'critical', node: name,
      summary: `${name}'s underlay address ${nn.status?.address} was autodetected on ${ifname}, which is not the node's uplink: peers route pod traffic to an address they cannot reach`,
      evidence: [...reasons, `autodetection method: ${nn.status?.autodetectionMethod ?? '?'}`],
      remediation: `set ${describeFixes(fixes)} (a regular expression of the uplink names), or ${field} to {canReach: <a router or the API server address>}, then let the rollout restart the agents`,
      fixes,
    });
  }
}

function checkHostGwSubnets(s: Snapshot, f: Findings): void {
  const hostGw = pools(s).filter(isHostGw);
  if (!hostGw.length) return;
  const nodes = s.nodeNetworks.filter((n) => n.status?.address).map((n) => ({ name: n.metadata?.name ?? '', cidr: n.status!.address! }));
  if (nodes.length < 2) return;
  // Group by subnet; the largest group is "the" subnet, the rest are the nodes that break host-gw.
  const groups: { subnet: string; names: string[] }[] = [];
  for (const n of nodes) {
    const g = groups.find((x) => inSubnet(x.subnet, addrOf(n.cidr)) && inSubnet(n.cidr, addrOf(x.subnet)));
    if (g) g.names.push(n.name);
    else groups.push({ subnet: n.cidr, names: [n.name] });
  }
  if (groups.length < 2) return;
  groups.sort((a, b) => b.names.length - a.names.length || byName(a.names[0]!, b.names[0]!));
  const describe = groups.map((g) => {
    const [net, len] = ipaddr.parseCIDR(g.subnet);
    const network = net.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(g.subnet).toString() : net.toString();
    return `${network}/${len}: ${g.names.sort(byName).join(', ')}`;
  });
  const fixes: Fix[] = [hostGw.map((p) => ({ path: `spec.network.ipPools[${specPoolIndex(s, p.name)}].encapsulation`, value: 'VXLANCrossSubnet' }))].filter((x) => x.every((y) => !y.path.includes('[-1]')));
  for (const g of groups.slice(1)) {
    for (const name of g.names) {
      f.add({
        id: 'hostgw-nodes-not-one-subnet', severity: 'critical', node: name,
        summary: `pool${hostGw.length > 1 ? 's' : ''} ${hostGw.map((p) => p.name).join(', ')} use${hostGw.length > 1 ? '' : 's'} host-gw, but ${name} is not in the same underlay subnet as the other nodes: host-gw routes to it need a next hop on the local link`,
        evidence: describe,
        remediation: `set ${describeFixes(fixes)}, or add BGP peers (spec.network.bgp.peers) that route the pod blocks, or put the nodes on one L2 segment`,
        fixes,
      });
    }
  }
}

function sysctl(v: Record<string, number | null>, key: string): number | null | undefined { return v[key]; }

function checkKernel(s: Snapshot, f: Findings, o: AnalysisOptions): void {
  const ps = pools(s);
  const tunnel = ps.some((p) => overheadOf(p) > 0);
  for (const node of s.nodes) {
    const a = agentOf(s, node.name);
    if (!a) continue;
    const sc = a.sysctls && !isUnavailable(a.sysctls) ? a.sysctls : undefined;
    const where = sc?.fresh ? 'now' : 'at the agent\'s last sync';
    if (sc) {
      const fwd = sysctl(sc.values, 'net/ipv4/ip_forward');
      if (fwd !== undefined && fwd !== null && fwd !== 1) {
        f.add({
          id: 'kernel-ip-forward-off', severity: 'critical', node: node.name,
          summary: `IPv4 forwarding is off on ${node.name}: it drops every packet to and from its pods that crosses the node`,
          evidence: [`net.ipv4.ip_forward = ${fwd} (${where})`],
          remediation: `sysctl -w net.ipv4.ip_forward=1 on ${node.name} and remove what turned it off (a sysctl.d file, a hardening profile); the agent also sets it on its next pass`,
        });
      }
      if (tunnel) {
        const all = sysctl(sc.values, 'net/ipv4/conf/all/rp_filter') ?? 0;
        const devs = Object.keys(sc.values).filter((k) => /^net\/ipv4\/conf\/[^/]+\/rp_filter$/.test(k) && !/\/(all|default|lo)\//.test(k));
        const strict = devs.map((k) => ({ dev: k.split('/')[3]!, value: Math.max(all ?? 0, sc.values[k] ?? 0) })).filter((d) => d.value === 1);
        const tunnelDevs = strict.filter((d) => /vxlan|ipip|tunl/.test(d.dev) || (list(a.interfaces)?.find((i) => i.name === d.dev && TUNNEL_KINDS.has(i.kind))));
        if (tunnelDevs.length || (all === 1 && !devs.length)) {
          f.add({
            id: 'kernel-rp-filter-strict', severity: 'warning', node: node.name,
            summary: `strict reverse-path filtering on ${node.name}'s tunnel path: packets arriving through the tunnel for an asymmetric route are dropped`,
            evidence: [`net.ipv4.conf.all.rp_filter = ${all} (${where})`, ...tunnelDevs.map((d) => `effective rp_filter on ${d.dev} = 1`)],
            remediation: `sysctl -w net.ipv4.conf.all.rp_filter=2 (loose) on ${node.name}${tunnelDevs.length ? ` and net.ipv4.conf.${tunnelDevs[0]!.dev.replace(/\./g, '/')}.rp_filter=2` : ''}; the effective value is the larger of all and the device`,
          });
        }
      }
      const gc3 = sysctl(sc.values, 'net/ipv4/neigh/default/gc_thresh3');
      const localPods = s.pods.filter((p) => p.node === node.name && !p.hostNetwork).length;
      const needed = 2 * (s.nodes.length + localPods);
      if (gc3 !== undefined && gc3 !== null && gc3 < needed) {
        f.add({
          id: 'kernel-gc-thresh3-low', severity: 'warning', node: node.name,
          summary: `the neighbour table of ${node.name} may hold at most ${gc3} entries, fewer than its ${s.nodes.length} nodes and ${localPods} pods need: entries are evicted and connections stall ("neighbour table overflow")`,
          evidence: [`net.ipv4.neigh.default.gc_thresh3 = ${gc3} (${where}); needed >= ${needed} (2 x (nodes + local pods))`],
          remediation: `sysctl -w net.ipv4.neigh.default.gc_thresh3=${Math.max(1024, 8 * s.nodes.length)} (and gc_thresh2/gc_thresh1 at 1/2 and 1/8 of it) on ${node.name}`,
        });
      }
    }
    const ct = a.conntrack && !isUnavailable(a.conntrack) ? a.conntrack : undefined;
    if (ct && ct.max > 0 && ct.count / ct.max >= o.conntrackWarn) {
      const used = ct.count / ct.max;
      f.add({
        id: 'kernel-conntrack-near-full', severity: used >= o.conntrackCritical ? 'critical' : 'warning', node: node.name,
        summary: `the conntrack table of ${node.name} is ${Math.floor(used * 100)}% full: new connections are dropped when it is full`,
        evidence: [`nf_conntrack_count ${ct.count} of nf_conntrack_max ${ct.max}`],
        remediation: `raise net.netfilter.nf_conntrack_max on ${node.name} (and nf_conntrack_buckets), or find the workload opening connections (conntrack -L | sort | uniq -c)`,
      });
    }
  }
}

// ---------- root causes that make many symptoms (see groupUnderCauses) ----------

function specPoolIndex(s: Snapshot, name: string): number {
  return (s.installation?.spec?.network?.ipPools ?? []).findIndex((p) => p.name === name);
}

function subnetOf(cidr: string): string | undefined {
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr);
    const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    return `${net.toString()}/${len}`;
  } catch { return undefined; }
}

/** Nodes (by NodeNetwork) that advertise the same address: copies, e.g. a NAT NIC every VM has. */
function checkDuplicateAddresses(s: Snapshot, f: Findings): void {
  const byAddress = new Map<string, NodeNetwork[]>();
  for (const nn of s.nodeNetworks) {
    const a = addrOf(nn.status?.address);
    if (!a) continue;
    let key: string;
    try { key = ipaddr.parse(a).toNormalizedString(); } catch { continue; }
    byAddress.set(key, [...(byAddress.get(key) ?? []), nn]);
  }
  for (const nns of byAddress.values()) {
    if (nns.length < 2) continue;
    const names = nns.map((n) => n.metadata?.name ?? '?').sort(byName);
    const address = addrOf(nns[0]!.status!.address)!;
    const internal = (name: string) => s.nodes.find((n) => n.name === name)?.internalIPs ?? [];
    const isInternal = s.nodes.some((n) => n.internalIPs.includes(address));
    const field = `spec.network.nodeAddressAutodetectionV${address.includes(':') ? 6 : 4}`;
    const fixes: Fix[] = [[{ path: field, value: { kubernetes: 'NodeInternalIP' } }]];
    f.add({
      id: 'underlay-address-duplicated', severity: 'critical', peer: names.join(','),
      summary: `nodes ${names.join(', ')} all advertise the underlay address ${address}: routes, tunnels and BGP sessions to it reach at most one of them`,
      evidence: [
        ...nns.map((n) => `${n.metadata?.name}: ${n.status?.address} on ${n.status?.interface ?? '?'} (autodetection ${n.status?.autodetectionMethod ?? '?'}); Node InternalIP ${internal(n.metadata?.name ?? '').join(', ') || 'none'}`),
        isInternal ? `${address} is a Node InternalIP too` : `${address} differs from every Node's InternalIP: it is a copy (e.g. the same NAT interface on every VM), not a node address`,
      ],
      remediation: `set ${describeFixes(fixes)}, or ${field} to {interface: <regex of the node NIC>} or {cidrs: [<the node network>]}; the rollout restarts the agents`,
      fixes,
    });
  }
}

/** The address a node advertises is no longer on it (a keepalived address that moved). */
function checkAddressGone(s: Snapshot, f: Findings): void {
  for (const nn of s.nodeNetworks) {
    const name = nn.metadata?.name ?? '';
    const address = addrOf(nn.status?.address);
    const ifaces = list(agentOf(s, name)?.interfaces);
    if (!address || !ifaces) continue;
    const held = ifaces.some((i) => i.addresses.some((x) => addrOf(x) === address));
    if (held) continue;
    const fixes: Fix[] = [[{ path: `spec.network.nodeAddressAutodetectionV${address.includes(':') ? 6 : 4}`, value: { kubernetes: 'NodeInternalIP' } }]];
    const elsewhere = s.nodeNetworks.map((o) => o.metadata?.name ?? '').filter((o) => o !== name && list(agentOf(s, o)?.interfaces)?.some((i) => i.addresses.some((x) => addrOf(x) === address)));
    f.add({
      id: 'underlay-address-gone', severity: 'critical', node: name,
      summary: `the address ${name} advertises is no longer on ${name}: ${address} (NodeNetwork.status.address) is on none of its interfaces, so peers send its pod traffic to the wrong host`,
      evidence: [
        `${name} interfaces now: ${ifaces.filter((i) => i.addresses.length).map((i) => `${i.name} ${i.addresses.join(' ')}`).join('; ') || 'no addresses'}`,
        ...(elsewhere.length ? [`${address} is now on ${elsewhere.join(', ')} (a floating address that moved)`] : []),
        `autodetection: ${nn.status?.autodetectionMethod ?? '?'}`,
      ],
      remediation: `autodetection took a floating address: choose the node's own address (set ${describeFixes(fixes)}, or {cidrs: [<the node network>]}); an agent that re-detects addresses reports the new one on its next pass, an older one after a restart of the weft-node pod on ${name}`,
      fixes,
    });
  }
}

/** A pool overlapping the nodes' own network. */
function checkPoolNodeSubnet(s: Snapshot, f: Findings): void {
  const ps = pools(s);
  const subnets = s.nodeNetworks
    .filter((nn) => nn.status?.address && !f.has('address-wrong-interface', nn.metadata?.name))
    .map((nn) => ({ node: nn.metadata?.name ?? '?', subnet: subnetOf(nn.status!.address!) }))
    .filter((x): x is { node: string; subnet: string } => x.subnet !== undefined);
  for (const p of ps) {
    const hit = subnets.filter((x) => cidrsOverlap(p.cidr, x.subnet));
    if (!hit.length) continue;
    const nets = [...new Set(hit.map((h) => h.subnet))].sort(byName);
    const i = specPoolIndex(s, p.name);
    const family = p.cidr.includes(':') ? 6 : 4;
    const free = freePoolCidr(family, Number(p.cidr.split('/')[1]), [...ps.filter((q) => q !== p).map((q) => q.cidr), ...subnets.map((x) => x.subnet)]);
    const fixes: Fix[] = free && i >= 0 ? [[{ path: `spec.network.ipPools[${i}].cidr`, value: free }]] : [];
    f.add({
      id: 'pool-overlaps-node-subnet', severity: 'critical', peer: hit.map((h) => h.node).sort(byName).join(','),
      summary: `pool ${p.name} (${p.cidr}) overlaps the node network ${nets.join(', ')}: blocks may take addresses hosts there hold, and natOutgoing does not masquerade pod traffic to that network`,
      evidence: hit.map((h) => `${h.node}: underlay subnet ${h.subnet} inside pool ${p.name} ${p.cidr}`),
      remediation: `pick a pool outside the node network${fixes.length ? `: ${describeFixes(fixes)}` : ''} (cidr is immutable: on a running cluster add a new pool with it, move the nodes to it, then remove ${p.name}); autodetection is not at fault`,
      fixes,
    });
  }
}

/** A pool selected by more nodes than it has blocks. */
function checkPoolBlocks(s: Snapshot, f: Findings): void {
  const spec = s.installation?.spec?.network?.ipPools ?? [];
  for (const p of pools(s)) {
    const total = blocksInPool(p.cidr, p.blockSize);
    if (total === undefined) continue;
    let selector: ReturnType<typeof parseNodeSelector> = { op: 'all' };
    try { selector = parseNodeSelector(spec.find((x) => x.name === p.name)?.nodeSelector ?? ''); } catch { /* the operator reports a bad selector */ }
    const selected = s.nodes.filter((n) => nodeSelectorMatches(selector, n.labels ?? {}));
    if (selected.length <= total) continue;
    const holders = new Set(s.blocks.filter((b) => b.spec.pool === p.name).map((b) => b.spec.node));
    const without = selected.map((n) => n.name).filter((n) => !holders.has(n)).sort(byName);
    const prefix = Number(p.cidr.split('/')[1]);
    const wider = p.blockSize - Math.ceil(Math.log2(selected.length));
    const family = p.cidr.includes(':') ? 6 : 4;
    const free = freePoolCidr(family, Math.max(wider, 8), [...pools(s).map((q) => q.cidr), ...s.nodeNetworks.map((nn) => subnetOf(nn.status?.address ?? '') ?? '').filter(Boolean)]);
    const selectorOf = spec.find((x) => x.name === p.name)?.nodeSelector;
    const fixes: Fix[] = free ? [[{ path: `spec.network.ipPools[${spec.length}]`, value: { name: `${p.name}-${wider}`.slice(0, 63), cidr: free, blockSize: p.blockSize, ...(selectorOf ? { nodeSelector: selectorOf } : {}) } }]] : [];
    f.add({
      id: 'ipam-pool-out-of-blocks', severity: 'critical', peer: without.join(','),
      summary: `pool ${p.name} is out of blocks: ${total} blocks for ${selected.length} nodes (${p.cidr} in /${p.blockSize} blocks), so ${selected.length - total} node(s) get no pod addresses from it`,
      evidence: [`${holders.size} of ${total} blocks claimed`, ...(without.length ? [`nodes holding no block of ${p.name}: ${without.join(', ')}`] : [])],
      remediation: `add a pool of /${wider} or wider${fixes.length ? ` (${describeFixes(fixes)})` : ''}, move the nodes to it and remove ${p.name} (cidr and blockSize are immutable)`,
      fixes,
    });
  }
}

/** A BGP full mesh over nodes in different subnets: every cross-subnet session fails. */
function checkBgpMeshSubnets(s: Snapshot, f: Findings): void {
  if (s.installation?.spec?.network?.bgp?.mode !== 'FullMesh') return;
  const bgpPools = pools(s).filter(isBgp);
  if (!bgpPools.length) return;
  const groups = new Map<string, string[]>();
  for (const nn of s.nodeNetworks) {
    const sub = subnetOf(nn.status?.address ?? '');
    if (sub) groups.set(sub, [...(groups.get(sub) ?? []), nn.metadata?.name ?? '?']);
  }
  if (groups.size < 2) return;
  const sorted = [...groups].sort((a, b) => b[1].length - a[1].length || byName(a[0], b[0]));
  const outside = sorted.slice(1).flatMap(([, names]) => names).sort(byName);
  const fixes: Fix[] = [bgpPools.map((p) => ({ path: `spec.network.ipPools[${specPoolIndex(s, p.name)}].encapsulation`, value: 'VXLANCrossSubnet' }))].filter((x) => x.every((y) => !y.path.includes('[-1]')));
  f.add({
    id: 'bgp-mesh-across-subnets', severity: 'critical', peer: outside.join(','),
    summary: `the BGP full mesh spans subnets: ${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} not in ${sorted[0]![0]} with the other nodes, so mesh sessions and direct routes across the subnets fail`,
    evidence: sorted.map(([sub, names]) => `${sub}: ${names.sort(byName).join(', ')}`),
    remediation: `set ${describeFixes(fixes)} (direct routes within a subnet, VXLAN across), or peer each node with its subnet's routers (spec.network.bgp.peers) instead of the full mesh`,
    fixes,
  });
}

/** Degraded reasons of the operator (render's problems) and the finding that reports the same cause. */
const DEGRADED_CAUSE: Record<string, string> = {
  DuplicateUnderlayAddress: 'underlay-address-duplicated',
  PoolOverlapsNodeSubnet: 'pool-overlaps-node-subnet',
  PoolOutOfBlocks: 'ipam-pool-out-of-blocks',
  BGPMeshAcrossSubnets: 'bgp-mesh-across-subnets',
  HostGatewayAcrossSubnets: 'hostgw-nodes-not-one-subnet',
};

const PAIR_SYMPTOMS = new Set(['bgp-session-down', 'vxlan-udp-blocked', 'vxlan-fdb-missing', 'vxlan-neighbour-missing', 'mtu-path-df-failed', 'hostgw-nodes-not-one-subnet', 'address-wrong-interface', 'agent-not-ready']);

/**
 * One cause, one finding: findings that a root cause explains are folded under it as symptoms,
 * so the report leads with the cause and its fix. A symptom is on (or between) nodes the cause
 * names; the operator's Degraded finding is folded when its reason is that cause.
 */
function groupUnderCauses(s: Snapshot, findings: Finding[]): Finding[] {
  const causes = findings.filter((x) => ['underlay-address-duplicated', 'underlay-address-gone', 'bgp-mesh-across-subnets', 'ipam-pool-out-of-blocks', 'pool-overlaps-node-subnet'].includes(x.id));
  if (!causes.length) return findings;
  const degradedReason = cond(s.installation, 'Degraded')?.reason ?? '';
  const nodesOf = (c: Finding) => new Set([...(c.node ? [c.node] : []), ...(c.peer ? c.peer.split(',') : [])]);
  const explains = (c: Finding, x: Finding): boolean => {
    if (x === c || causes.includes(x)) return false;
    if (x.id === 'operator-degraded') return DEGRADED_CAUSE[degradedReason] === c.id;
    const names = nodesOf(c);
    const ends = [x.node, ...(x.peer ? x.peer.split(',') : [])].filter((n): n is string => !!n);
    switch (c.id) {
      case 'bgp-mesh-across-subnets':
        if (x.id === 'agent-not-ready') return ends.some((n) => names.has(n)) || x.evidence.some((e) => e.includes('PeersUnreachable'));
        // A session between a node outside the main subnet and one inside it.
        return x.id === 'bgp-session-down' && ends.some((n) => names.has(n)) && !ends.every((n) => names.has(n));
      case 'ipam-pool-out-of-blocks':
        return (x.id === 'agent-not-ready' && x.evidence.some((e) => e.includes('NoBlocks'))) || (x.id === 'ipam-node-blocks-full' && x.severity === 'critical');
      case 'pool-overlaps-node-subnet':
        return false;
      default:
        return PAIR_SYMPTOMS.has(x.id) && ends.some((n) => names.has(n));
    }
  };
  const folded = new Set<Finding>();
  for (const c of causes) {
    const mine = findings.filter((x) => !folded.has(x) && explains(c, x));
    if (!mine.length) continue;
    c.symptoms = [...(c.symptoms ?? []), ...mine];
    for (const x of mine) folded.add(x);
  }
  return findings.filter((x) => !folded.has(x));
}

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1 };

/** Pure: the findings for a snapshot, most severe first, then by node and id. */
export function analyze(s: Snapshot, options: Partial<AnalysisOptions> = {}): Finding[] {
  const o = { ...defaultAnalysisOptions, ...options };
  const f = new Findings();
  checkInstallation(s, f, o);
  checkMtu(s, f);
  checkConflist(s, f, o);
  checkIpam(s, f, o);
  checkBgp(s, f);
  checkVxlan(s, f);
  checkAddressInterface(s, f);
  checkDuplicateAddresses(s, f);
  checkAddressGone(s, f);
  checkPoolNodeSubnet(s, f);
  checkPoolBlocks(s, f);
  checkBgpMeshSubnets(s, f);
  checkHostGwSubnets(s, f);
  checkKernel(s, f, o);
  checkAgents(s, f);
  // An agent that is not Ready because of a problem reported above is that problem, not another.
  const explains: Record<string, string[]> = {
    PeersUnreachable: ['bgp-daemon-down', 'bgp-session-down'],
    ConflistWriteFailed: ['cni-conflist-missing'],
    NoBlocks: ['ipam-node-blocks-full', 'ipam-pool-utilization', 'ipam-pool-out-of-blocks'],
  };
  const out = f.out.filter((x) => {
    if (x.id !== 'agent-not-ready' || !x.node) return true;
    const reason = cond(nodeNetwork(s, x.node), 'Ready')?.reason ?? '';
    const pod = s.agentPods?.find((p) => p.node === x.node);
    const related = (explains[reason] ?? []).flatMap((id) => f.out.filter((y) => y.id === id && (
      y.node === x.node || (y.peer ?? '').split(',').includes(x.node!)
      // Cluster-wide causes, and a peer's BIRD being down, explain every node's symptom.
      || y.id === 'ipam-pool-utilization' || y.id === 'ipam-pool-out-of-blocks' || y.id === 'bgp-daemon-down')));
    if (!related.length || (pod && !pod.ready && reason !== 'PeersUnreachable')) return true;
    for (const r of related) r.evidence.push(...x.evidence.map((e) => `${x.node}: ${e}`));
    return false;
  });
  return groupUnderCauses(s, out)
    .filter((x) => !s.onlyNode || !x.node || x.node === s.onlyNode || (x.peer ?? '').split(',').includes(s.onlyNode))
    .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || byName(a.node ?? '', b.node ?? '') || byName(a.id, b.id));
}

/** 0: no findings, 1: warnings only, 2: at least one critical finding. */
export function exitCodeFor(findings: readonly Finding[]): 0 | 1 | 2 {
  if (findings.some((x) => x.severity === 'critical')) return 2;
  return findings.length ? 1 : 0;
}
