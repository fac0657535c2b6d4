// The contract between the agent's control loop and the dataplane backends.
import type { CommandRunner } from '../kernel/exec.ts';
import type { DesiredKernelState } from '../kernel/types.ts';
import type { DataplaneMode } from '../../../api/encapsulation.ts';
import type { ConfiguredBgpPeer } from './bird-config.ts';

/** A backend is named by the dataplane mode it implements (api/encapsulation.ts). */
export type BackendName = DataplaneMode;

export interface LocalNode {
  name: string;
  /** The node's underlay IPv4 address (source of tunnel packets, BGP router id / next hop). */
  underlayAddress: string;
  /** The underlay subnet in CIDR form, e.g. "198.18.0.0/24"; decides "same subnet" in CrossSubnet. */
  underlaySubnet: string;
  /** Underlay interface, e.g. "eth0". */
  underlayInterface: string;
  /** IPAM blocks this node owns (CIDRs). */
  blocks: string[];
}

export interface PeerNode {
  name: string;
  underlayAddress: string;
  blocks: string[];
  /** MAC of the peer's VXLAN device as it reported it; derived from its address when absent. */
  vxlanMac?: string;
  /** Its BGP AS and reflector role as it reported them (NodeNetwork status.bgp). */
  asNumber?: number;
  routeReflector?: boolean;
  /** The peer's WireGuard device as its NodeNetwork publishes it (validated: agent/peers.ts);
   *  absent when it publishes none (encryption off there, or not rolled out yet). */
  wireguard?: { publicKey: string; endpoint: string };
}

export interface PoolConfig { cidr: string; natOutgoing: boolean }

export type { ConfiguredBgpPeer as BgpPeerConfig } from './bird-config.ts';

export interface BgpConfig {
  asNumber: number;
  /** render's BIRD template (ConfigMap key bird.conf, render/bird.ts renderBirdTemplate). */
  template: string;
  /** Every other node is a peer (iBGP full mesh). */
  fullMesh: boolean;
  /** Route reflectors instead of the mesh (fullMesh false): reflectors peer with every node,
   *  the others with the reflectors only. */
  routeReflectors?: boolean;
  /** This node is a reflector. */
  routeReflector?: boolean;
  /** This node's AS when its Node annotation sets one other than asNumber (the cluster's). */
  nodeAsNumber?: number;
  /** Configured peers that select this node; they are added to the mesh (render/bird.ts). */
  peers: ConfiguredBgpPeer[];
  configPath: string;
  socketPath: string;
  pidFile: string;
  birdBinary?: string;
  birdcBinary?: string;
}

export interface DataplaneConfig {
  /** Pod / tunnel device MTU (cluster MTU, already minus the encapsulation overhead). */
  mtu: number;
  pools: PoolConfig[];
  vxlan?: { vni?: number; port?: number };
  /** Managed interface name prefix, "weft" unless a test run prefixes it. */
  linkPrefix?: string;
  bgp?: BgpConfig;
  /** WireGuard between nodes (./wireguard.ts); absent = off (an existing device drains). */
  encryption?: EncryptionConfig;
}

export interface EncryptionConfig {
  port: number;
  /** This node's private key file (mode 0600, made by the agent); `wg set` reads it. */
  privateKeyFile: string;
  /** Its public key (what the agent publishes). */
  publicKey: string;
}

export interface BackendContext { runner: CommandRunner; netns?: string }

export interface DataplaneBackend {
  readonly name: BackendName;
  /** Bytes of encapsulation overhead (IPv4) the mode adds: DATAPLANES[name].overhead (api/encapsulation.ts). */
  readonly overhead: number;
  /** Pure: the kernel state this node should have. */
  desired(local: LocalNode, peers: PeerNode[], cfg: DataplaneConfig): DesiredKernelState;
  /** Devices that carry tunnel traffic (rp_filter is loosened on them). */
  tunnelDevices(cfg: DataplaneConfig): string[];
  /** Programs what lives outside the kernel tables (BIRD for bgp). */
  reconcileDaemon?(local: LocalNode, peers: PeerNode[], cfg: DataplaneConfig, ctx: BackendContext): Promise<DaemonReport>;
}

/** lastError: BIRD's `Last error` of the session, e.g. "Received: Authentication failed" (absent when none). */
export interface BgpSession { peer: string; name: string; state: string; info: string; lastError?: string }
/** action: what the pass did to BIRD; 'recovered': started in graceful-restart recovery (-R),
 *  because the kernel still held the routes of the BIRD before it. */
export interface DaemonReport { action: 'none' | 'started' | 'recovered' | 'reconfigured'; sessions: BgpSession[] }
