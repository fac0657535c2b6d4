// The kernel objects the agent programs, as plain data. Desired and observed state share these
// shapes so that the diff is a pure comparison.

export interface VxlanAttrs { vni: number; port: number; local: string; dev: string; learning: boolean }
export interface IpipAttrs { local: string; dev?: string }
/** A WireGuard device as read back: kernel module (link kind wireguard) or wireguard-go's TUN. */
export interface WireGuardAttrs { implementation: 'Kernel' | 'Userspace' }

export interface LinkSpec {
  name: string;
  /** wireguard: created outside the diff (kernel module or wireguard-go, ../backends/wireguard.ts);
   *  the diff sets its MTU, addresses and state, and deletes it when no longer desired. */
  kind: 'vxlan' | 'ipip' | 'wireguard';
  mtu: number;
  /** Hardware address; absent means "whatever the kernel picked" (ipip has none). */
  mac?: string;
  /** Addresses in CIDR form, e.g. "10.244.1.0/32". */
  addresses: string[];
  vxlan?: VxlanAttrs;
  ipip?: IpipAttrs;
  /** Observed only. */
  wireguard?: WireGuardAttrs;
}

export interface ObservedLink extends LinkSpec { up: boolean }

export interface RouteSpec {
  /** CIDR, always with a prefix length. */
  dst: string;
  type: 'unicast' | 'blackhole';
  gateway?: string;
  dev?: string;
  onlink?: boolean;
  /** 0 when absent. */
  metric?: number;
}

export interface NeighborSpec { dev: string; ip: string; mac: string }
export interface FdbSpec { dev: string; mac: string; dst: string }

/** natOutgoing: masquerade traffic from natSources to anything outside poolCidrs. */
export interface NatSpec { natSources: string[]; poolCidrs: string[] }

export interface DesiredKernelState {
  links: LinkSpec[];
  routes: RouteSpec[];
  neighbors: NeighborSpec[];
  fdb: FdbSpec[];
  /** null: the agent's nft table must not exist. */
  nat: NatSpec | null;
  /** Peers the backend cannot route to (e.g. host-gw to another subnet), with why; not kernel state. */
  unroutable?: { peer: string; reason: string }[];
}

/** Normalized content of the agent's nftables table, comparable with the desired one. */
export interface NftTableModel {
  sets: Record<string, string[]>;
  chains: { name: string; type: string; hook: string; prio: number; policy: string }[];
  rules: { chain: string; expr: string }[];
}

export interface ObservedKernelState {
  links: ObservedLink[];
  routes: RouteSpec[];
  neighbors: NeighborSpec[];
  fdb: FdbSpec[];
  nft: NftTableModel | null;
}

export interface KernelPlan {
  /** Lines for one `ip -batch -` call. */
  ip: string[];
  /** Lines for one `bridge -batch -` call (FDB entries; ip(8) has no FDB command). */
  bridge: string[];
  /** Script for one `nft -f -` transaction, or null when the table is already right. */
  nft: string | null;
}

export function planOps(plan: KernelPlan): number {
  return plan.ip.length + plan.bridge.length + (plan.nft === null ? 0 : 1);
}
