// Underlay address autodetection: which interface and address this node's tunnels, routes and
// BGP sessions use. Selection is pure (selectUnderlay) over parsed `ip -json` output; detect()
// gathers that output through the kernel layer's CommandRunner, so `--netns` applies to it too.
import ipaddr from 'ipaddr.js';
import type { EffectiveAutodetection } from '../../../api/effective-config.ts';
import { runChecked, type CommandRunner } from '../kernel/exec.ts';
import { parseIpAddr, parseRouteGet, type IpAddress, type IpInterface } from './ip-json.ts';

export interface Underlay {
  interface: string;
  /** Bare address, e.g. 198.18.0.11. */
  address: string;
  prefixLength: number;
  /** Address in CIDR form (what NodeNetwork.status.address holds), e.g. 198.18.0.11/24. */
  cidr: string;
  /** The underlay subnet, e.g. 198.18.0.0/24. */
  subnet: string;
  mtu: number;
  /** How it was found, e.g. "firstFound" or "canReach=198.18.0.1" (NodeNetwork.status.autodetectionMethod). */
  method: string;
}

/**
 * Names of interfaces that are never the underlay: container, CNI and tunnel devices of Weft and
 * of the CNIs a node may have had before. A veth *kind* is not skipped (a kind node's eth0 is a
 * veth); a veth *name* is. Bridges are skipped by the names container runtimes and CNIs give
 * them, not by kind, because a host bridge such as br0 often holds the node's real address.
 */
export const SKIPPED_INTERFACE_NAMES: RegExp[] = [
  /^lo$/, /^veth/, /^weft/, /^cni/, /^cbr/, /^docker/, /^br-[0-9a-f]{12}$/, /^virbr/, /^lxcbr/, /^lxc/,
  /^flannel/, /^cali/, /^tunl/, /^vxlan/, /^kube-ipvs/, /^kube-bridge/, /^cilium/, /^nodelocaldns/,
  /^wg/, /^wireguard/, /^genev/, /^ifb/, /^dummy/, /^podman/, /^antrea/, /^ovs-/, /^tap/, /^tun/,
];
/** Link kinds that are tunnels or placeholders, whatever their name. */
export const SKIPPED_INTERFACE_KINDS = new Set([
  'vxlan', 'ipip', 'ip6tnl', 'sit', 'gre', 'gretap', 'ip6gre', 'geneve', 'wireguard', 'tun', 'dummy', 'ifb', 'nlmon',
]);

export class AutodetectionError extends Error {
  constructor(message: string) { super(message); this.name = 'AutodetectionError'; }
}

function usable(i: IpInterface): boolean {
  if (i.linkType === 'loopback' || i.flags.includes('LOOPBACK')) return false;
  if (!i.flags.includes('UP') || i.operstate === 'DOWN') return false;
  return true;
}

function isVirtualOrCni(i: IpInterface): boolean {
  return SKIPPED_INTERFACE_NAMES.some((re) => re.test(i.name)) || SKIPPED_INTERFACE_KINDS.has(i.kind) || i.master !== undefined;
}

/**
 * Global-scope addresses of the family, link-local excluded. A host address (/32, /128) is left
 * out when the interface has a wider one of the family: it is a floating virtual address
 * (keepalived, a load balancer VIP) that moves between nodes, never the node's own — even when
 * the kernel lists it first.
 */
function candidates(i: IpInterface, family: 4 | 6): IpAddress[] {
  const want = family === 4 ? 'inet' : 'inet6';
  const all = i.addresses.filter((a) => {
    if (a.family !== want || a.scope !== 'global') return false;
    const range = ipaddr.parse(a.local).range();
    return range !== 'linkLocal' && range !== 'loopback';
  });
  const host = family === 4 ? 32 : 128;
  const wider = all.filter((a) => a.prefixlen < host);
  return wider.length > 0 ? wider : all;
}

function underlayOf(i: IpInterface, a: IpAddress, method: string): Underlay {
  const subnet = `${ipaddr.IPv4.isValid(a.local) && a.family === 'inet'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${a.local}/${a.prefixlen}`).toString()
    : ipaddr.IPv6.networkAddressFromCIDR(`${a.local}/${a.prefixlen}`).toNormalizedString()}/${a.prefixlen}`;
  return { interface: i.name, address: a.local, prefixLength: a.prefixlen, cidr: `${a.local}/${a.prefixlen}`, subnet, mtu: i.mtu, method };
}

function compileRegex(field: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new AutodetectionError(`autodetection.${field} "${source}" is not a valid regular expression: ${(e as Error).message}; fix it in the Installation's spec.network.nodeAddressAutodetectionV4 (or V6)`);
  }
}

export interface SelectInputs {
  interfaces: IpInterface[];
  family: 4 | 6;
  /** canReach: the kernel's answer to `ip route get TARGET`. */
  routeGet?: { dev: string; prefsrc?: string } | null;
  /** kubernetes: NodeInternalIP — the Node's InternalIP addresses. */
  nodeInternalIPs?: string[];
}

function describe(interfaces: IpInterface[], family: 4 | 6): string {
  const seen = interfaces.map((i) => `${i.name}${candidates(i, family).map((a) => ` ${a.local}/${a.prefixlen}`).join('')}${usable(i) ? '' : ' (down)'}`);
  return seen.join(', ') || 'no interfaces';
}

/** Picks the underlay interface and address by the configured method. Pure. */
export function selectUnderlay(method: EffectiveAutodetection, inp: SelectInputs): Underlay {
  const { interfaces, family } = inp;
  const up = interfaces.filter(usable);
  const firstWith = (list: IpInterface[], name: string): Underlay => {
    for (const i of list) {
      const [a] = candidates(i, family);
      if (a) return underlayOf(i, a, name);
    }
    throw new AutodetectionError(`autodetection ${name} found no interface with a global IPv${family} address (seen: ${describe(interfaces, family)}); set spec.network.nodeAddressAutodetectionV${family} to {interface: <regex>}, {canReach: <address>}, {cidrs: [<ranges>]} or {kubernetes: NodeInternalIP}`);
  };

  if (method.interface !== undefined) {
    const re = compileRegex('interface', method.interface);
    return firstWith(up.filter((i) => re.test(i.name)), `interface=${method.interface}`);
  }
  if (method.skipInterface !== undefined) {
    const re = compileRegex('skipInterface', method.skipInterface);
    return firstWith(up.filter((i) => !isVirtualOrCni(i) && !re.test(i.name)), `skipInterface=${method.skipInterface}`);
  }
  if (method.canReach !== undefined) {
    const name = `canReach=${method.canReach}`;
    const r = inp.routeGet;
    if (!r) throw new AutodetectionError(`autodetection ${name}: the kernel has no route to ${method.canReach}; check the node's routing table or pick another method`);
    const i = interfaces.find((x) => x.name === r.dev);
    if (!i) throw new AutodetectionError(`autodetection ${name}: route goes via ${r.dev}, which ip addr does not list`);
    const all = candidates(i, family);
    const a = all.find((x) => x.local === r.prefsrc) ?? all[0];
    if (!a) throw new AutodetectionError(`autodetection ${name}: interface ${i.name} has no global IPv${family} address`);
    return underlayOf(i, a, name);
  }
  if (method.cidrs !== undefined) {
    const nets = method.cidrs.map((c) => ipaddr.parseCIDR(c));
    const name = `cidrs=${method.cidrs.join(',')}`;
    // Container and CNI devices never are the underlay, even when their address is in a listed
    // CIDR (10.0.0.0/8 also covers a 10.244.0.1 cni0).
    for (const i of up.filter((x) => !isVirtualOrCni(x))) {
      for (const a of candidates(i, family)) {
        const addr = ipaddr.parse(a.local);
        if (nets.some(([net, len]) => net.kind() === addr.kind() && addr.match(net, len))) return underlayOf(i, a, name);
      }
    }
    throw new AutodetectionError(`autodetection ${name}: no interface has an address in ${method.cidrs.join(', ')} (seen: ${describe(interfaces, family)})`);
  }
  if (method.kubernetes === 'NodeInternalIP') {
    const name = 'kubernetes=NodeInternalIP';
    const ips = (inp.nodeInternalIPs ?? []).filter((ip) => (family === 4 ? ipaddr.IPv4.isValid(ip) : !ipaddr.IPv4.isValid(ip) && ipaddr.isValid(ip)));
    if (!ips.length) throw new AutodetectionError(`autodetection ${name}: the Node object has no IPv${family} InternalIP in status.addresses; the kubelet sets it (--node-ip)`);
    for (const ip of ips) {
      for (const i of interfaces) {
        const a = candidates(i, family).find((x) => ipaddr.parse(x.local).toString() === ipaddr.parse(ip).toString());
        if (a) return underlayOf(i, a, name);
      }
    }
    throw new AutodetectionError(`autodetection ${name}: no interface holds the Node's InternalIP ${ips.join(', ')} (seen: ${describe(interfaces, family)})`);
  }
  return firstWith(up.filter((i) => !isVirtualOrCni(i)), 'firstFound');
}

export interface DetectOptions {
  runner: CommandRunner;
  method: EffectiveAutodetection;
  family?: 4 | 6;
  nodeInternalIPs?: string[];
}

/** Reads the interfaces (and the route for canReach) and selects the underlay. */
export async function detectUnderlay(o: DetectOptions): Promise<Underlay> {
  const family = o.family ?? 4;
  const interfaces = parseIpAddr(await runChecked(o.runner, ['ip', '-json', '-d', 'addr', 'show']));
  let routeGet: SelectInputs['routeGet'];
  if (o.method.canReach !== undefined) {
    const r = await o.runner.run(['ip', '-json', 'route', 'get', o.method.canReach]);
    routeGet = r.code === 0 ? parseRouteGet(r.stdout) : null;
  }
  return selectUnderlay(o.method, { interfaces, family, routeGet, nodeInternalIPs: o.nodeInternalIPs });
}
