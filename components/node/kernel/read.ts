// Reads the part of the kernel state the agent owns, through iproute2's and nft's JSON output.
// Parsing is pure (unit-tested on captured output); readKernelState does the I/O.
import { canonicalCidr } from './cidr.ts';
import { runChecked, type CommandRunner } from './exec.ts';
import { parseNftTable } from './nft.ts';
import { WEFT_ROUTE_PROTOCOL, WIREGUARD_DEVICE_SUFFIX } from './protocol.ts';
import type { FdbSpec, NeighborSpec, ObservedKernelState, ObservedLink, RouteSpec } from './types.ts';

const MANAGED_KINDS = new Set(['vxlan', 'ipip']);

interface IpAddrJson {
  ifname: string; mtu: number; flags?: string[]; address?: string; link_type?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Links named prefix* of a kind Weft manages, from `ip -json -d addr show`. */
export function parseLinks(json: string, prefix: string): ObservedLink[] {
  const links: ObservedLink[] = [];
  for (const l of JSON.parse(json || '[]') as IpAddrJson[]) {
    const kind = l.linkinfo?.info_kind;
    if (!l.ifname.startsWith(prefix) || !kind) continue;
    // WireGuard: the kernel module's link, or the TUN wireguard-go runs on (named like the
    // device; a TUN of another name under our prefix is not ours to manage).
    if (kind === 'wireguard' || (kind === 'tun' && l.ifname.endsWith(WIREGUARD_DEVICE_SUFFIX))) {
      links.push({
        name: l.ifname, kind: 'wireguard', mtu: l.mtu, up: (l.flags ?? []).includes('UP'),
        addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`).sort(),
        wireguard: { implementation: kind === 'wireguard' ? 'Kernel' : 'Userspace' },
      });
      continue;
    }
    if (!MANAGED_KINDS.has(kind)) continue;
    const data = l.linkinfo?.info_data ?? {};
    const link: ObservedLink = {
      name: l.ifname,
      kind: kind as 'vxlan' | 'ipip',
      mtu: l.mtu,
      up: (l.flags ?? []).includes('UP'),
      addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`).sort(),
    };
    if (kind === 'vxlan') {
      link.mac = l.address;
      link.vxlan = {
        vni: Number(data.id), port: Number(data.port), local: String(data.local ?? ''),
        dev: String(data.link ?? ''), learning: Boolean(data.learning),
      };
    } else {
      link.ipip = { local: String(data.local ?? ''), ...(data.link ? { dev: String(data.link) } : {}) };
    }
    links.push(link);
  }
  return links;
}

interface RouteJson { dst: string; type?: string; gateway?: string; dev?: string; flags?: string[]; metric?: number }

/** Routes from `ip -json route show proto N table main` (already filtered by protocol). */
export function parseRoutes(json: string): RouteSpec[] {
  return (JSON.parse(json || '[]') as RouteJson[]).map((r) => {
    const route: RouteSpec = {
      dst: r.dst === 'default' ? '0.0.0.0/0' : canonicalCidr(r.dst),
      type: r.type === 'blackhole' ? 'blackhole' : 'unicast',
    };
    if (r.gateway) route.gateway = r.gateway;
    if (r.dev) route.dev = r.dev;
    if ((r.flags ?? []).includes('onlink')) route.onlink = true;
    if (r.metric) route.metric = r.metric;
    return route;
  });
}

interface NeighJson { dst: string; dev: string; lladdr?: string; state?: string[] }

/** Permanent neighbour entries on the given devices, from `ip -json neigh show`. */
export function parseNeighbors(json: string, devs: Set<string>): NeighborSpec[] {
  return (JSON.parse(json || '[]') as NeighJson[])
    .filter((n) => devs.has(n.dev) && (n.state ?? []).includes('PERMANENT') && n.lladdr)
    .map((n) => ({ dev: n.dev, ip: n.dst, mac: n.lladdr!.toLowerCase() }));
}

interface FdbJson { mac: string; dst?: string; ifname?: string; state?: string; flags?: string[] }

/** Unicast VXLAN FDB entries of dev, from `bridge -json fdb show dev DEV`. */
export function parseFdb(json: string, dev: string): FdbSpec[] {
  return (JSON.parse(json || '[]') as FdbJson[])
    .filter((f) => f.dst && f.mac !== '00:00:00:00:00:00' && f.state === 'permanent')
    .map((f) => ({ dev, mac: f.mac.toLowerCase(), dst: f.dst! }));
}

export interface ReadOptions { linkPrefix: string; nftTable: string; protocol?: number }

export async function readKernelState(runner: CommandRunner, opts: ReadOptions): Promise<ObservedKernelState> {
  const proto = String(opts.protocol ?? WEFT_ROUTE_PROTOCOL);
  const [addrJson, routeJson, neighJson, nft] = await Promise.all([
    runChecked(runner, ['ip', '-json', '-d', 'addr', 'show']),
    runChecked(runner, ['ip', '-json', 'route', 'show', 'proto', proto, 'table', 'main']),
    runChecked(runner, ['ip', '-json', 'neigh', 'show', 'nud', 'permanent']),
    runner.run(['nft', '-j', 'list', 'table', 'inet', opts.nftTable]),
  ]);
  const links = parseLinks(addrJson, opts.linkPrefix);
  const fdbParts = await Promise.all(links.filter((l) => l.kind === 'vxlan').map(async (l) =>
    parseFdb(await runChecked(runner, ['bridge', '-json', 'fdb', 'show', 'dev', l.name]), l.name)));
  if (nft.code !== 0 && !/No such file or directory|does not exist/i.test(nft.stderr)) {
    throw new Error(`reading nftables table inet ${opts.nftTable} failed: ${nft.stderr.trim()}`);
  }
  return {
    links,
    routes: parseRoutes(routeJson),
    neighbors: parseNeighbors(neighJson, new Set(links.map((l) => l.name))),
    fdb: fdbParts.flat(),
    nft: nft.code === 0 ? parseNftTable(nft.stdout) : null,
  };
}
