// The health-gated node-agent rollout as a pure decision: given what the cluster shows now
// (each node's agent pod, its NodeNetwork report, whether the node is usable), which pods to
// delete in this reconcile, what to report, and whether the rollout is halted. No I/O and no
// clock of its own, so every rule is unit-tested, and the operator can be restarted or lose its
// lease at any moment: the next leader derives the same decision from the same cluster.

export interface AgentPod {
  name: string;
  uid: string;
  /** The pod's weft.dev/spec-hash annotation (from the DaemonSet template it was created from). */
  hash: string | undefined;
  createdAt: number;
  phase?: string;
}

export interface AgentReport {
  hash: string | undefined;
  /** The UID of the agent pod that wrote the report (NodeNetwork.status.podUID), when it says. */
  podUID?: string;
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
  /** The configuration hash the operator handed the node's running agent (NodeNetwork annotation network.weft.dev/config-hash). */
  granted?: string;
  /** Since when the node has held a grant of the target configuration (memory of this process, else first seen). */
  grantedSince?: number;
}

export type NodeState =
  /** Its agent pod was created from another template (spec hash): to be replaced (pod deleted). */
  | 'outdated'
  /** Its agent pod is current but runs another configuration and was not handed the target: the
   *  operator hands it the target, and the running agent applies it in place (docs/adr/0010). */
  | 'stale'
  /** Its agent runs the target configuration and reports it, Ready. */
  | 'done'
  /** NotReady or cordoned: not waited on, counted as done. */
  | 'skipped'
  /** Replaced (or being replaced) and not Ready yet: the batch in flight. */
  | 'inflight';

export interface PlanInput {
  /** The configuration hash the agents must run and report (render's configHash). */
  targetHash: string;
  /** The pod template's spec hash (render's specHash); default targetHash. */
  targetSpecHash?: string;
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
  /** delete: a new pod (new template); grant: the running agent applies the target in place. */
  action: 'delete' | 'grant';
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
  /** Nodes to start now: the canary, then whatever keeps maxUnavailable nodes in flight. */
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

export function classify(n: NodeView, target: string, targetSpec: string = target): NodeState {
  if (n.pod && n.pod.hash !== targetSpec) return 'outdated';
  if (n.pod && n.report?.hash === target && n.report.ready) return 'done';
  if (n.unavailable) return 'skipped';
  // The report is the current pod's own (not the one of the pod it replaced, which still shows
  // until the new agent writes), so this agent runs another configuration and waits to be told.
  if (n.pod && n.report && n.report.podUID === n.pod.uid && n.report.hash !== target && n.granted !== target) return 'stale';
  return 'inflight';
}

/** When the node's change started: the grant, the new pod's creation or, before it exists, when the old one went. */
function startedAt(n: NodeView, now: number): number {
  let t: number;
  if (n.pod) t = n.withoutPodSince !== undefined ? Math.min(n.withoutPodSince, n.pod.createdAt) : n.pod.createdAt;
  else t = n.withoutPodSince ?? now;
  return n.grantedSince !== undefined ? Math.max(t, n.grantedSince) : t;
}

function whyNotDone(n: NodeView, target: string): string {
  const short = target.slice(0, 12);
  if (!n.pod) return 'no agent pod running yet (the DaemonSet controller has not recreated it)';
  if (n.pod.phase && n.pod.phase !== 'Running') return `agent pod ${n.pod.name} is ${n.pod.phase}`;
  if (!n.report) return `agent pod ${n.pod.name} has not reported in its NodeNetwork`;
  if (n.report.hash !== target && n.granted === target) return `agent has not applied configuration ${short} in place yet (reports ${n.report.hash?.slice(0, 12) ?? 'none'})`;
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

/**
 * The rollout decision. After the canary (one node, when no node runs the target yet) it keeps up
 * to maxUnavailable nodes in flight and starts the next as soon as one passes its health gate — a
 * sliding window like the DaemonSet controller's RollingUpdate — instead of waiting for a whole
 * batch. Any in-flight node past the timeout halts it: nothing more is started.
 */
export function plan(input: PlanInput): Plan {
  const { targetHash: target, now } = input;
  const targetSpec = input.targetSpecHash ?? target;
  const short = target.slice(0, 12);
  const nodes = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const desired = nodes.length;
  const states = nodes.map((n) => ({ n, s: classify(n, target, targetSpec) }));
  const of = (s: NodeState) => states.filter((x) => x.s === s).map((x) => x.n);
  const restart = of('outdated');
  const stale = of('stale');
  const inflight = of('inflight');
  const skipped = of('skipped');
  const done = of('done');
  // Nodes still to start, either way; pods to replace first (order below decides within).
  const outdated = [...restart, ...stale].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const counts = {
    desired,
    updated: nodes.filter((n) => n.pod && n.pod.hash === targetSpec && (n.report?.hash === target || n.granted === target || targetSpec === target)).length,
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
  const waiting = () => `${progress}: waiting for ${inflight.length} node(s) to report Ready: ${listNames(inflight.map((n) => n.name), 5)}`;
  const withRecheck = recheckMs ? { recheckMs } : {};

  if (outdated.length === 0) {
    if (inflight.length > 0) return { ...base, message: waiting(), complete: false, ...withRecheck };
    return { ...base, message: `${done.length + skipped.length}/${desired} nodes on ${progress}`, complete: true };
  }
  if (input.paused) {
    const msg = `${progress}: paused (spec.nodeUpdateStrategy.paused) with ${outdated.length} node(s) left`;
    return { ...base, message: inflight.length ? `${msg}; waiting for ${inflight.length} node(s) in flight` : msg, complete: false, ...withRecheck };
  }
  if (restart.length > 0 && !input.templateCurrent) return { ...base, message: `${progress}: waiting for the DaemonSet controller to observe the new template`, complete: false, ...withRecheck };

  // The first node to take a new configuration is a canary, unless some node already proved it
  // (a rollback to the configuration most nodes still run, or a rollout resumed after a restart).
  const canary = done.length === 0;
  const slots = canary ? (inflight.length === 0 ? 1 : 0) : batchSize - inflight.length;
  if (slots <= 0) return { ...base, message: waiting(), complete: false, ...withRecheck };
  // Nodes already down cost no availability: they go first. The canary must be a node that
  // can tell whether the new configuration works, so it is an available one when there is one.
  const order = canary
    ? [...outdated.filter((n) => !n.unavailable), ...outdated.filter((n) => n.unavailable)]
    : [...outdated.filter((n) => n.unavailable), ...outdated.filter((n) => !n.unavailable)];
  const stalePods = new Set(stale.map((n) => n.name));
  const replace = order.slice(0, slots).map((n) => ({ node: n.name, pod: n.pod!.name, uid: n.pod!.uid, action: stalePods.has(n.name) ? ('grant' as const) : ('delete' as const) }));
  return {
    ...base,
    replace,
    batchKind: canary ? 'canary' : 'batch',
    message: `${progress}: ${canary ? 'starting the canary' : `starting ${replace.length} more node(s), ${inflight.length + replace.length} in flight of at most ${batchSize}`}: ${listNames(replace.map((r) => r.node), 5)}`,
    complete: false,
    ...withRecheck,
  };
}
