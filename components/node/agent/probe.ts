// /debug/probe: pings from this node, so `weft diagnose` can check the path MTU (DF) and the
// VXLAN tunnel between nodes when it cannot enter their network namespaces.
//   ?to=ADDR[&size=N][&df=1]  ping ADDR (payload N bytes, Don't Fragment)
//   ?tunnel=PEER              ping PEER's tunnel (VTEP) address, next to a ping of its underlay address
// The endpoint is unauthenticated and the agent runs privileged on the host network, so it must
// not become a ping service: targets are only the underlay addresses and VTEP addresses of known
// peer nodes (from the NodeNetworks), sizes are bounded, and few probes run at once.
import ipaddr from 'ipaddr.js';
import type { CommandRunner } from '../kernel/exec.ts';
import type { NodeNetworkObject } from './kube.ts';

export interface ProbePeer { name: string; address: string; vtep?: string }

/** Every other node's underlay address and VTEP address, as their agents report them. */
export function probePeers(nodeNetworks: readonly NodeNetworkObject[], self: string): ProbePeer[] {
  const out: ProbePeer[] = [];
  for (const nn of nodeNetworks) {
    const name = nn.metadata?.name;
    if (!name || name === self || nn.metadata?.deletionTimestamp) continue;
    const address = nn.status?.address?.split('/')[0];
    if (!address || !ipaddr.IPv4.isValidFourPartDecimal(address)) continue;
    const vtep = nn.status?.vtep?.ip?.split('/')[0];
    out.push({ name, address, ...(vtep && ipaddr.IPv4.isValidFourPartDecimal(vtep) ? { vtep } : {}) });
  }
  return out;
}

/** Largest ICMP payload in one IPv4 packet (65535 - 20 - 8). */
export const MAX_PROBE_SIZE = 65507;

export type ProbeRequest =
  | { kind: 'ping'; to: string; peer: string; size?: number; df: boolean }
  | { kind: 'tunnel'; peer: string; address: string; tunnelAddress: string };

export class ProbeRequestError extends Error {
  constructor(readonly status: 400 | 403, message: string) { super(message); }
}

/** Pure: the query string -> a probe of a known peer, or ProbeRequestError saying why not. */
export function parseProbeRequest(q: URLSearchParams, peers: readonly ProbePeer[]): ProbeRequest {
  for (const k of q.keys()) {
    if (!['to', 'size', 'df', 'tunnel'].includes(k)) throw new ProbeRequestError(400, `unknown parameter ${k}; use to=ADDR[&size=N][&df=1] or tunnel=PEER`);
  }
  const to = q.get('to');
  const tunnel = q.get('tunnel');
  if ((to === null) === (tunnel === null)) throw new ProbeRequestError(400, 'give exactly one of to=ADDR (a peer node\'s underlay or VTEP address) and tunnel=PEER (a peer node\'s name)');
  if (tunnel !== null) {
    if (q.has('size') || q.has('df')) throw new ProbeRequestError(400, 'tunnel=PEER takes no size or df');
    const p = peers.find((x) => x.name === tunnel);
    if (!p) throw new ProbeRequestError(403, `tunnel=${tunnel}: not a peer node of this agent (peers: ${peers.map((x) => x.name).join(', ') || 'none'})`);
    if (!p.vtep) throw new ProbeRequestError(400, `tunnel=${tunnel}: node ${tunnel} reports no VTEP address (no VXLAN on it)`);
    return { kind: 'tunnel', peer: p.name, address: p.address, tunnelAddress: p.vtep };
  }
  // Only a plain dotted-quad: "1", "0x7f000001" or "127.1" would parse to other addresses.
  if (!ipaddr.IPv4.isValidFourPartDecimal(to!)) throw new ProbeRequestError(400, `to=${to}: not an IPv4 address`);
  const addr = ipaddr.IPv4.parse(to!).toString();
  const p = peers.find((x) => x.address === addr || x.vtep === addr);
  if (!p) throw new ProbeRequestError(403, `to=${to}: not the underlay or VTEP address of a peer node; this endpoint pings only peers`);
  let size: number | undefined;
  const rawSize = q.get('size');
  if (rawSize !== null) {
    if (!/^\d{1,5}$/.test(rawSize) || Number(rawSize) > MAX_PROBE_SIZE) throw new ProbeRequestError(400, `size=${rawSize}: an ICMP payload in bytes, 0 to ${MAX_PROBE_SIZE}`);
    size = Number(rawSize);
  }
  const df = q.get('df');
  if (df !== null && df !== '0' && df !== '1') throw new ProbeRequestError(400, `df=${df}: 0 or 1`);
  return { kind: 'ping', to: addr, peer: p.name, ...(size !== undefined ? { size } : {}), df: df === '1' };
}

export interface PingResult { ok: boolean; detail: string }

/** Two pings 0.2 s apart waiting 1 s each finish in under 2 s; past this the ping is stuck. */
export const PING_TIMEOUT_MS = 5_000;

async function ping(runner: CommandRunner, to: string, extra: string[] = []): Promise<PingResult> {
  const r = await runner.run(['ping', '-n', '-q', '-c', '2', '-i', '0.2', '-W', '1', ...extra, to], undefined, { timeoutMs: PING_TIMEOUT_MS });
  const summary = r.stdout.trim().split('\n').find((l) => /packets transmitted/.test(l)) ?? '';
  return { ok: r.code === 0, detail: (r.code === 0 ? summary : r.stderr.trim() || summary || `exit ${r.code}`).slice(0, 300) };
}

export async function runProbe(runner: CommandRunner, req: ProbeRequest): Promise<Record<string, unknown>> {
  if (req.kind === 'tunnel') {
    const [underlay, tunnel] = await Promise.all([ping(runner, req.address), ping(runner, req.tunnelAddress)]);
    return { peer: req.peer, address: req.address, tunnelAddress: req.tunnelAddress, underlay, tunnel };
  }
  const extra = [...(req.df ? ['-M', 'do'] : []), ...(req.size !== undefined ? ['-s', String(req.size)] : [])];
  const r = await ping(runner, req.to, extra);
  return { peer: req.peer, to: req.to, ...(req.size !== undefined ? { size: req.size } : {}), df: req.df, ...r };
}

export interface ProbeResponse { status: number; body: Record<string, unknown> }

/** The HTTP side: validation, a cap on concurrent probes, the result as JSON. */
export class ProbeHandler {
  private inflight = 0;

  constructor(private readonly o: { runner: CommandRunner; peers: () => readonly ProbePeer[]; maxConcurrent?: number }) {}

  async handle(q: URLSearchParams): Promise<ProbeResponse> {
    let req: ProbeRequest;
    try {
      req = parseProbeRequest(q, this.o.peers());
    } catch (e) {
      if (e instanceof ProbeRequestError) return { status: e.status, body: { error: e.message } };
      throw e;
    }
    if (this.inflight >= (this.o.maxConcurrent ?? 4)) return { status: 429, body: { error: 'too many probes running; retry in a second' } };
    this.inflight++;
    try {
      return { status: 200, body: await runProbe(this.o.runner, req) };
    } finally {
      this.inflight--;
    }
  }
}
