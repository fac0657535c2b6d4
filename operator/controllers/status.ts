// Installation.status, following kstatus: observedGeneration plus Ready / Progressing / Degraded
// conditions with reason and message. Pure: the controller compares the result with the live
// status and writes only when they differ, so an unchanged cluster causes no status write.
import type { Condition, InstallationStatus, IPPoolStatus, NodeCounts } from '../../api/index.ts';
import { canonicalJson } from '../../kube/json.ts';
import { mergeConditions as mergeKubeConditions, type ConditionInput as KubeConditionInput } from '../../kube/conditions.ts';

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded';

export type ConditionInput = KubeConditionInput<ConditionType>;

/** kube's condition merge with kstatus's observedGeneration on every condition. */
function mergeConditions(previous: readonly Condition[] | undefined, next: readonly ConditionInput[], generation: number | undefined, now: string): Condition[] {
  return mergeKubeConditions(previous, next, { now, observedGeneration: generation });
}

export interface RolloutCounts extends NodeCounts {
  desired: number;
  updated: number;
  ready: number;
}

export interface HealthyInput {
  generation: number | undefined;
  mtu: number;
  mtuReason: string;
  ipPools: IPPoolStatus[];
  configHash: string;
  version: string;
  nodes: RolloutCounts;
  /** The DaemonSet controller has seen the current template and its pods are all ready and current. */
  daemonSetReady: boolean;
  /** Extra words from the rollout step, e.g. "paused" or "batch 2 of 5". */
  rolloutMessage?: string;
}

/** "default=None,edge=VXLAN", or just "VXLAN" when every pool has the same mode. */
export function encapsulationSummary(pools: readonly IPPoolStatus[]): string {
  const modes = [...new Set(pools.map((p) => p.encapsulation))];
  if (modes.length === 0) return 'None';
  if (modes.length === 1) return modes[0]!;
  return pools.map((p) => `${p.name}=${p.encapsulation}`).join(',');
}

export function healthyConditions(i: HealthyInput): ConditionInput[] {
  const { desired, updated, ready } = i.nodes;
  const done = i.daemonSetReady && updated >= desired && ready >= desired;
  const progress = `${ready}/${desired} nodes ready, ${updated}/${desired} updated`;
  return [
    done
      ? { type: 'Ready', status: 'True', reason: 'Ready', message: `pod network ready on ${desired} node(s): mtu ${i.mtu}, encapsulation ${encapsulationSummary(i.ipPools)}` }
      : { type: 'Ready', status: 'False', reason: 'RolloutInProgress', message: progress + (i.rolloutMessage ? `; ${i.rolloutMessage}` : '') },
    done
      ? { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: `${desired}/${desired} nodes run configuration ${i.configHash.slice(0, 12)}` }
      : { type: 'Progressing', status: 'True', reason: 'RolloutInProgress', message: progress + (i.rolloutMessage ? `; ${i.rolloutMessage}` : '') },
    { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'configuration accepted' },
  ];
}

/**
 * A node-agent rollout halted by a batch that did not come up in time (issue 8): the
 * configuration was accepted and partly rolled out, so unlike degradedStatus the effective values
 * and node counts are current; Progressing False + Degraded True is kstatus's "stalled".
 */
export function haltedConditions(i: HealthyInput, reason: string, message: string): ConditionInput[] {
  const { desired, updated, ready } = i.nodes;
  return [
    { type: 'Ready', status: 'False', reason, message: `${ready}/${desired} nodes ready, ${updated}/${desired} updated; rollout halted` },
    { type: 'Progressing', status: 'False', reason, message: `rollout halted at ${ready}/${desired} nodes: nothing more is replaced until the nodes named in Degraded are Ready or the Installation is reverted` },
    { type: 'Degraded', status: 'True', reason, message },
  ];
}

export function healthyStatus(i: HealthyInput, previous: InstallationStatus | undefined, now: string, halted?: { reason: string; message: string }): InstallationStatus {
  const conditions = halted ? haltedConditions(i, halted.reason, halted.message) : healthyConditions(i);
  return {
    observedGeneration: i.generation,
    conditions: mergeConditions(previous?.conditions, conditions, i.generation, now),
    mtu: i.mtu,
    mtuReason: i.mtuReason,
    encapsulation: encapsulationSummary(i.ipPools),
    ipPools: i.ipPools,
    nodes: { desired: i.nodes.desired, updated: i.nodes.updated, ready: i.nodes.ready },
    version: i.version,
    configHash: i.configHash,
  };
}

/**
 * The status of a configuration the operator refused: Degraded with the problems, Ready False,
 * and every effective value left as it was — they still describe what the cluster runs.
 */
export function degradedStatus(
  previous: InstallationStatus | undefined,
  generation: number | undefined,
  reason: string,
  message: string,
  version: string,
  now: string,
): InstallationStatus {
  const conds: ConditionInput[] = [
    { type: 'Ready', status: 'False', reason, message: `configuration generation ${generation ?? '?'} not applied; the previous configuration keeps running: ${message}` },
    { type: 'Progressing', status: 'False', reason: 'Blocked', message: 'nothing is rolled out until the configuration is fixed' },
    { type: 'Degraded', status: 'True', reason, message },
  ];
  const out: InstallationStatus = { ...previous, observedGeneration: generation, conditions: mergeConditions(previous?.conditions, conds, generation, now) };
  if (!out.version) out.version = version;
  return out;
}

/** Whether two statuses say the same (members set to undefined count as absent). */
export function statusEqual(a: InstallationStatus | undefined, b: InstallationStatus | undefined): boolean {
  return canonicalJson(strip(a ?? {})) === canonicalJson(strip(b ?? {}));
}

/** Drops undefined members so {x: undefined} equals {}. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = strip(x);
    return out;
  }
  return v;
}
