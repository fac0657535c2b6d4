/**
 * Assembles the EffectiveConfig — the contract with the node agent (api/effective-config.ts) —
 * from the defaulted spec and the decisions made by encapsulation.ts and mtu.ts.
 */
import type {
  EffectiveAutodetection,
  EffectiveBGP,
  EffectiveConfig,
  EffectivePool,
  NodeAddressAutodetection,
} from '../api/index.ts';
import type { NormalizedSpec } from './defaults.ts';
import { normalizeCidr } from '../api/index.ts';

/** The VXLAN device's name; its VNI and port come from spec.network.vxlan (defaults: api vxlanDefaults). */
export const VXLAN = { device: 'weft.vxlan' } as const;
export const IPIP = { device: 'weft.ipip' } as const;

/** BGP runs (BIRD on every node) when a node-to-node topology is chosen or any peer is configured. */
export function bgpEnabled(spec: NormalizedSpec): boolean {
  return spec.bgp.mode !== 'Disabled' || spec.bgp.peers.length > 0;
}

export function effectiveBgp(spec: NormalizedSpec): EffectiveBGP {
  return {
    enabled: bgpEnabled(spec),
    fullMesh: spec.bgp.mode === 'FullMesh',
    asNumber: spec.bgp.asNumber,
    peers: spec.bgp.peers.map((p) => ({ ...p })),
    ...(spec.bgp.mode === 'RouteReflectors' && spec.bgp.routeReflectors ? { routeReflectors: { ...spec.bgp.routeReflectors } } : {}),
    ...(spec.bgp.serviceClusterIPs.length + spec.bgp.serviceExternalIPs.length > 0
      ? { serviceCIDRs: [...new Set([...spec.bgp.serviceClusterIPs, ...spec.bgp.serviceExternalIPs].map(normalizeCidr))] }
      : {}),
    keepaliveTime: spec.bgp.keepaliveTime,
    holdTime: spec.bgp.holdTime,
    gracefulRestart: spec.bgp.gracefulRestart,
    restartTime: spec.bgp.restartTime,
  };
}

function autodetection(a: NodeAddressAutodetection): EffectiveAutodetection {
  const out: EffectiveAutodetection = {};
  if (a.firstFound !== undefined) out.firstFound = a.firstFound;
  if (a.interface !== undefined) out.interface = a.interface;
  if (a.skipInterface !== undefined) out.skipInterface = a.skipInterface;
  if (a.canReach !== undefined) out.canReach = a.canReach;
  if (a.cidrs !== undefined) out.cidrs = [...a.cidrs];
  if (a.kubernetes !== undefined) out.kubernetes = a.kubernetes;
  return out;
}

export function effectiveAutodetection(spec: NormalizedSpec): EffectiveConfig['autodetection'] {
  const v4 = autodetection(spec.autodetectionV4 ?? { firstFound: true });
  const wantsV6 = spec.autodetectionV6 !== undefined || spec.pools.some((p) => p.family === 6);
  return wantsV6 ? { v4, v6: autodetection(spec.autodetectionV6 ?? { firstFound: true }) } : { v4 };
}

export function buildEffectiveConfig(spec: NormalizedSpec, pools: EffectivePool[], mtu: number, mtuReason: string): EffectiveConfig {
  return {
    version: 1,
    mtu,
    mtuReason,
    pools,
    bgp: effectiveBgp(spec),
    autodetection: effectiveAutodetection(spec),
    cni: { ...spec.cni },
    hostPorts: spec.hostPorts,
    bandwidth: spec.bandwidth,
    vxlan: { vni: spec.vxlan.vni, port: spec.vxlan.port, device: VXLAN.device },
    ipip: { ...IPIP },
    ...(spec.encryption.mode === 'WireGuard' ? { encryption: { mode: spec.encryption.mode, port: spec.encryption.port } } : {}),
  };
}
