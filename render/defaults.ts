/**
 * The Installation spec with every schema default filled in, so the rest of render never has
 * to guess. The values mirror the `default:`s in api/schemas/installation.yaml; a unit test
 * checks them against the schema (test/unit/render/defaults.test.ts).
 */
import type {
  BGPPeer,
  Installation,
  LocalObjectReference,
  NodeAddressAutodetection,
  ResourceRequirements,
  Toleration,
} from '../api/index.ts';
import { bgpDefaults, vxlanDefaults, WIREGUARD_DEFAULT_PORT, type EncryptionMode } from '../api/index.ts';

export type Encapsulation = 'Auto' | 'VXLAN' | 'VXLANCrossSubnet' | 'IPIP' | 'IPIPCrossSubnet' | 'None';

export interface NormalizedPool {
  /** Position in spec.network.ipPools, for field paths in messages. */
  index: number;
  name: string;
  cidr: string;
  family: 4 | 6;
  blockSize: number;
  encapsulation: Encapsulation;
  natOutgoing: boolean;
  nodeSelector: string;
  disableBGPExport: boolean;
}

export interface NormalizedSpec {
  installationName: string;
  registry: string;
  imagePullSecrets: LocalObjectReference[];
  mtu: number;
  bgp: {
    mode: 'Disabled' | 'FullMesh' | 'RouteReflectors'; asNumber: number;
    peers: (Required<Pick<BGPPeer, 'peerIP' | 'asNumber' | 'nodeSelector'>> & Pick<BGPPeer, 'ebgpMultihop' | 'passwordSecretKey'>)[];
    routeReflectors?: { nodeSelector: string; clusterID: string };
    serviceClusterIPs: string[]; serviceExternalIPs: string[];
    keepaliveTime: number; holdTime: number; gracefulRestart: boolean; restartTime: number;
  };
  pools: NormalizedPool[];
  autodetectionV4?: NodeAddressAutodetection;
  autodetectionV6?: NodeAddressAutodetection;
  hostPorts: boolean;
  bandwidth: boolean;
  vxlan: { vni: number; port: number };
  encryption: { mode: EncryptionMode; port: number };
  cni: { binDir: string; confDir: string; confName: string };
  nodeAgent: { resources?: ResourceRequirements; tolerations: Toleration[]; nodeSelector: Record<string, string> };
}

export const specDefaults = {
  mtu: 0,
  bgpMode: 'Disabled',
  asNumber: 64512,
  blockSizeV4: 26,
  blockSizeV6: 122,
  encapsulation: 'Auto',
  natOutgoing: 'Enabled',
  nodeSelector: '',
  hostPorts: 'Enabled',
  bandwidth: 'Disabled',
  encryptionMode: 'Disabled',
  encryptionPort: WIREGUARD_DEFAULT_PORT,
  binDir: '/opt/cni/bin',
  confDir: '/etc/cni/net.d',
  confName: '10-weft.conflist',
} as const;

export function normalizeSpec(installation: Installation): NormalizedSpec {
  const spec = installation.spec ?? {};
  const net = spec.network ?? {};
  const bgp = net.bgp ?? {};
  return {
    installationName: installation.metadata?.name ?? 'default',
    registry: spec.registry ?? '',
    imagePullSecrets: (spec.imagePullSecrets ?? []).map((s) => ({ name: s.name })),
    mtu: net.mtu ?? specDefaults.mtu,
    bgp: {
      mode: bgp.mode ?? specDefaults.bgpMode,
      asNumber: bgp.asNumber ?? specDefaults.asNumber,
      peers: (bgp.peers ?? []).map((p) => ({
        peerIP: p.peerIP, asNumber: p.asNumber, nodeSelector: p.nodeSelector ?? '',
        ...(p.ebgpMultihop !== undefined ? { ebgpMultihop: p.ebgpMultihop } : {}),
        ...(p.passwordSecretKey ? { passwordSecretKey: p.passwordSecretKey } : {}),
      })),
      ...(bgp.routeReflectors ? { routeReflectors: { nodeSelector: bgp.routeReflectors.nodeSelector.trim(), clusterID: bgp.routeReflectors.clusterID } } : {}),
      serviceClusterIPs: bgp.serviceClusterIPs ?? [],
      serviceExternalIPs: bgp.serviceExternalIPs ?? [],
      keepaliveTime: bgp.keepaliveTimeSeconds ?? bgpDefaults.keepaliveTime,
      holdTime: bgp.holdTimeSeconds ?? bgpDefaults.holdTime,
      gracefulRestart: (bgp.gracefulRestart ?? 'Enabled') === 'Enabled',
      restartTime: bgp.restartTimeSeconds ?? bgpDefaults.restartTime,
    },
    pools: (net.ipPools ?? []).map((p, index) => {
      const family = p.cidr.includes(':') ? 6 : 4;
      return {
        index,
        name: p.name,
        cidr: p.cidr,
        family,
        blockSize: p.blockSize ?? (family === 6 ? specDefaults.blockSizeV6 : specDefaults.blockSizeV4),
        encapsulation: p.encapsulation ?? specDefaults.encapsulation,
        natOutgoing: (p.natOutgoing ?? specDefaults.natOutgoing) === 'Enabled',
        nodeSelector: (p.nodeSelector ?? specDefaults.nodeSelector).trim(),
        disableBGPExport: p.disableBGPExport ?? false,
      };
    }),
    ...(net.nodeAddressAutodetectionV4 ? { autodetectionV4: net.nodeAddressAutodetectionV4 } : {}),
    ...(net.nodeAddressAutodetectionV6 ? { autodetectionV6: net.nodeAddressAutodetectionV6 } : {}),
    hostPorts: (net.hostPorts ?? specDefaults.hostPorts) === 'Enabled',
    vxlan: { vni: net.vxlan?.vni ?? vxlanDefaults.vni, port: net.vxlan?.port ?? vxlanDefaults.port },
    bandwidth: (net.bandwidth ?? specDefaults.bandwidth) === 'Enabled',
    encryption: { mode: net.encryption?.mode ?? specDefaults.encryptionMode, port: net.encryption?.port ?? specDefaults.encryptionPort },
    cni: {
      binDir: spec.cni?.binDir ?? specDefaults.binDir,
      confDir: spec.cni?.confDir ?? specDefaults.confDir,
      confName: spec.cni?.confName ?? specDefaults.confName,
    },
    nodeAgent: {
      ...(spec.nodeAgent?.resources ? { resources: spec.nodeAgent.resources } : {}),
      tolerations: spec.nodeAgent?.tolerations ?? [],
      nodeSelector: spec.nodeAgent?.nodeSelector ?? {},
    },
  };
}
