/**
 * The contract between render (which computes it) and the node agent (which runs it): the
 * effective network configuration, stored as JSON under key `config.json` of the ConfigMap
 * `weft-config` in `weft-system`. Every choice is already made here (no "Auto").
 */
export type EffectiveEncapsulation = 'VXLAN' | 'VXLANCrossSubnet' | 'IPIP' | 'IPIPCrossSubnet' | 'None';

/** The backend that programs a pool's routes between nodes. */
export type DataplaneMode = 'host-gw' | 'vxlan' | 'vxlan-crosssubnet' | 'ipip' | 'ipip-crosssubnet' | 'bgp';

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
}

export interface EffectiveAutodetection {
  firstFound?: boolean;
  interface?: string;
  skipInterface?: string;
  canReach?: string;
  cidrs?: string[];
  kubernetes?: 'NodeInternalIP';
}

export interface EffectiveBGP {
  enabled: boolean;
  fullMesh: boolean;
  asNumber: number;
  peers: { peerIP: string; asNumber: number; nodeSelector: string }[];
}

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
}

/** ConfigMap keys the agent reads. */
export const configMapKeys = {
  config: 'config.json',
  conflist: 'cni-conflist',
  bird: 'bird.conf',
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
  configHash: 'weft.dev/config-hash',
  crdRevision: 'weft.dev/crd-revision',
} as const;

/** Encapsulation overheads in bytes (IPv4), from DESIGN.md. */
export const encapsulationOverhead: Record<EffectiveEncapsulation, number> = {
  None: 0,
  IPIP: 20,
  IPIPCrossSubnet: 20,
  VXLAN: 50,
  VXLANCrossSubnet: 50,
};
