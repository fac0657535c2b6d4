/**
 * The pod MTU: the user's spec.network.mtu, or the smallest underlay MTU of all nodes minus the
 * largest overhead of the pools' encapsulations and of the encryption (DESIGN.md,
 * "Encapsulation overheads"; api/encapsulation.ts podOverhead).
 */
import { podOverhead, type EffectiveEncapsulation, type EncryptionMode } from '../api/index.ts';
import type { ClusterProblem, Explanation, NodeFacts } from './types.ts';
import { describeFixes, type Fix } from '../api/advice.ts';
import { compareStrings, nameList, primaryFamily } from './underlay.ts';

/** Assumed underlay MTU before any node reported one (Ethernet). */
export const ASSUMED_UNDERLAY_MTU = 1500;
/** An IPv6 outer header is 40 bytes, 20 more than the IPv4 one the overhead table assumes. */
export const IPV6_UNDERLAY_EXTRA = 20;

export interface MtuPool {
  name: string;
  family: 4 | 6;
  encapsulation: EffectiveEncapsulation;
}

export interface MtuDecision {
  mtu: number;
  reason: string;
  explain: Explanation[];
  problems: ClusterProblem[];
}

/** What limits the pod MTU: the encapsulation with the largest overhead among the pools (first
 *  pool wins a tie), or WireGuard when encryption is on and its overhead is larger. */
export type OverheadSource = EffectiveEncapsulation | 'WireGuard';

/** The largest overhead among the pools with the encryption mode (first pool wins a tie). */
export function largestOverhead(pools: readonly MtuPool[], encryption: EncryptionMode = 'Disabled'): { mode: OverheadSource; overhead: number } {
  const base = podOverhead('None', encryption);
  let best: { mode: OverheadSource; overhead: number } = { mode: base.by, overhead: base.overhead };
  for (const p of pools) {
    const o = podOverhead(p.encapsulation, encryption);
    if (o.overhead > best.overhead) best = { mode: o.by, overhead: o.overhead };
  }
  return best;
}

interface NodeMtu {
  name: string;
  underlay: number;
  ipv6Extra: number;
  pod: number;
}

function formula(n: Pick<NodeMtu, 'underlay' | 'ipv6Extra'>, mode: OverheadSource, overhead: number): string {
  if (overhead === 0) return `min node MTU ${n.underlay}, no encapsulation overhead`;
  const v6 = n.ipv6Extra > 0 ? ` - IPv6 underlay ${n.ipv6Extra}` : '';
  // WireGuard is named as encryption: it is no pool's encapsulation, and it wins over the pools' own.
  const what = mode === 'WireGuard' ? 'WireGuard encryption' : mode;
  return `min node MTU ${n.underlay} - ${what} ${overhead}${v6}`;
}

/** What the underlay allows, from the nodes that reported an MTU; undefined before any did. */
function autodetect(pools: readonly MtuPool[], nodes: readonly NodeFacts[], encryption: EncryptionMode): { mtu: number; reason: string; provisional: boolean } {
  const { mode, overhead } = largestOverhead(pools, encryption);
  const measured: NodeMtu[] = nodes
    .filter((n) => n.mtu !== undefined)
    .map((n) => {
      const ipv6Extra = overhead > 0 && primaryFamily(n) === 6 ? IPV6_UNDERLAY_EXTRA : 0;
      return { name: n.name, underlay: n.mtu!, ipv6Extra, pod: n.mtu! - overhead - ipv6Extra };
    });
  if (measured.length === 0) {
    const assumed = { underlay: ASSUMED_UNDERLAY_MTU, ipv6Extra: 0 };
    return {
      mtu: ASSUMED_UNDERLAY_MTU - overhead,
      reason: `provisional: no node has reported its underlay MTU yet; assumed ${formula(assumed, mode, overhead).replace('min node MTU', 'underlay MTU')}`,
      provisional: true,
    };
  }
  const mtu = Math.min(...measured.map((n) => n.pod));
  const lowest = measured.filter((n) => n.pod === mtu).sort((a, b) => compareStrings(a.name, b.name));
  const first = lowest[0]!;
  const same = lowest.filter((n) => n.underlay === first.underlay && n.ipv6Extra === first.ipv6Extra);
  const pending = nodes.filter((n) => n.mtu === undefined).map((n) => n.name);
  const pendingNote = pending.length > 0 ? `; not reported yet: ${nameList(pending)}` : '';
  return { mtu, reason: `${formula(first, mode, overhead)} (nodes: ${nameList(same.map((n) => n.name))})${pendingNote}`, provisional: false };
}

/** The pod MTU and why; `encryption` is spec.network.encryption.mode (its overhead counts like a tunnel's). */
export function decideMtu(specMtu: number, pools: readonly MtuPool[], nodes: readonly NodeFacts[], encryption: EncryptionMode = 'Disabled'): MtuDecision {
  const auto = autodetect(pools, nodes, encryption);
  const explain: Explanation[] = [];
  const problems: ClusterProblem[] = [];
  let mtu: number;
  let reason: string;
  if (specMtu > 0) {
    mtu = specMtu;
    reason = 'set in spec.network.mtu';
    if (!auto.provisional && specMtu > auto.mtu) {
      const fixes: Fix[] = [...(auto.mtu >= 576 ? [[{ path: 'spec.network.mtu', value: auto.mtu }]] : []), [{ path: 'spec.network.mtu', value: 0 }]];
      const message = `spec.network.mtu ${specMtu} is larger than the underlay carries: ${auto.reason} leaves ${auto.mtu} for pods, so larger packets between nodes are dropped. Set ${describeFixes(fixes)} (0 autodetects)`;
      problems.push({ reason: 'MTUTooLarge', message, path: 'spec.network.mtu', fixes });
    }
  } else {
    mtu = auto.mtu;
    reason = auto.reason;
  }
  explain.push({ subject: 'mtu', decision: String(mtu), reason });
  const needsV6 = pools.some((p) => p.family === 6);
  const floor = needsV6 ? 1280 : 576;
  if (mtu < floor) {
    const message = `the pod MTU ${mtu} is below ${floor}, the minimum ${needsV6 ? 'IPv6 requires' : 'IPv4 guarantees'} (${reason}); raise the underlay MTU or choose an encapsulation with less overhead`;
    problems.push({ reason: 'MTUTooSmall', message, path: 'spec.network.mtu' });
  }
  for (const p of problems) explain.push({ subject: 'mtu', decision: p.reason, reason: p.message, warning: true });
  return { mtu, reason, explain, problems };
}
