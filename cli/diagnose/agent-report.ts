// Turns the JSON an agent serves at /debug/diagnose (components/node/agent/diagnose.ts) into the
// snapshot's AgentReport. Pure and tolerant: a section the agent could not read, or one an older
// agent does not serve, becomes Unavailable with the reason, never an exception.
import type { AgentReport, BgpSessionFacts, FdbFacts, InterfaceFacts, NeighbourFacts, Unavailable } from './snapshot.ts';

type Json = Record<string, unknown>;

function obj(x: unknown): Json | undefined { return x && typeof x === 'object' && !Array.isArray(x) ? (x as Json) : undefined; }
function str(x: unknown): string | undefined { return typeof x === 'string' ? x : undefined; }
function num(x: unknown): number | undefined { return typeof x === 'number' && Number.isFinite(x) ? x : undefined; }

function section<T>(raw: unknown, what: string, map: (items: unknown[]) => T): T | Unavailable {
  if (Array.isArray(raw)) return map(raw);
  const o = obj(raw);
  if (o && typeof o.error === 'string') return { unavailable: `${what}: ${o.error}` };
  return { unavailable: `${what}: not in the agent's /debug/diagnose` };
}

/** `ip -json -d addr show`. */
export function parseInterfaces(items: unknown[]): InterfaceFacts[] {
  return items.map(obj).filter((x): x is Json => !!x).map((i) => ({
    name: str(i.ifname) ?? '',
    mtu: num(i.mtu) ?? 0,
    kind: str(obj(i.linkinfo)?.info_kind) ?? '',
    ...(str(i.master) ? { master: str(i.master)! } : {}),
    up: Array.isArray(i.flags) ? (i.flags as unknown[]).includes('UP') : str(i.operstate) === 'UP',
    addresses: (Array.isArray(i.addr_info) ? (i.addr_info as unknown[]) : []).map(obj).filter((a): a is Json => !!a && !!str(a.local)).map((a) => `${a.local}/${a.prefixlen}`),
  }));
}

/** `bridge -json fdb show dev X`. */
export function parseFdb(items: unknown[]): FdbFacts[] {
  return items.map(obj).filter((x): x is Json => !!x && !!str(x.mac)).map((e) => ({ mac: str(e.mac)!.toLowerCase(), ...(str(e.dst) ? { dst: str(e.dst)! } : {}) }));
}

/** `ip -json neigh show`. */
export function parseNeighbours(items: unknown[]): NeighbourFacts[] {
  return items.map(obj).filter((x): x is Json => !!x && !!str(x.dst)).map((n) => ({
    dst: str(n.dst)!, dev: str(n.dev) ?? '', ...(str(n.lladdr) ? { lladdr: str(n.lladdr)!.toLowerCase() } : {}),
    state: Array.isArray(n.state) ? (n.state as unknown[]).filter((s): s is string => typeof s === 'string') : [],
  }));
}

/** Current sysctls ({fresh, values}); an older agent serves the last sync's results (an array). */
export function parseSysctls(raw: unknown): AgentReport['sysctls'] {
  if (Array.isArray(raw) && raw.length) {
    const values: Record<string, number | null> = {};
    for (const r of raw.map(obj)) {
      if (!r || !str(r.key)) continue;
      const observed = r.observed === null ? null : num(r.observed) ?? null;
      values[str(r.key)!] = r.set === true ? num(r.wanted) ?? observed : observed;
    }
    return { values, fresh: false };
  }
  const o = obj(raw);
  const v = obj(o?.values);
  if (v) return { values: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, num(x) ?? null])), fresh: o?.fresh === true };
  if (str(o?.error)) return { unavailable: `sysctls: ${str(o?.error)}` };
  return { unavailable: 'sysctls: the agent has not completed a kernel sync' };
}

export function parseConntrack(raw: unknown): AgentReport['conntrack'] {
  const o = obj(raw);
  const count = num(o?.count);
  const max = num(o?.max);
  if (count !== undefined && max !== undefined) return { count, max };
  return { unavailable: `conntrack: ${str(o?.error) ?? 'not in the agent\'s /debug/diagnose'}` };
}

/** {name, plugins} | {name, error} | {name, missing: true}. */
export function parseConflist(raw: unknown): AgentReport['conflist'] {
  const o = obj(raw);
  const name = str(o?.name);
  if (!o || !name) return { unavailable: 'conflist content: not in the agent\'s /debug/diagnose' };
  if (o.missing === true) return { unavailable: `${name}: missing` };
  if (str(o.error)) return { name, error: str(o.error)! };
  if (Array.isArray(o.plugins)) return { name, plugins: (o.plugins as unknown[]).filter((p): p is string => typeof p === 'string') };
  return { unavailable: `${name}: unreadable answer` };
}

export function parseAgentDiagnose(endpoint: string, raw: unknown): AgentReport {
  const d = obj(raw);
  if (!d) return { endpoint, error: 'the answer is not a JSON object' };
  const state = obj(d.agent) ?? {};
  const lastSync = obj(state.lastSync);
  const report: AgentReport = { endpoint };
  if (str(d.collectedAt)) report.collectedAt = str(d.collectedAt)!;
  if (typeof state.ready === 'boolean') report.ready = state.ready;
  const backend = str(state.backend) ?? str(lastSync?.backend);
  if (backend) report.backend = backend;
  if (str(state.lastError)) report.lastError = str(state.lastError)!;
  const leaked = num(obj(state.ipam)?.leaked);
  if (leaked !== undefined) report.leaked = leaked;
  report.interfaces = section(d.interfaces, 'interfaces', parseInterfaces);
  report.fdb = section(d.fdb, 'VXLAN FDB', parseFdb);
  report.neighbours = section(d.neighbours, 'neighbours', parseNeighbours);
  const dir = obj(d.cniConfDir);
  if (dir && Array.isArray(dir.entries)) {
    report.conflistDir = { path: str(dir.path) ?? '', entries: (dir.entries as unknown[]).map((e) => str(obj(e)?.name) ?? str(e) ?? '').filter(Boolean) };
  } else {
    report.conflistDir = { unavailable: `CNI conf dir: ${str(obj(dir?.entries)?.error) ?? 'not in the agent\'s /debug/diagnose'}` };
  }
  report.sysctls = parseSysctls(d.sysctls);
  report.conntrack = parseConntrack(d.conntrack);
  report.conflist = parseConflist(d.cniConf);
  const bin = obj(d.cniBinDir);
  report.cniBinDir = bin && Array.isArray(bin.entries)
    ? { path: str(bin.path) ?? '', entries: (bin.entries as unknown[]).filter((e): e is string => typeof e === 'string') }
    : { unavailable: `CNI bin dir: ${str(bin?.error) ? `${str(bin?.path) ?? ''}: ${str(bin?.error)}` : 'not in the agent\'s /debug/diagnose'}` };
  // BIRD asked at request time; {bird: {running: false}} means it does not answer.
  const bird = obj(d.bird);
  if (bird && bird.running === false) {
    report.bgp = { unavailable: str(bird.error) ?? 'BIRD does not answer' };
  } else if (Array.isArray(d.bgpSessions) && (backend === 'bgp' || d.bgpSessions.length)) {
    report.bgp = (d.bgpSessions as unknown[]).map(obj).filter((x): x is Json => !!x && !!str(x.peer)).map((x): BgpSessionFacts => ({
      peer: str(x.peer)!, state: str(x.state) ?? '?', ...(str(x.name) ? { name: str(x.name)! } : {}), ...(str(x.info) ? { info: str(x.info)! } : {}),
      ...(str(x.lastError) ? { lastError: str(x.lastError)! } : {}),
    }));
  }
  return report;
}
