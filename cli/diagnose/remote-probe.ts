// DF and VXLAN probes through the agents' /debug/probe (components/node/agent/probe.ts), for
// nodes whose network namespace is not on this machine: the agent pings from its node, and only
// peers' underlay and VTEP addresses. An agent that does not serve the endpoint (older version),
// refuses the target (it does not know that peer yet) or does not answer gives no probe result,
// so no finding is drawn from it.
import type { DfProbe, TunnelProbe } from './snapshot.ts';
import { mapLimit } from '../../kube/concurrency.ts';

export interface ProbeFrom { name: string; /** http://host:port of its agent */ agent: string }
export interface ProbeTo { name: string; address: string }

type Json = Record<string, unknown>;

async function ask(agent: string, query: Record<string, string>, timeoutMs: number): Promise<Json | undefined> {
  const url = `${agent}/debug/probe?${new URLSearchParams(query).toString()}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status === 429) { await new Promise((r) => setTimeout(r, 500 * (attempt + 1))); continue; }
      if (!res.ok) return undefined;
      const body = await res.json() as unknown;
      return body && typeof body === 'object' ? (body as Json) : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const ok = (x: unknown) => !!x && typeof x === 'object' && (x as Json).ok === true;
const detail = (x: unknown) => (x && typeof x === 'object' && typeof (x as Json).detail === 'string' ? (x as Json).detail as string : '');

/** For each [agent, target] pair, a small ping and a DF ping at size (payload bytes), at most
 *  `concurrency` pairs at once. */
export async function remoteDfProbes(pairs: [ProbeFrom, ProbeTo][], size: number, timeoutMs: number, concurrency: number): Promise<DfProbe[]> {
  const results = await mapLimit(pairs, concurrency, async ([a, b]): Promise<DfProbe | undefined> => {
    const small = await ask(a.agent, { to: b.address }, timeoutMs);
    const big = await ask(a.agent, { to: b.address, size: String(size), df: '1' }, timeoutMs);
    if (!small || !big) return undefined;
    return { from: a.name, to: b.name, size, ok: ok(big), smallOk: ok(small), ...(ok(big) ? {} : { detail: detail(big) }) };
  });
  return results.filter((r): r is DfProbe => !!r);
}

/** From each agent, a ping of the peer's VTEP address next to one of its underlay address. */
export async function remoteTunnelProbes(pairs: { from: ProbeFrom; to: string }[], timeoutMs: number, concurrency: number): Promise<TunnelProbe[]> {
  const results = await mapLimit(pairs, concurrency, async (p): Promise<TunnelProbe | undefined> => {
    const r = await ask(p.from.agent, { tunnel: p.to }, timeoutMs);
    if (!r || typeof r.tunnelAddress !== 'string') return undefined;
    return { from: p.from.name, to: p.to, tunnelAddress: r.tunnelAddress, underlayOk: ok(r.underlay), tunnelOk: ok(r.tunnel) };
  });
  return results.filter((r): r is TunnelProbe => !!r);
}
