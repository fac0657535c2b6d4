/**
 * The encapsulation vocabulary, once. An Installation names an encapsulation (`VXLANCrossSubnet`,
 * the Installation API's spelling, like the Tigera operator's); the node agent runs a dataplane
 * backend (`vxlan-crosssubnet`, the effective config's spelling). The two spellings are bridged
 * only by the typed tables below — never by matching string prefixes — and every fact that
 * follows from a mode (its tunnel, whether it routes directly within a subnet, its overhead) is
 * read from here: render's MTU and dataplane choice, the agent's backends and MTU check, and
 * `weft diagnose`. Encryption (spec.network.encryption) is a layer over any encapsulation and
 * has its overhead here too (ENCRYPTIONS, podOverhead).
 */

/** Encapsulation as the Installation and its status spell it (Auto already resolved). */
export type EffectiveEncapsulation = 'VXLAN' | 'VXLANCrossSubnet' | 'IPIP' | 'IPIPCrossSubnet' | 'None';

/** The backend that programs a pool's routes between nodes (effective config, node agent). */
export type DataplaneMode = 'host-gw' | 'vxlan' | 'vxlan-crosssubnet' | 'ipip' | 'ipip-crosssubnet' | 'bgp';

/** The tunnel a mode sends pod traffic through between nodes; null when packets are routed as they are. */
export type Tunnel = 'vxlan' | 'ipip' | null;

export interface EncapsulationFacts {
  tunnel: Tunnel;
  /** Nodes on the same underlay subnet route directly; only traffic across subnets is tunnelled. */
  crossSubnet: boolean;
  /**
   * Bytes the tunnel adds to every packet over an IPv4 underlay (DESIGN.md, "Encapsulation
   * overheads"): VXLAN = outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = 50; IPIP = outer
   * IPv4 20. A cross-subnet mode uses the tunnel's overhead (some of its traffic is tunnelled).
   */
  overhead: number;
  /** The dataplane without BGP; with BGP enabled, `None` becomes `bgp` (dataplaneFor). */
  dataplane: DataplaneMode;
}

/** Every encapsulation and what follows from it. */
export const ENCAPSULATIONS: Readonly<Record<EffectiveEncapsulation, EncapsulationFacts>> = {
  None: { tunnel: null, crossSubnet: false, overhead: 0, dataplane: 'host-gw' },
  VXLAN: { tunnel: 'vxlan', crossSubnet: false, overhead: 50, dataplane: 'vxlan' },
  VXLANCrossSubnet: { tunnel: 'vxlan', crossSubnet: true, overhead: 50, dataplane: 'vxlan-crosssubnet' },
  IPIP: { tunnel: 'ipip', crossSubnet: false, overhead: 20, dataplane: 'ipip' },
  IPIPCrossSubnet: { tunnel: 'ipip', crossSubnet: true, overhead: 20, dataplane: 'ipip-crosssubnet' },
};

/** Every dataplane mode, with the encapsulation it implements. */
export const DATAPLANES: Readonly<Record<DataplaneMode, EncapsulationFacts & { encapsulation: EffectiveEncapsulation }>> = {
  'host-gw': { ...ENCAPSULATIONS.None, encapsulation: 'None' },
  bgp: { ...ENCAPSULATIONS.None, dataplane: 'bgp', encapsulation: 'None' },
  vxlan: { ...ENCAPSULATIONS.VXLAN, encapsulation: 'VXLAN' },
  'vxlan-crosssubnet': { ...ENCAPSULATIONS.VXLANCrossSubnet, encapsulation: 'VXLANCrossSubnet' },
  ipip: { ...ENCAPSULATIONS.IPIP, encapsulation: 'IPIP' },
  'ipip-crosssubnet': { ...ENCAPSULATIONS.IPIPCrossSubnet, encapsulation: 'IPIPCrossSubnet' },
};

/** Encapsulation overheads in bytes (IPv4 underlay), by encapsulation. */
export const encapsulationOverhead: Readonly<Record<EffectiveEncapsulation, number>> = Object.fromEntries(
  Object.entries(ENCAPSULATIONS).map(([e, f]) => [e, f.overhead]),
) as Record<EffectiveEncapsulation, number>;

/** The dataplane that implements an encapsulation: its own, except None with BGP enabled is bgp. */
export function dataplaneFor(encapsulation: EffectiveEncapsulation, bgpEnabled: boolean): DataplaneMode {
  return encapsulation === 'None' && bgpEnabled ? 'bgp' : ENCAPSULATIONS[encapsulation].dataplane;
}

export function isEncapsulation(s: unknown): s is EffectiveEncapsulation {
  return typeof s === 'string' && Object.hasOwn(ENCAPSULATIONS, s);
}

export function isDataplaneMode(s: unknown): s is DataplaneMode {
  return typeof s === 'string' && Object.hasOwn(DATAPLANES, s);
}

/**
 * The facts of a pool as the cluster reports it (status fields are untyped strings): by its
 * encapsulation when that is one we know, else by its dataplane; undefined when neither is.
 */
export function poolEncapsulationFacts(p: { encapsulation?: string; dataplane?: string }): EncapsulationFacts | undefined {
  if (isEncapsulation(p.encapsulation)) return ENCAPSULATIONS[p.encapsulation];
  if (isDataplaneMode(p.dataplane)) return DATAPLANES[p.dataplane];
  return undefined;
}

/** spec.network.encryption.mode. */
export type EncryptionMode = 'Disabled' | 'WireGuard';

export interface EncryptionFacts {
  /**
   * Bytes every encrypted packet carries on top of the pod's packet over an IPv4 underlay:
   * outer IPv4 20 + UDP 8 + WireGuard data header 16 (type 4, receiver index 4, counter 8) +
   * Poly1305 tag 16 = 60 (the WireGuard whitepaper, section 5.4.6).
   */
  overhead: number;
  /** The same over an IPv6 underlay: the outer header is 40 bytes, so 80. */
  overheadV6: number;
}

/** Every encryption mode and its overhead (DESIGN.md, "Encapsulation overheads"). */
export const ENCRYPTIONS: Readonly<Record<EncryptionMode, EncryptionFacts>> = {
  Disabled: { overhead: 0, overheadV6: 0 },
  WireGuard: { overhead: 60, overheadV6: 80 },
};

/** The UDP port WireGuard listens on when spec.network.encryption.port is left out (the schema's default; a test holds them equal). */
export const WIREGUARD_DEFAULT_PORT = 51830;

export function isEncryptionMode(s: unknown): s is EncryptionMode {
  return typeof s === 'string' && Object.hasOwn(ENCRYPTIONS, s);
}

/**
 * What limits the pod MTU when pods of an encapsulation talk across nodes with an encryption
 * mode: WireGuard replaces the tunnel between nodes (encrypted packets go straight to the peer's
 * underlay address), but while encryption is switched on or off a peer may still be reached
 * through the pool's own encapsulation, so the larger of the two overheads applies. IPv4
 * underlay; over IPv6 add the 20 bytes of the larger outer header to a tunnel's overhead.
 */
export function podOverhead(encapsulation: EffectiveEncapsulation, encryption: EncryptionMode = 'Disabled'): { overhead: number; by: EffectiveEncapsulation | 'WireGuard' } {
  const e = ENCRYPTIONS[encryption].overhead;
  const t = ENCAPSULATIONS[encapsulation].overhead;
  return e > t ? { overhead: e, by: 'WireGuard' } : { overhead: t, by: encapsulation };
}
