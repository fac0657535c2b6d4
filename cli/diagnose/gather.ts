// The I/O half of `weft diagnose`: reads the cluster from the API, each agent's /debug/diagnose,
// and (as root, for nodes whose network namespace is on this machine) the node-local sections and
// probes. Every failure to read becomes part of the snapshot, so the analysis reports it.
import type { KubeConfig } from '@kubernetes/client-node';
import { poolEncapsulationFacts, names, configMapKeys, type EffectiveConfig, type Installation, type IPAMBlock, type NodeNetwork } from '../../api/index.ts';
import { KubeClient, isNotFound, type KubeObject } from '../../kube/index.ts';
import { parseAgentDiagnose } from './agent-report.ts';
import { collectLocal, dfProbes, tunnelProbes, type LocalNode } from './node-local.ts';
import { remoteDfProbes, remoteTunnelProbes, type ProbeFrom, type ProbeTo } from './remote-probe.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_PROBE_PEERS, probePairs } from './bounded.ts';
import { mapLimit } from '../../kube/concurrency.ts';
import type { AgentPodFacts, AgentReport, EventFacts, NodeFacts, PodFacts, Snapshot } from './snapshot.ts';

export const DEFAULT_AGENT_PORT = 9099;
export const SANDBOX_NETNS_ANNOTATION = 'sandbox.weft.dev/netns';

export interface GatherOptions {
  kubeConfig: KubeConfig;
  /** Only this node's agent is asked; cluster-wide checks still run. */
  node?: string;
  agentPort: number;
  /** node -> host:port, for agents not on <underlay address>:<agentPort>. */
  agentAddresses: Record<string, string>;
  /** node -> network namespace on this machine (besides the sandbox annotation). */
  nodeNetns: Record<string, string>;
  /** Node-local collection and probes (needs root and the namespaces). */
  local: boolean;
  timeoutMs: number;
  /** Agent requests (and sandbox pings) in flight at once; default DEFAULT_CONCURRENCY. */
  concurrency?: number;
  /** Peers each node probes (DF and VXLAN); 0: every other node. Default DEFAULT_PROBE_PEERS. */
  probePeers?: number;
}

interface List<T> { items: T[] }

async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

function nodeFacts(n: KubeObject): NodeFacts {
  const st = n.status as { addresses?: { type: string; address: string }[]; conditions?: { type: string; status: string }[] } | undefined;
  const netns = n.metadata?.annotations?.[SANDBOX_NETNS_ANNOTATION];
  return {
    name: n.metadata?.name ?? '',
    ...(n.metadata?.uid ? { uid: n.metadata.uid } : {}),
    internalIPs: (st?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
    labels: { ...(n.metadata?.labels ?? {}) },
    ready: st?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    ...(netns ? { netns } : {}),
  };
}

function podFacts(p: KubeObject): PodFacts {
  const spec = p.spec as { nodeName?: string; hostNetwork?: boolean } | undefined;
  const st = p.status as { podIP?: string; phase?: string } | undefined;
  return {
    namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '', hostNetwork: spec?.hostNetwork ?? false,
    ...(spec?.nodeName ? { node: spec.nodeName } : {}), ...(st?.podIP ? { ip: st.podIP } : {}), ...(st?.phase ? { phase: st.phase } : {}),
  };
}

function agentPodFacts(p: KubeObject): AgentPodFacts {
  const st = p.status as { phase?: string; conditions?: { type: string; status: string; message?: string }[]; containerStatuses?: { restartCount?: number; state?: Record<string, { reason?: string; message?: string }> }[] } | undefined;
  const ready = st?.conditions?.find((c) => c.type === 'Ready');
  const waiting = st?.containerStatuses?.map((c) => c.state?.waiting ?? c.state?.terminated).find((x) => x);
  const detail = waiting ? [waiting.reason, waiting.message].filter(Boolean).join(': ') : ready?.status !== 'True' ? ready?.message : undefined;
  return {
    name: p.metadata?.name ?? '', ready: ready?.status === 'True', restarts: (st?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
    ...((p.spec as { nodeName?: string })?.nodeName ? { node: (p.spec as { nodeName: string }).nodeName } : {}),
    ...(st?.phase ? { phase: st.phase } : {}), ...(detail ? { detail } : {}),
  };
}

function eventFacts(e: KubeObject & Record<string, unknown>): EventFacts {
  const regarding = (e.regarding ?? {}) as { kind?: string; name?: string };
  return {
    type: String(e.type ?? ''), reason: String(e.reason ?? ''), note: String(e.note ?? ''),
    kind: regarding.kind ?? '', name: regarding.name ?? '',
    time: String(e.eventTime ?? (e as { deprecatedLastTimestamp?: string }).deprecatedLastTimestamp ?? (e.metadata as { creationTimestamp?: string } | undefined)?.creationTimestamp ?? ''),
  };
}

/** A mode's overhead: the largest over the pools the Installation runs. */
function overhead(inst: Installation | undefined): number {
  return Math.max(0, ...(inst?.status?.ipPools ?? []).map((p) => poolEncapsulationFacts(p)?.overhead ?? 0));
}

export async function gather(o: GatherOptions): Promise<Snapshot> {
  const client = new KubeClient(o.kubeConfig, { userAgent: 'weft-diagnose' });
  try {
    const get = <T>(path: string, query?: Record<string, string>) => client.request<T>(path, { verb: 'get', ...(query ? { query } : {}) });
    const optional = async <T>(p: Promise<T>): Promise<T | undefined> => { try { return await p; } catch (e) { if (isNotFound(e)) return undefined; throw e; } };
    const collectedAt = new Date().toISOString();
    const [installation, nodes, nodeNetworks, blocks, pods, agentPods, events, configMap] = await Promise.all([
      optional(get<Installation>(`/apis/operator.weft.dev/v1/installations/${names.installation}`)),
      get<List<KubeObject>>('/api/v1/nodes'),
      optional(get<List<NodeNetwork>>('/apis/network.weft.dev/v1/nodenetworks')),
      optional(get<List<IPAMBlock>>('/apis/network.weft.dev/v1/ipamblocks')),
      get<List<KubeObject>>('/api/v1/pods'),
      optional(get<List<KubeObject>>(`/api/v1/namespaces/${names.namespace}/pods`, { labelSelector: `app.kubernetes.io/name=${names.daemonSet}` })),
      optional(get<List<KubeObject & Record<string, unknown>>>('/apis/events.k8s.io/v1/events')),
      optional(get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${names.namespace}/configmaps/${names.configMap}`)),
    ]);
    const snapshot: Snapshot = {
      collectedAt,
      ...(installation ? { installation } : {}),
      nodes: nodes.items.map(nodeFacts).sort((a, b) => a.name.localeCompare(b.name)),
      nodeNetworks: nodeNetworks?.items ?? [],
      blocks: blocks?.items ?? [],
      pods: pods.items.map(podFacts),
      ...(agentPods ? { agentPods: agentPods.items.map(agentPodFacts) } : {}),
      events: (events?.items ?? []).map(eventFacts).filter((e) => ['Installation', 'Node', 'NodeNetwork', 'IPAMBlock'].includes(e.kind)).sort((a, b) => a.time.localeCompare(b.time)),
      agents: {},
      ...(o.node ? { onlyNode: o.node } : {}),
    };
    if (o.node && !snapshot.nodes.some((n) => n.name === o.node)) {
      throw new Error(`--node ${o.node}: no such node (nodes: ${snapshot.nodes.map((n) => n.name).join(', ') || 'none'})`);
    }
    let cfg: EffectiveConfig | undefined;
    try { cfg = configMap?.data?.[configMapKeys.config] ? JSON.parse(configMap.data[configMapKeys.config]!) as EffectiveConfig : undefined; } catch { cfg = undefined; }

    const address = (node: NodeFacts) => snapshot.nodeNetworks.find((n) => n.metadata?.name === node.name)?.status?.address?.split('/')[0] ?? node.internalIPs[0];
    const asked = snapshot.nodes.filter((n) => !o.node || n.name === o.node);
    const local: LocalNode[] = [];
    // Agents that can probe for nodes not on this machine (their /debug/probe).
    const remote: ProbeFrom[] = [];
    const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
    const perNode = o.probePeers ?? DEFAULT_PROBE_PEERS;
    await mapLimit(asked, concurrency, async (node) => {
      const hostPort = o.agentAddresses[node.name] ?? (address(node) ? `${address(node)}:${o.agentPort}` : undefined);
      const endpoint = hostPort ? `http://${hostPort}/debug/diagnose` : '';
      let report: AgentReport;
      if (!hostPort) report = { endpoint: '(no address)', error: 'the node reports no address; pass --agent-address NODE=HOST:PORT' };
      else {
        try { report = parseAgentDiagnose(endpoint, await fetchJson(endpoint, o.timeoutMs)); } catch (e) {
          report = { endpoint, error: (e as Error).name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : (e as Error).message + ((e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : '') };
        }
      }
      const netns = o.nodeNetns[node.name] ?? node.netns;
      if (hostPort && !report.error && !(o.local && netns)) remote.push({ name: node.name, agent: `http://${hostPort}` });
      if (o.local && netns && !report.error) {
        const addr = address(node);
        if (addr) local.push({ name: node.name, netns, address: addr });
        await collectLocal({ name: node.name, netns, address: addr ?? '' }, report, {
          confDir: cfg?.cni.confDir ?? '/etc/cni/net.d', binDir: cfg?.cni.binDir ?? '/opt/cni/bin', confName: cfg?.cni.confName ?? '10-weft.conflist',
        }).catch((e: Error) => { report.lastError = `node-local collection failed: ${e.message}`; });
      }
      snapshot.agents[node.name] = report;
    });

    const mtu = installation?.status?.mtu;
    const pools = installation?.status?.ipPools ?? [];
    const vxlan = pools.some((p) => p.encapsulation.startsWith('VXLAN'));
    const tunnelPeer = (() => {
      const cross = pools.every((p) => p.encapsulation === 'VXLANCrossSubnet' || !p.encapsulation.startsWith('VXLAN'));
      const nn = (name: string) => snapshot.nodeNetworks.find((n) => n.metadata?.name === name);
      const sameSubnet = (a: string, b: string) => {
        const x = nn(a)?.status?.address; const y = nn(b)?.status?.address;
        if (!x || !y) return false;
        const len = Number(x.split('/')[1]);
        const toInt = (s: string) => s.split('/')[0]!.split('.').reduce((n, p) => n * 256 + Number(p), 0);
        const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        return ((toInt(x) & mask) >>> 0) === ((toInt(y) & mask) >>> 0);
      };
      /** The VTEP address b's traffic from a goes to, when a reaches b through the tunnel. */
      return (a: string, b: string) => (a !== b && !(cross && sameSubnet(a, b)) ? nn(b)?.status?.vtep?.ip : undefined);
    })();
    if (remote.length && mtu) {
      // Some nodes are not on this machine (or not as root): their agents probe from the node.
      remote.sort((a, b) => a.name.localeCompare(b.name));
      const targets = snapshot.nodes.flatMap((n) => (address(n) ? [{ name: n.name, address: address(n)! }] : []));
      const from = [...remote, ...local.map((l) => {
        const hp = o.agentAddresses[l.name] ?? `${l.address}:${o.agentPort}`;
        return { name: l.name, agent: `http://${hp}` };
      })].sort((a, b) => a.name.localeCompare(b.name));
      // The ring runs over the nodes whose agents can probe: each probes its next perNode of them.
      // A node whose agent cannot (it did not answer) is still probed, by perNode agents in turn.
      const target = new Map(targets.map((t) => [t.name, t]));
      const ring = probePairs(from, perNode).flatMap(([a, b]) => (target.has(b.name) ? [[a, target.get(b.name)!] as [ProbeFrom, ProbeTo]] : []));
      const silent = targets.filter((t) => !from.some((f) => f.name === t.name));
      const k = perNode <= 0 ? from.length : Math.min(perNode, from.length);
      silent.forEach((t, j) => { for (let d = 0; d < k; d++) ring.push([from[(j + d) % from.length]!, t]); });
      snapshot.dfProbes = await remoteDfProbes(ring, mtu + overhead(installation) - 28, o.timeoutMs, concurrency);
      if (vxlan) {
        snapshot.tunnelProbes = await remoteTunnelProbes(ring.filter(([a, b]) => tunnelPeer(a.name, b.name)).map(([a, b]) => ({ from: a, to: b.name })), o.timeoutMs, concurrency);
      }
    } else if (local.length > 1 && mtu) {
      local.sort((a, b) => a.name.localeCompare(b.name));
      const ring = probePairs(local, perNode);
      snapshot.dfProbes = await dfProbes(ring, mtu + overhead(installation) - 28, concurrency);
      if (vxlan) {
        const pairs = ring.flatMap(([a, b]) => {
          const tunnelAddress = tunnelPeer(a.name, b.name);
          return tunnelAddress ? [{ from: a, to: b, tunnelAddress }] : [];
        });
        snapshot.tunnelProbes = await tunnelProbes(pairs, concurrency);
      }
    }
    return snapshot;
  } finally {
    client.close();
  }
}
