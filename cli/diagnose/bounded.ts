// What keeps `weft diagnose` bounded on a large cluster: a cap on requests in flight (to the
// agents, and pings in the sandbox's namespaces), and probe pairs that grow linearly with the
// node count instead of with its square — 1000 nodes would otherwise mean 999 000 DF probes.

/** Requests to agents (or pings) in flight at once, unless --concurrency says otherwise. */
export const DEFAULT_CONCURRENCY = 16;
/** Peers each node probes, unless --probe-peers says otherwise; 0 means every other node. */
export const DEFAULT_PROBE_PEERS = 8;

/**
 * The directed probe pairs [from, to] among `nodes` (sorted by the caller): each node probes the
 * `perNode` nodes after it in a ring. Every node is then a source and a target exactly perNode
 * times, so a node that drops traffic is an end of 2 × perNode failing pairs while any other node
 * is an end of at most 2 — what the analysis blames on (cli/diagnose/analyze.ts). perNode 0 or
 * ≥ nodes.length − 1 gives every ordered pair.
 */
export function probePairs<T>(nodes: readonly T[], perNode: number): [T, T][] {
  const n = nodes.length;
  const k = perNode <= 0 ? n - 1 : Math.min(perNode, n - 1);
  const out: [T, T][] = [];
  for (let i = 0; i < n; i++) for (let d = 1; d <= k; d++) out.push([nodes[i]!, nodes[(i + d) % n]!]);
  return out;
}
