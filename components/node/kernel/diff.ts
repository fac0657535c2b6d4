// The level-triggered diff: desired kernel state vs observed kernel state -> the smallest list
// of iproute2/bridge/nft commands that makes the kernel match. Pure; see
// docs/adr/0004-level-triggered-kernel-diff.md for why it never flushes.
import { desiredNftModel, planNft } from './nft.ts';
import { WEFT_ROUTE_PROTOCOL } from './protocol.ts';
import { kv } from './values.ts';
import type {
  DesiredKernelState, FdbSpec, KernelPlan, LinkSpec, NeighborSpec, ObservedKernelState, ObservedLink, RouteSpec,
} from './types.ts';

export interface DiffOptions { nftTable: string; protocol?: number }

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');
}

/** Attributes that `ip link set` cannot change: a difference means delete and re-create. */
function immutableDiffers(want: LinkSpec, have: ObservedLink): boolean {
  if (want.kind !== have.kind) return true;
  // Kernel module or wireguard-go: either carries the same keys and peers (`wg` programs both).
  if (want.kind === 'wireguard') return false;
  if (want.kind === 'vxlan') {
    const w = want.vxlan!, h = have.vxlan;
    return !h || w.vni !== h.vni || w.port !== h.port || w.local !== h.local || w.dev !== h.dev || w.learning !== h.learning;
  }
  const w = want.ipip!, h = have.ipip;
  return !h || w.local !== h.local || (w.dev ?? '') !== (h.dev ?? '');
}

export function linkAddCommand(l: LinkSpec): string {
  const head = `link add ${kv.ifname(l.name)}${l.mac ? ` address ${kv.mac(l.mac)}` : ''} mtu ${kv.uint(l.mtu)}`;
  if (l.kind === 'vxlan') {
    const v = l.vxlan!;
    return `${head} type vxlan id ${kv.uint(v.vni)} local ${kv.ipv4(v.local)} dev ${kv.ifname(v.dev)} dstport ${kv.uint(v.port)} ${v.learning ? 'learning' : 'nolearning'}`;
  }
  // Reached only when the device vanished between its creation and this sync; on a kernel
  // without the module the batch fails and the next pass starts wireguard-go again.
  if (l.kind === 'wireguard') return `${head} type wireguard`;
  const p = l.ipip!;
  return `${head} type ipip local ${kv.ipv4(p.local)}${p.dev ? ` dev ${kv.ifname(p.dev)}` : ''}`;
}

export function routeKey(r: RouteSpec): string { return `${r.dst}|${r.metric ?? 0}`; }

function sameRoute(a: RouteSpec, b: RouteSpec): boolean {
  return a.type === b.type && (a.gateway ?? '') === (b.gateway ?? '') && (a.dev ?? '') === (b.dev ?? '')
    && !!a.onlink === !!b.onlink && (a.metric ?? 0) === (b.metric ?? 0);
}

export function routeReplaceCommand(r: RouteSpec, proto = WEFT_ROUTE_PROTOCOL): string {
  const tail = ` proto ${kv.uint(proto)}${r.metric ? ` metric ${kv.uint(r.metric)}` : ''} table main`;
  if (r.type === 'blackhole') return `route replace blackhole ${kv.cidr4(r.dst)}${tail}`;
  return `route replace ${kv.cidr4(r.dst)}${r.gateway ? ` via ${kv.ipv4(r.gateway)}` : ''}${r.dev ? ` dev ${kv.ifname(r.dev)}` : ''}${r.onlink ? ' onlink' : ''}${tail}`;
}

export function routeDeleteCommand(r: RouteSpec, proto = WEFT_ROUTE_PROTOCOL): string {
  // proto and metric are part of the match, so this never removes someone else's route.
  return `route del ${r.type === 'blackhole' ? 'blackhole ' : ''}${kv.cidr4(r.dst)} proto ${kv.uint(proto)}${r.metric ? ` metric ${kv.uint(r.metric)}` : ''} table main`;
}

export function addrCommand(op: 'add' | 'del', address: string, dev: string): string {
  return `addr ${op} ${kv.cidr4(address)} dev ${kv.ifname(dev)}`;
}

export function neighReplaceCommand(n: NeighborSpec): string {
  return `neigh replace ${kv.ipv4(n.ip)} lladdr ${kv.mac(n.mac)} dev ${kv.ifname(n.dev)} nud permanent`;
}

export function neighDeleteCommand(n: NeighborSpec): string {
  return `neigh del ${kv.ipv4(n.ip)} dev ${kv.ifname(n.dev)}`;
}

export function fdbReplaceCommand(f: FdbSpec): string {
  return `fdb replace ${kv.mac(f.mac)} dev ${kv.ifname(f.dev)} dst ${kv.ipv4(f.dst)} self permanent`;
}

export function fdbDeleteCommand(f: FdbSpec): string {
  return `fdb del ${kv.mac(f.mac)} dev ${kv.ifname(f.dev)} dst ${kv.ipv4(f.dst)} self`;
}

const neighKey = (n: NeighborSpec) => `${n.dev}|${n.ip}`;
const fdbKey = (f: FdbSpec) => `${f.dev}|${f.mac.toLowerCase()}`;

export function diffKernel(desired: DesiredKernelState, observed: ObservedKernelState, opts: DiffOptions): KernelPlan {
  const proto = opts.protocol ?? WEFT_ROUTE_PROTOCOL;
  const ip: string[] = [];
  const bridge: string[] = [];
  // Links deleted or re-created lose every address, route, neighbour and FDB entry on them.
  const gone = new Set<string>();

  const haveLinks = new Map(observed.links.map((l) => [l.name, l]));
  const wantLinks = new Map(desired.links.map((l) => [l.name, l]));
  for (const have of observed.links) {
    if (!wantLinks.has(have.name)) { ip.push(`link del ${kv.ifname(have.name)}`); gone.add(have.name); }
  }
  for (const want of desired.links) {
    let have = haveLinks.get(want.name);
    if (have && immutableDiffers(want, have)) {
      ip.push(`link del ${kv.ifname(want.name)}`);
      gone.add(want.name);
      have = undefined;
    }
    if (!have) {
      ip.push(linkAddCommand(want));
      for (const a of want.addresses) ip.push(addrCommand('add', a, want.name));
      ip.push(`link set ${kv.ifname(want.name)} up`);
      continue;
    }
    const set: string[] = [];
    if (want.mac && want.mac.toLowerCase() !== (have.mac ?? '').toLowerCase()) set.push(`address ${kv.mac(want.mac)}`);
    if (want.mtu !== have.mtu) set.push(`mtu ${kv.uint(want.mtu)}`);
    if (!have.up) set.push('up');
    if (set.length) ip.push(`link set ${kv.ifname(want.name)} ${set.join(' ')}`);
    for (const a of have.addresses) if (!want.addresses.includes(a)) ip.push(addrCommand('del', a, want.name));
    for (const a of want.addresses) if (!have.addresses.includes(a)) ip.push(addrCommand('add', a, want.name));
  }

  const live = <T extends { dev?: string }>(xs: T[]) => xs.filter((x) => !x.dev || !gone.has(x.dev));

  const haveNeigh = new Map(live(observed.neighbors).map((n) => [neighKey(n), n]));
  const wantNeigh = new Map(desired.neighbors.map((n) => [neighKey(n), n]));
  for (const [k, n] of haveNeigh) if (!wantNeigh.has(k)) ip.push(neighDeleteCommand(n));
  for (const [k, n] of wantNeigh) {
    const h = haveNeigh.get(k);
    if (!h || h.mac !== n.mac.toLowerCase()) ip.push(neighReplaceCommand(n));
  }

  // Routes through a re-created link vanish with it; routes via other devices do not.
  const haveRoutes = new Map(live(observed.routes).map((r) => [routeKey(r), r]));
  const wantRoutes = new Map(desired.routes.map((r) => [routeKey(r), r]));
  for (const [k, r] of haveRoutes) if (!wantRoutes.has(k)) ip.push(routeDeleteCommand(r, proto));
  for (const [k, r] of wantRoutes) {
    const h = haveRoutes.get(k);
    if (!h || !sameRoute(h, r)) ip.push(routeReplaceCommand(r, proto));
  }

  const haveFdb = new Map(live(observed.fdb).map((f) => [fdbKey(f), f]));
  const wantFdb = new Map(desired.fdb.map((f) => [fdbKey(f), f]));
  for (const [k, f] of haveFdb) if (!wantFdb.has(k)) bridge.push(fdbDeleteCommand(f));
  for (const [k, f] of wantFdb) {
    const h = haveFdb.get(k);
    if (!h || h.dst !== f.dst) bridge.push(fdbReplaceCommand(f));
  }

  return { ip, bridge, nft: planNft(opts.nftTable, desiredNftModel(desired.nat), observed.nft) };
}
