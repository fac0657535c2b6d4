/**
 * The contract between render (which computes it) and the node agent (which runs it): the
 * effective network configuration, stored as JSON under key `config.json` of the ConfigMap
 * `weft-config` in `weft-system`. Every choice is already made here (no "Auto").
 */
import type { DataplaneMode, EffectiveEncapsulation, EncryptionMode } from './encapsulation.ts';
import type { NodeAddressAutodetection } from './types/installation.ts';

export interface EffectivePool {
  name: string;
  cidr: string;
  family: 4 | 6;
  blockSize: number;
  encapsulation: EffectiveEncapsulation;
  dataplane: DataplaneMode;
  natOutgoing: boolean;
  /** Kubernetes label selector; '' selects every node. */
  nodeSelector: string;
  /** Its blocks are not advertised over BGP (absent: false). */
  disableBGPExport?: boolean;
}

/** Exactly one method set, as in the Installation (render fills in the default). */
export type EffectiveAutodetection = NodeAddressAutodetection;

export interface EffectiveBGP {
  enabled: boolean;
  fullMesh: boolean;
  asNumber: number;
  peers: EffectiveBGPPeer[];
  /** Route reflectors (mode RouteReflectors; fullMesh is then false): the nodes nodeSelector
   *  selects peer with every node, the others with them only (RFC 4456). */
  routeReflectors?: { nodeSelector: string; clusterID: string };
  /** IPv4 CIDRs every node advertises to its configured peers (Service cluster IPs, external IPs). */
  serviceCIDRs?: string[];
  /** Session timers in seconds (RFC 4271 section 4.4); absent in a config.json of an older operator: bgpDefaults. */
  keepaliveTime?: number;
  holdTime?: number;
  /** RFC 4724 graceful restart on every session, and how long peers keep a restarting node's routes (s). */
  gracefulRestart?: boolean;
  restartTime?: number;
}

/** A configured BGP peer (spec.network.bgp.peers[]). */
export interface EffectiveBGPPeer {
  peerIP: string;
  asNumber: number;
  nodeSelector: string;
  /** TTL of the session's packets when the peer is routed hops away (BIRD `multihop`); absent: same segment. */
  ebgpMultihop?: number;
  /** Key of Secret bgpPasswordSecret holding the session's TCP MD5 password. */
  passwordSecretKey?: string;
}

/** The one Secret (namespace weft-system) the node agent may read: BGP session passwords, by key. */
export const bgpPasswordSecret = 'weft-bgp-passwords';

/**
 * Node annotation giving a node its own AS number (decimal, 1..4294967295) instead of the
 * cluster's spec.network.bgp.asNumber; its sessions to nodes of another AS are eBGP.
 */
export const nodeAsNumberAnnotation = 'weft.dev/bgp-as-number';

/**
 * Defaults of spec.network.bgp's timers (the schema's defaults; a unit test holds them equal):
 * RFC 4271 section 10's suggested hold time 90 s with keepalives at a third of it; RFC 4724
 * graceful restart on, peers keeping a restarting node's routes 120 s (BIRD's default).
 */
export const bgpDefaults = { keepaliveTime: 30, holdTime: 90, gracefulRestart: true, restartTime: 120 } as const;

export interface EffectiveConfig {
  /** Schema of this document; bump when fields change incompatibly. */
  version: 1;
  mtu: number;
  mtuReason: string;
  pools: EffectivePool[];
  bgp: EffectiveBGP;
  autodetection: { v4: EffectiveAutodetection; v6?: EffectiveAutodetection };
  cni: { binDir: string; confDir: string; confName: string };
  hostPorts: boolean;
  bandwidth: boolean;
  vxlan: { vni: number; port: number; device: string };
  ipip: { device: string };
  /**
   * spec.network.encryption when it is on; absent means Disabled (so the config, and its hash,
   * of clusters without encryption are what they were before encryption existed).
   */
  encryption?: EffectiveEncryption;
}

/** WireGuard between nodes: every node's device listens on `port` (UDP). */
export interface EffectiveEncryption {
  mode: Exclude<EncryptionMode, 'Disabled'>;
  port: number;
}

/**
 * VXLAN VNI and UDP port when spec.network.vxlan leaves them out (the schema's defaults; a test
 * holds them equal). Not Calico's 4096/4789 nor flannel's and Cilium's 1/8472, so Weft and the
 * network it replaces can run side by side during a migration.
 */
export const vxlanDefaults = { vni: 4097, port: 4799 } as const;

/** ConfigMap keys the agent reads. */
export const configMapKeys = {
  config: 'config.json',
  conflist: 'cni-conflist',
  bird: 'bird.conf',
  /** The config hash of this ConfigMap's content (the same value as its weft.dev/config-hash
   *  annotation): the agent reads which configuration a mounted copy holds without recomputing it. */
  hash: 'config-hash',
} as const;

export const names = {
  namespace: 'weft-system',
  configMap: 'weft-config',
  daemonSet: 'weft-node',
  nodeServiceAccount: 'weft-node',
  operatorServiceAccount: 'weft-operator',
  fieldManager: 'weft-operator',
  installation: 'default',
} as const;

export const labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  managedByValue: 'weft-operator',
  partOf: 'app.kubernetes.io/part-of',
  /** Names the Installation an object was rendered for; the operator prunes by it. */
  owner: 'operator.weft.dev/installation',
  component: 'app.kubernetes.io/component',
} as const;

export const annotations = {
  /** On the weft-config ConfigMap: the hash of everything the agent runs (api/config-hash.ts). */
  configHash: 'weft.dev/config-hash',
  /**
   * On the DaemonSet's pod template (so on every agent pod): the config hash of the Installation
   * rendered without cluster facts. It changes only with the Installation (or the operator), never
   * when nodes report addresses or MTUs, so facts never replace an agent process: agents apply
   * fact-driven configuration in place (docs/adr/0010).
   */
  specHash: 'weft.dev/spec-hash',
  /**
   * On a NodeNetwork, set by the operator's rollout: the configuration hash this node's running
   * agent may apply in place. The agent applies its mounted ConfigMap once the ConfigMap holds
   * exactly this hash (docs/adr/0010).
   */
  configGrant: 'network.weft.dev/config-hash',
  crdRevision: 'weft.dev/crd-revision',
  /** On IPAMBlocks: when the node claimed it (ms); orders a node's blocks stably (its VTEP comes from the first). */
  claimedAt: 'network.weft.dev/claimed-at',
} as const;

/**
 * Kernel route metric of the routes BIRD learns over BGP (its `protocol kernel` writes them with
 * protocol 12 "bird", which other software uses too; the metric marks them as Weft's, so the
 * agent's uninstall removes only those). 0x57 = 87.
 */
export const BGP_KERNEL_METRIC = 0x57;

/**
 * The longest a BIRD started in graceful-restart recovery (`bird -R`) defers pruning the kernel
 * routes of the BIRD before it, waiting for End-of-RIB from every peer (BIRD's
 * `graceful restart wait`; its default 240 s would hold new routes back that long when a peer is
 * gone for good). Seconds.
 */
export const BIRD_RECOVERY_WAIT_SECONDS = 60;

/**
 * Placeholders of the `bird.conf` template (present only when BGP is enabled). The node agent
 * replaces each one (every occurrence) to get its BIRD 2 configuration; everything else in the
 * template is cluster-wide and already final. See render/bird.ts.
 */
export const birdTemplatePlaceholders = {
  /** This node's IPv4 underlay address, e.g. 198.18.0.5 (BIRD router id). */
  routerId: '{{ROUTER_ID}}',
  /** The same address: the source address of this node's BGP sessions. */
  localAddress: '{{LOCAL_ADDRESS}}',
  /** Zero or more lines `  route <block CIDR> blackhole;`, one per IPv4 IPAM block this node owns. */
  blockRoutes: '{{BLOCK_ROUTES}}',
  /**
   * Zero or more `protocol bgp <name> from weft_peer { neighbor <ip> as <asn>; }` blocks: every
   * other node when bgp.fullMesh, plus each of bgp.peers whose nodeSelector selects this node
   * (add `direct;` for an eBGP peer on the same segment).
   */
  peers: '{{PEERS}}',
} as const;

/** How the weft-node DaemonSet runs the agent: its health endpoint and where things are mounted. */
export const nodeAgentRuntime = {
  healthPort: 9099,
  readyPath: '/readyz',
  livePath: '/healthz',
  /**
   * Host directories appear under this prefix in the containers: `${hostRoot}${cni.binDir}`,
   * `${hostRoot}${cni.confDir}`, `${hostRoot}/var/lib/cni` and `${hostRoot}/proc/sys/net`
   * (the container's own /proc/sys is read-only; write sysctls under the host mount).
   */
  hostRoot: '/host',
  /** The weft-config ConfigMap, read-only, one file per key (configMapKeys). */
  configDir: '/etc/weft',
  /** Host /run/weft, shared across agent restarts: BIRD's config, control socket and pid file. */
  runDir: '/run/weft',
  env: {
    nodeName: 'NODE_NAME',
    /** The agent pod's UID, reported in NodeNetwork.status.podUID. */
    podUID: 'POD_UID',
  },
} as const;
