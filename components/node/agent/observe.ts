// What one control-loop pass found, turned into the agent's MTU and BGP gauges and into Node
// Events on transitions: MTUTooLarge, BGP sessions down/up, kernel sync failing/recovering,
// leaked addresses released, a block claimed, a pool exhausted, the conflist written.
import type { AgentMetrics } from '../health/metrics.ts';
import { TransitionTracker, type NodeEvent, type NodeEventRecorder } from './events.ts';

export interface PassFacts {
  /** Absent when the kernel was not programmed this pass (--no-kernel, no block yet). */
  kernel?: { inSync: boolean; error?: string };
  mtu?: { pod: number; underlay: number; overhead: number; interface: string };
  /** BIRD's sessions after this pass's sync; absent when the node does not run BGP. */
  bgpSessions?: { peer: string; name?: string; state: string; info?: string }[];
  /** Cumulative count of leaked addresses this agent released. */
  released?: number;
  claimed?: { pool: string; cidr: string; reason: string }[];
  exhaustedPools?: string[];
  /** Set when this pass changed the conflist's bytes. */
  conflistWritten?: { path: string; ranges: string[] };
  /** What the NodeNetwork status already said when the agent started: a restarted agent that finds
   *  the same problem records no new event (a restart writes nothing, DESIGN invariant 6). */
  persisted?: { mtuTooLarge?: boolean; kernelFailed?: boolean };
}

export interface PassObserverOptions {
  metrics: AgentMetrics;
  recorder: NodeEventRecorder;
  node: string;
  /** A session never Established since the agent saw it first is reported down only after this
   *  long: BIRD needs a few seconds to connect after a start. Default 120 s. */
  bgpStartupGraceMs?: number;
  now?: () => number;
}

const ESTABLISHED = 'Established';

export class PassObserver {
  private readonly t = new TransitionTracker<string>();
  private readonly firstSeen = new Map<string, number>();
  private readonly reportedDown = new Set<string>();
  private released: number | undefined;
  private kernelFailed = false;
  private kernelSeen = false;

  constructor(private readonly o: PassObserverOptions) {}

  private now(): number { return (this.o.now ?? Date.now)(); }

  /** Updates the gauges and records the events of this pass; returns the events it emitted. */
  observe(f: PassFacts): NodeEvent[] {
    const out: NodeEvent[] = [];
    const emit = (ev: NodeEvent) => { out.push(ev); this.o.recorder.record(ev); };
    const node = this.o.node;
    const m = this.o.metrics;

    if (f.mtu) {
      m.podMtu.set(f.mtu.pod);
      m.underlayMtu.set(f.mtu.underlay);
      m.encapsulationOverhead.set(f.mtu.overhead);
      const tooLarge = f.mtu.pod + f.mtu.overhead > f.mtu.underlay;
      const seen = this.t.observe('mtu', tooLarge ? 'large' : 'ok');
      if (tooLarge && seen !== 'same' && !(seen === 'first' && f.persisted?.mtuTooLarge)) {
        emit({ type: 'Warning', reason: 'MTUTooLarge', action: 'DetectMTU', message: `pod MTU ${f.mtu.pod} + ${f.mtu.overhead} bytes of encapsulation exceeds ${f.mtu.interface}'s MTU ${f.mtu.underlay} on ${node}: large packets between pods are dropped; set spec.network.mtu to at most ${f.mtu.underlay - f.mtu.overhead}` });
      } else if (!tooLarge && seen === 'changed') {
        emit({ type: 'Normal', reason: 'MTUFits', action: 'DetectMTU', message: `pod MTU ${f.mtu.pod} + ${f.mtu.overhead} bytes of encapsulation fits ${f.mtu.interface}'s MTU ${f.mtu.underlay} again` });
      }
    }

    if (f.kernel) {
      if (!this.kernelSeen) { this.kernelSeen = true; this.kernelFailed = f.persisted?.kernelFailed ?? false; }
      if (!f.kernel.inSync && !this.kernelFailed) {
        this.kernelFailed = true;
        emit({ type: 'Warning', reason: 'KernelSyncFailed', action: 'ProgramKernel', message: `programming routes/tunnels on ${node} failed (retrying with backoff): ${f.kernel.error ?? 'unknown error'}` });
      } else if (f.kernel.inSync && this.kernelFailed) {
        this.kernelFailed = false;
        emit({ type: 'Normal', reason: 'KernelSyncRecovered', action: 'ProgramKernel', message: `the kernel of ${node} is in sync again` });
      }
    }

    if (f.bgpSessions) this.observeBgp(f.bgpSessions, emit);
    else m.bgpSessionUp.reset();

    if (f.released !== undefined) {
      const delta = this.released === undefined ? f.released : f.released - this.released;
      this.released = f.released;
      if (delta > 0) emit({ type: 'Normal', reason: 'LeakedAddressesReleased', action: 'ReleaseAddresses', message: `released ${delta} host-local address(es) on ${node} held by no pod past the grace period` });
    }

    for (const c of f.claimed ?? []) {
      emit({ type: 'Normal', reason: 'BlockClaimed', action: 'ClaimBlock', message: `claimed IPAM block ${c.cidr} of pool ${c.pool} for ${node} (${c.reason})` });
    }

    const exhausted = new Set(f.exhaustedPools ?? []);
    for (const pool of exhausted) {
      if (this.t.observe(`pool/${pool}`, 'exhausted') !== 'same') {
        emit({ type: 'Warning', reason: 'PoolExhausted', action: 'ClaimBlock', message: `pool ${pool} has no free block for ${node}: new pods there get no address once its blocks are full; add a pool or a larger CIDR to the Installation, or free blocks of deleted nodes` });
      }
    }
    this.t.prune('pool/', new Set([...exhausted].map((p) => `pool/${p}`)));

    if (f.conflistWritten) {
      emit({ type: 'Normal', reason: 'ConflistWritten', action: 'WriteConflist', message: `wrote CNI config ${f.conflistWritten.path} with ranges ${f.conflistWritten.ranges.join(', ') || '(none)'}` });
    }
    return out;
  }

  private observeBgp(sessions: NonNullable<PassFacts['bgpSessions']>, emit: (ev: NodeEvent) => void): void {
    const now = this.now();
    const grace = this.o.bgpStartupGraceMs ?? 120_000;
    const m = this.o.metrics;
    m.bgpSessionUp.reset();
    const keep = new Set<string>();
    for (const s of sessions) {
      const key = `bgp/${s.peer}`;
      keep.add(key);
      const up = s.state === ESTABLISHED;
      m.bgpSessionUp.set({ peer: s.peer }, up ? 1 : 0);
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, now);
      const prev = this.t.get(key);
      this.t.set(key, up ? 'up' : 'down');
      const who = `${s.name ? `${s.name} ` : ''}${s.peer}`;
      if (up) {
        if (this.reportedDown.delete(key)) emit({ type: 'Normal', reason: 'BGPSessionUp', action: 'PeerBGP', message: `BGP session to ${who} is Established again` });
        continue;
      }
      // Down: at once when it was Established, else once BIRD had its startup grace to connect.
      if (this.reportedDown.has(key)) continue;
      if (prev === 'up' || now - this.firstSeen.get(key)! >= grace) {
        this.reportedDown.add(key);
        emit({ type: 'Warning', reason: 'BGPSessionDown', action: 'PeerBGP', message: `BGP session to ${who} is ${s.state}, not Established${s.info ? ` (${s.info})` : ''}: routes to that peer's blocks are withdrawn; check TCP 179 and the peer's BIRD` });
      }
    }
    this.t.prune('bgp/', keep);
    for (const k of [...this.firstSeen.keys()]) if (!keep.has(k)) { this.firstSeen.delete(k); this.reportedDown.delete(k); }
  }
}
