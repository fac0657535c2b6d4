// Parsers for the iproute2 JSON the autodetection reads. Pure, so the selection logic is tested on
// captured output of real machines.

export interface IpAddress { family: 'inet' | 'inet6'; local: string; prefixlen: number; scope: string }

export interface IpInterface {
  name: string;
  index: number;
  flags: string[];
  operstate: string;
  mtu: number;
  linkType: string;
  /** linkinfo.info_kind (veth, bridge, vxlan, ...); '' for a physical NIC. */
  kind: string;
  /** Set when the interface is enslaved to a bridge or bond (it then carries no address of its own). */
  master?: string;
  mac?: string;
  addresses: IpAddress[];
}

interface AddrJson {
  ifindex: number; ifname: string; flags?: string[]; operstate?: string; mtu: number; link_type?: string;
  address?: string; master?: string; linkinfo?: { info_kind?: string; info_slave_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** `ip -json -d addr show` -> interfaces in kernel order. */
export function parseIpAddr(json: string): IpInterface[] {
  return (JSON.parse(json || '[]') as AddrJson[]).map((l) => ({
    name: l.ifname,
    index: l.ifindex,
    flags: l.flags ?? [],
    operstate: l.operstate ?? 'UNKNOWN',
    mtu: l.mtu,
    linkType: l.link_type ?? '',
    kind: l.linkinfo?.info_kind ?? '',
    ...(l.master ? { master: l.master } : {}),
    ...(l.address ? { mac: l.address } : {}),
    addresses: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet' || a.family === 'inet6')
      .map((a) => ({ family: a.family as 'inet' | 'inet6', local: a.local, prefixlen: a.prefixlen, scope: a.scope ?? 'global' })),
  }));
}

export interface RouteGet { dev: string; prefsrc?: string; gateway?: string }

/** `ip -json route get ADDR` -> the interface and source address the kernel would use. */
export function parseRouteGet(json: string): RouteGet | null {
  const [r] = JSON.parse(json || '[]') as { dev?: string; prefsrc?: string; gateway?: string }[];
  if (!r?.dev) return null;
  return { dev: r.dev, ...(r.prefsrc ? { prefsrc: r.prefsrc } : {}), ...(r.gateway ? { gateway: r.gateway } : {}) };
}
