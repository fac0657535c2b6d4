// Which host-local reservations are leaked. The rule (docs/adr/0007-node-agent-control-loop.md):
//
//   an address is HELD when
//     (a) a Pod bound to this node that has not terminated (phase not Succeeded/Failed) lists it
//         in status.podIPs, or
//     (b) the node's main routing table has a host route (/32, /128) to it on a device: ptp
//         installs that route on the host end of the pod's veth, and the kernel removes it when
//         the veth dies with the pod's network namespace — so it is the sandbox's liveness as
//         the kernel sees it, independent of the API server and of the container runtime;
//   otherwise it is a CANDIDATE, and a candidate that stays a candidate, with the same container
//   ID, for the whole grace period is LEAKED and released (under host-local's lock, re-checking
//   the container ID).
//
// (a) covers pods whose veth is not visible (another plugin, a route removed by hand); (b) covers
// pods the API does not know yet (CNI ADD ran, status not yet written) and a stale or partitioned
// API view. The grace period covers an ADD in flight (file written, route not yet) and a kubelet
// about to run CNI DEL. The clock lives in memory: a restarted agent starts it again, which only
// delays a release. Every step is a set lookup, so 50 000 reservations cost milliseconds.
import ipaddr from 'ipaddr.js';
import type { HostLocalEntry } from './hostlocal.ts';

export interface Candidate { containerId: string; since: number }

export interface LeakJudgement {
  /** Candidates to remember for the next scan (ip -> since). */
  candidates: Map<string, Candidate>;
  /** Reservations leaked for at least the grace period: release them. */
  release: HostLocalEntry[];
  /** Reservations held by a pod or a live sandbox. */
  held: number;
}

export interface LeakInputs {
  entries: HostLocalEntry[];
  /** IPs of non-terminated pods on this node (status.podIPs). */
  podIPs: ReadonlySet<string>;
  /** Destinations of host routes in the node's main table (live veths). */
  hostRoutes: ReadonlySet<string>;
  previous: ReadonlyMap<string, Candidate>;
  now: number;
  graceMs: number;
}

export function judgeLeaks(inp: LeakInputs): LeakJudgement {
  const candidates = new Map<string, Candidate>();
  const release: HostLocalEntry[] = [];
  let held = 0;
  for (const e of inp.entries) {
    if (inp.podIPs.has(e.ip) || inp.hostRoutes.has(e.ip)) { held++; continue; }
    const prev = inp.previous.get(e.ip);
    // A different container ID means the address was released and re-allocated: a new clock.
    const since = prev && prev.containerId === e.containerId ? prev.since : inp.now;
    if (inp.now - since >= inp.graceMs) release.push(e);
    else candidates.set(e.ip, { containerId: e.containerId, since });
  }
  return { candidates, release, held };
}

interface PodLike { spec?: { nodeName?: string }; status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] } }

/** IPs of pods that may still hold their address (not Succeeded/Failed). */
export function podIPsOf(pods: Iterable<PodLike>): Set<string> {
  const ips = new Set<string>();
  for (const p of pods) {
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    for (const a of p.status?.podIPs ?? []) if (a.ip) ips.add(a.ip);
    if (p.status?.podIP) ips.add(p.status.podIP);
  }
  return ips;
}

interface RouteJson { dst?: string; dev?: string; type?: string }

/** Host-route destinations from `ip -json route show table main` (IPv4 or IPv6 output). */
export function hostRouteDestinations(json: string): Set<string> {
  const out = new Set<string>();
  for (const r of JSON.parse(json || '[]') as RouteJson[]) {
    if (!r.dst || !r.dev || (r.type && r.type !== 'unicast')) continue;
    // ip prints a host route without its prefix length.
    const [addr, len] = r.dst.split('/');
    if (!ipaddr.isValid(addr!)) continue;
    if (len === undefined || len === '32' || len === '128') out.add(addr!);
  }
  return out;
}
