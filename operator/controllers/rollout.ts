// The node-agent rollout step the Installation controller calls after applying. The DaemonSet
// uses updateStrategy OnDelete, so pods are replaced only when a rollout step deletes them;
// the health-gated batch rollout (issue 8) is a RolloutStep that deletes pods batch by batch.
// observeRollout is the step that deletes nothing and only counts.
import type { NodeNetwork } from '../../api/index.ts';
import type { KubeObject, Manager } from '../../kube/index.ts';
import type { RolloutCounts } from './status.ts';

export interface RolloutInput {
  /** Hash of the configuration the agents should run (render's configHash). */
  configHash: string;
  /** The pod template's hash (render's specHash, annotation weft.dev/spec-hash): pods of another one are replaced. */
  specHash: string;
  /** The DaemonSet as the cache last saw it (after this reconcile's apply, if any). */
  daemonSet: KubeObject | undefined;
  /** The DaemonSet's generation this reconcile applied (the cache may still show the previous one). */
  daemonSetGeneration: number | undefined;
  nodeNetworks: readonly NodeNetwork[];
  nodes: readonly KubeObject[];
  paused: boolean;
  maxUnavailable: number | string;
  signal: AbortSignal;
  /** Records a (deduplicated) Event on the Installation, e.g. "batch 2 started: nodes a, b". */
  event: (type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
}

export interface RolloutOutcome {
  counts: RolloutCounts;
  /** The DaemonSet controller caught up with the template and every scheduled pod is ready and current. */
  daemonSetReady: boolean;
  message?: string;
  /** Come back after this long even if nothing changes (a batch timeout to check). */
  requeueAfterMs?: number;
  /** A halted rollout (issue 8): Degraded with this reason and message. */
  halted?: { reason: string; message: string };
}

export type RolloutStep = (input: RolloutInput) => Promise<RolloutOutcome>;

/**
 * Builds a rollout step before the manager starts, so it can register the informers it needs
 * (e.g. the agent pods in weft-system) and enqueue the Installation when they change. Pods are
 * deleted through manager.client (the operator's Role grants delete on pods in weft-system).
 */
export type RolloutFactory = (ctx: { manager: Manager; enqueue: () => void }) => RolloutStep;

interface DaemonSetStatus {
  observedGeneration?: number;
  desiredNumberScheduled?: number;
  numberReady?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
}

export function isConditionTrue(conds: readonly { type: string; status: string }[] | undefined, type: string): boolean {
  return conds?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/** Counts from the DaemonSet status and the agents' NodeNetwork reports; deletes nothing. */
export function countRollout(input: Omit<RolloutInput, 'signal' | 'event'>): Omit<RolloutOutcome, 'requeueAfterMs' | 'halted'> {
  const ds = input.daemonSet;
  const st = (ds?.status ?? {}) as DaemonSetStatus;
  const generation = input.daemonSetGeneration ?? ds?.metadata?.generation;
  const caughtUp = ds !== undefined && st.observedGeneration !== undefined && st.observedGeneration >= (generation ?? 0) && ds.metadata?.generation === generation;
  const desired = st.desiredNumberScheduled ?? 0;
  const updatedNodes = input.nodeNetworks.filter((n) => n.status?.configHash === input.configHash);
  const updated = Math.min(desired, updatedNodes.length);
  const ready = Math.min(desired, updatedNodes.filter((n) => isConditionTrue(n.status?.conditions, 'Ready')).length);
  const daemonSetReady = caughtUp && (st.numberReady ?? 0) >= desired && (st.updatedNumberScheduled ?? 0) >= desired;
  let message: string | undefined;
  if (!caughtUp) message = 'waiting for the DaemonSet controller to observe the new template';
  else if (!daemonSetReady) message = `${st.numberReady ?? 0}/${desired} agent pods ready`;
  return { counts: { desired, updated, ready }, daemonSetReady, ...(message ? { message } : {}) };
}

export const observeRollout: RolloutStep = async (input) => countRollout(input);
