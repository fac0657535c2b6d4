// What `weft diagnose` looks at: one snapshot of the cluster (from the API) and of every node
// (from its agent's /debug/diagnose, completed by node-local probes when the CLI can enter the
// node's network namespace). The analysis is a pure function of this, so every finding is
// unit-tested on crafted snapshots.
import type { Installation, IPAMBlock, NodeNetwork } from '../../api/index.ts';
import type { Fix } from '../../api/advice.ts';

export interface NodeFacts {
  name: string;
  uid?: string;
  internalIPs: string[];
  /** The Node's labels, to tell which nodes a pool's nodeSelector selects. */
  labels?: Record<string, string>;
  ready: boolean;
  /** The sandbox names the network namespace a node lives in (annotation sandbox.weft.dev/netns). */
  netns?: string;
}

export interface PodFacts {
  namespace: string;
  name: string;
  node?: string;
  ip?: string;
  hostNetwork: boolean;
  phase?: string;
}

export interface AgentPodFacts {
  name: string;
  node?: string;
  ready: boolean;
  phase?: string;
  restarts: number;
  /** Why it is not ready, from the container state. */
  detail?: string;
}

export interface EventFacts {
  type: string;
  reason: string;
  note: string;
  kind: string;
  name: string;
  time: string;
}

export interface InterfaceFacts {
  name: string;
  mtu: number;
  /** bridge, veth, vxlan, ... ('' for a plain device). */
  kind: string;
  /** Name of the bridge this interface is a port of. */
  master?: string;
  up: boolean;
  addresses: string[];
}

export interface FdbFacts { mac: string; dst?: string }
export interface NeighbourFacts { dst: string; dev: string; lladdr?: string; state: string[] }
/** lastError: BIRD's `Last error` of the session (e.g. "Received: Bad peer AS"). */
export interface BgpSessionFacts { peer: string; name?: string; state: string; info?: string; lastError?: string }
export interface Unavailable { unavailable: string }

export function isUnavailable(x: unknown): x is Unavailable {
  return !!x && typeof x === 'object' && typeof (x as Unavailable).unavailable === 'string';
}

/** One node's own view: every section either holds data or says why it is missing. */
export interface AgentReport {
  /** Where it came from, e.g. http://198.18.0.11:9099/debug/diagnose. */
  endpoint: string;
  /** Set when the endpoint could not be read at all. */
  error?: string;
  collectedAt?: string;
  ready?: boolean;
  backend?: string;
  lastError?: string;
  /** Addresses host-local holds for no pod, from the agent's latest IPAM pass. */
  leaked?: number;
  interfaces?: InterfaceFacts[] | Unavailable;
  fdb?: FdbFacts[] | Unavailable;
  neighbours?: NeighbourFacts[] | Unavailable;
  conflistDir?: { path: string; entries: string[] } | Unavailable;
  /** Our conflist, parsed: the plugin types it chains. */
  conflist?: { name: string; plugins: string[] } | { name: string; error: string } | Unavailable;
  cniBinDir?: { path: string; entries: string[] } | Unavailable;
  /** Current values, keys as under /proc/sys with slashes (net/ipv4/ip_forward). */
  sysctls?: { values: Record<string, number | null>; fresh: boolean } | Unavailable;
  conntrack?: { count: number; max: number } | Unavailable;
  /** BIRD's sessions; Unavailable when BIRD does not answer (not running). */
  bgp?: BgpSessionFacts[] | Unavailable;
}

/** A DF ping between two nodes' underlay addresses at the size the encapsulated pod MTU needs. */
export interface DfProbe { from: string; to: string; size: number; ok: boolean; smallOk: boolean; detail?: string }

/** A ping of a peer's VXLAN tunnel address (through the VXLAN UDP port) next to a plain underlay ping. */
export interface TunnelProbe { from: string; to: string; tunnelAddress: string; underlayOk: boolean; tunnelOk: boolean }

export interface Snapshot {
  /** ISO time the snapshot was taken: the analysis' "now" (durations, stalls). */
  collectedAt: string;
  installation?: Installation;
  nodes: NodeFacts[];
  nodeNetworks: NodeNetwork[];
  blocks: IPAMBlock[];
  pods: PodFacts[];
  agentPods?: AgentPodFacts[];
  events: EventFacts[];
  /** By node name; a node the CLI did not ask (--node) is absent. */
  agents: Record<string, AgentReport>;
  dfProbes?: DfProbe[];
  tunnelProbes?: TunnelProbe[];
  /** --node: findings about other nodes are dropped, cluster-wide ones kept. */
  onlyNode?: string;
}

export type Severity = 'warning' | 'critical';

export interface Finding {
  id: string;
  severity: Severity;
  /** The node the problem is on; absent for cluster-wide findings. */
  node?: string;
  /** The other end, when the problem is between two nodes or with a BGP peer. */
  peer?: string;
  summary: string;
  evidence: string[];
  remediation: string;
  /** The Installation settings the remediation suggests (api/advice.ts); a test applies and re-renders each. */
  fixes?: Fix[];
  /** Findings this one causes, folded under it: the report leads with the cause and its fix. */
  symptoms?: Finding[];
}
