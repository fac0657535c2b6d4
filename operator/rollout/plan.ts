// The health-gated node-agent rollout as a pure decision: given what the cluster shows now
// (each node's agent pod, its NodeNetwork report, whether the node is usable), which pods to
// delete in this reconcile, what to report, and whether the rollout is halted. No I/O and no
// clock of its own, so every rule is unit-tested, and the operator can be restarted or lose its
// lease at any moment: the next leader derives the same decision from the same cluster.

export interface AgentPod {
  name: string;
  uid: string;
  /** The pod's weft.dev/config-hash annotation (from the DaemonSet template it was created from). */
  hash: string | undefined;
  createdAt: number;
  phase?: string;
}

export interface AgentReport {
  hash: string | undefined;
  ready: boolean;
  reason?: string;
  message?: string;
}

export interface NodeView {
  name: string;
  /** Why the rollout does not wait on this node, if it does not. */
  unavailable?: 'NotReady' | 'cordoned';
  /** The agent pod that runs (or will run) on the node and is not being deleted. */
  pod?: AgentPod;
  /** No live pod: since when the node has been without one (a pod deleted by the rollout, a node that just joined). */
  withoutPodSince?: number;
  report?: AgentReport;
}

export type NodeState =
  /** Its agent runs another configuration: to be replaced. */
  | 'outdated'
  /** Its agent runs the target configuration and reports it, Ready. */
  | 'done'
  /** NotReady or cordoned: not waited on, counted as done. */
  | 'skipped'
  /** Replaced (or being replaced) and not Ready yet: the batch in flight. */
  | 'inflight';

export interface PlanInput {
  targetHash: string;
  nodes: readonly NodeView[];
  /** nodeUpdateStrategy.maxUnavailable: a count or "N%" of the nodes. */
  maxUnavailable: number | string;
  paused: boolean;
  batchTimeoutMs: number;
  now: number;
  /** The DaemonSet carries the target template and its controller has observed it: a deleted pod comes back new. */
  templateCurrent: boolean;
}

export interface Replacement {
  node: string;
  pod: string;
  uid: string;
}

export interface Stuck {
  node: string;
  forMs: number;
  why: string;
}

export interface Plan {
  counts: { desired: number; updated: number; ready: number };
  outdated: number;
  inflight: number;
  skipped: number;
  /** Pods to delete now: the next batch (empty unless the previous batch is done). */
  replace: Replacement[];
  batchKind?: 'canary' | 'batch';
  batchSize: number;
  /** The batch in flight missed its deadline: nothing more is replaced. */
  halted?: { reason: 'RolloutHalted' | 'AgentsNotReady'; message: string; stuck: Stuck[] };
  /** For the Progressing / Ready messages. */
  message: string;
  /** No node left to replace or to wait on. */
  complete: boolean;
  /** Check again after this long even if nothing changes (the in-flight batch's deadline). */
  recheckMs?: number;
}

/** maxUnavailable as a node count: a percentage of desired nodes rounded up, never below 1. */
export function resolveMaxUnavailable(v: number | string, desired: number): number {
  if (typeof v === 'number') return Math.max(1, Math.floor(v));
  const m = /^(\d+)%$/.exec(v.trim());
  if (m) return Math.max(1, Math.ceil((Number(m[1]) * desired) / 100));
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1) return n;
  throw new Error(`spec.nodeUpdateStrategy.maxUnavailable: ${JSON.stringify(v)} is neither a count such as 3 nor a percentage such as "10%"`);
}

export function classify(n: NodeView, target: string): NodeState {
  if (n.pod && n.pod.hash !== target) return 'outdated';
  if (n.pod && n.report?.hash === target && n.report.ready) return 'done';
  if (n.unavailable) return 'skipped';
  return 'inflight';
}

/** When the node's replacement started: the new pod's creation or, before it exists, when the old one went. */
function startedAt(n: NodeView, now: number): number {
  if (n.pod) return n.withoutPodSince !== undefined ? Math.min(n.withoutPodSince, n.pod.createdAt) : n.pod.createdAt;
  return n.withoutPodSince ?? now;
}

function whyNotDone(n: NodeView, target: string): string {
  const short = target.slice(0, 12);
  if (!n.pod) return 'no agent pod running yet (the DaemonSet controller has not recreated it)';
  if (n.pod.phase && n.pod.phase !== 'Running') return `agent pod ${n.pod.name} is ${n.pod.phase}`;
  if (!n.report) return `agent pod ${n.pod.name} has not reported in its NodeNetwork`;
  if (n.report.hash !== target) return `agent has not reported configuration ${short} yet (reports ${n.report.hash?.slice(0, 12) ?? 'none'})`;
  const reason = [n.report.reason, n.report.message].filter(Boolean).join(': ');
  return `agent not Ready${reason ? ` (${reason})` : ''}`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export function listNames(names: readonly string[], max = 10): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

export function plan(input: PlanInput): Plan {
  const { targetHash: target, now } = input;
  const short = target.slice(0, 12);
  const nodes = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const desired = nodes.length;
  const states = nodes.map((n) => ({ n, s: classify(n, target) }));
  const of = (s: NodeState) => states.filter((x) => x.s === s).map((x) => x.n);
  const outdated = of('outdated');
  const inflight = of('inflight');
  const skipped = of('skipped');
  const done = of('done');
  const counts = {
    desired,
    updated: nodes.filter((n) => n.pod && n.pod.hash === target).length,
    ready: done.length,
  };
  const batchSize = resolveMaxUnavailable(input.maxUnavailable, desired);
  const base = { counts, outdated: outdated.length, inflight: inflight.length, skipped: skipped.length, replace: [] as Replacement[], batchSize };
  const skippedNote = skipped.length ? `, ${skipped.length} not waited on (NotReady or cordoned)` : '';

  // Any node on the target that has not come up within the timeout stops the rollout: the
  // configuration may be what broke it, so no further node is handed to it.
  const stuck: Stuck[] = inflight
    .map((n) => ({ node: n.name, forMs: now - startedAt(n, now), why: whyNotDone(n, target) }))
    .filter((x) => x.forMs >= input.batchTimeoutMs);
  if (stuck.length > 0) {
    const detail = stuck.map((x) => `${x.node}: ${x.why}`);
    const shown = detail.length <= 10 ? detail.join('; ') : `${detail.slice(0, 10).join('; ')}; and ${detail.length - 10} more`;
    const limit = formatDuration(input.batchTimeoutMs);
    const halted =
      outdated.length > 0
        ? {
            reason: 'RolloutHalted' as const,
            message:
              `node-agent rollout to configuration ${short} halted: ${stuck.length} node(s) not Ready on it within ${limit}: ${shown}. ` +
              `${outdated.length} node(s) still run the previous configuration and are left alone; fix the node(s) named, or revert the Installation to roll back`,
          }
        : {
            reason: 'AgentsNotReady' as const,
            message: `${stuck.length} node agent(s) not Ready on configuration ${short} within ${limit}: ${shown}; fix the node(s) named, or revert the Installation to roll back`,
          };
    return { ...base, halted: { ...halted, stuck }, message: halted.message, complete: false };
  }

  const deadlines = inflight.map((n) => startedAt(n, now) + input.batchTimeoutMs - now);
  const recheckMs = deadlines.length ? Math.max(100, Math.min(...deadlines) + 50) : undefined;
  const progress = `configuration ${short}${skippedNote}`;

  if (inflight.length > 0) {
    return { ...base, message: `${progress}: waiting for ${inflight.length} node(s) to report Ready: ${listNames(inflight.map((n) => n.name), 5)}`, complete: false, ...(recheckMs ? { recheckMs } : {}) };
  }
  if (outdated.length === 0) return { ...base, message: `${done.length + skipped.length}/${desired} nodes on ${progress}`, complete: true };
  if (input.paused) return { ...base, message: `${progress}: paused (spec.nodeUpdateStrategy.paused) with ${outdated.length} node(s) left`, complete: false };
  if (!input.templateCurrent) return { ...base, message: `${progress}: waiting for the DaemonSet controller to observe the new template`, complete: false };

  // The first node to take a new configuration is a canary, unless some node already proved it
  // (a rollback to the configuration most nodes still run, or a rollout resumed after a restart).
  const canary = done.length === 0;
  const size = canary ? 1 : batchSize;
  // Nodes already down cost no availability: they go first. The canary must be a node that
  // can tell whether the new configuration works, so it is an available one when there is one.
  const order = canary
    ? [...outdated.filter((n) => !n.unavailable), ...outdated.filter((n) => n.unavailable)]
    : [...outdated.filter((n) => n.unavailable), ...outdated.filter((n) => !n.unavailable)];
  const replace = order.slice(0, size).map((n) => ({ node: n.name, pod: n.pod!.name, uid: n.pod!.uid }));
  return {
    ...base,
    replace,
    batchKind: canary ? 'canary' : 'batch',
    message: `${progress}: replacing ${canary ? 'the canary' : `a batch of ${replace.length}`}: ${listNames(replace.map((r) => r.node), 5)}`,
    complete: false,
  };
}
