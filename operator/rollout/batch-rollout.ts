// The health-gated node-agent rollout (issue 8, docs/adr/0008): a RolloutStep the Installation
// controller calls on every reconcile. The DaemonSet is OnDelete; this step deletes the agent
// pods of one batch at a time (a canary of one node, then batches of maxUnavailable) and starts
// the next batch only when every node of the previous one reports the new configuration hash
// and Ready in its NodeNetwork. Everything it decides on is read from the cluster (pods' config
// hash annotation, NodeNetwork reports, Node conditions), so a restarted operator or a new
// leader picks the rollout up where it stood. The only memory is which pods this process just
// deleted — the cache can show them alive for a moment — and it is only ever a shortcut.
import { setMaxListeners } from 'node:events';
import { annotations, names, type NodeNetwork } from '../../api/index.ts';
import { countRollout, isConditionTrue, type RolloutFactory, type RolloutInput, type RolloutOutcome } from '../controllers/rollout.ts';
import type { RolloutCounts } from '../controllers/status.ts';
import { ApiError, byNodeName, type Informer, type KubeObject, type Manager } from '../../kube/index.ts';
import { listNames, plan, type NodeView, type Plan } from './plan.ts';

export interface BatchRolloutOptions {
  /** A batch not done within this long halts the rollout. Default 5 min. */
  batchTimeoutMs?: number;
  /**
   * The rollout's counts reach Installation.status at most this often (the Installation
   * controller writes status whenever it changes; at 1000 nodes every agent report would be a
   * write). Batch starts, halts and completion are published at once. Default 1 s.
   */
  statusIntervalMs?: number;
  /** Deletes in flight at once. Default 200: a batch goes out in one round. */
  deleteConcurrency?: number;
  now?: () => number;
}

export const DEFAULT_BATCH_TIMEOUT_MS = 5 * 60_000;

export const agentPodResource = {
  version: 'v1',
  plural: 'pods',
  namespace: names.namespace,
  labelSelector: `app.kubernetes.io/name=${names.daemonSet}`,
} as const;

interface Pod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string };
  metadata?: KubeObject['metadata'] & { creationTimestamp?: string; deletionGracePeriodSeconds?: number };
}

interface NodeObj extends KubeObject {
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
}

interface DaemonSetObj extends KubeObject {
  spec?: { template?: { metadata?: { annotations?: Record<string, string> }; spec?: { nodeSelector?: Record<string, string> } } };
  status?: { observedGeneration?: number };
}

const ms = (t: string | Date | undefined): number | undefined => (t === undefined ? undefined : new Date(t).getTime());

function podProjection(p: Pod): string {
  return JSON.stringify([p.spec?.nodeName, p.metadata?.annotations?.[annotations.configHash], p.status?.phase, !!p.metadata?.deletionTimestamp]);
}

function nodeAvailability(n: NodeObj): NodeView['unavailable'] {
  if (n.spec?.unschedulable) return 'cordoned';
  return isConditionTrue(n.status?.conditions, 'Ready') ? undefined : 'NotReady';
}

export function batchRollout(o: BatchRolloutOptions = {}): RolloutFactory {
  const timeoutMs = o.batchTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS;
  const intervalMs = o.statusIntervalMs ?? 1_000;
  const concurrency = o.deleteConcurrency ?? 200;
  const now = o.now ?? Date.now;

  return ({ manager, enqueue }) => {
    const pods: Informer<Pod> = manager.informer<Pod>(agentPodResource, { indexers: { node: byNodeName } });
    const nodes: Informer<NodeObj> = manager.informer<NodeObj>({ version: 'v1', plural: 'nodes' });
    pods.subscribe((ev) => {
      if (ev.type === 'resync') return;
      if (ev.type === 'update' && podProjection(ev.obj) === podProjection(ev.old)) return;
      enqueue();
    });
    // The Installation controller looks at Node labels only; a node going NotReady or being
    // cordoned changes whether the rollout waits on it.
    nodes.subscribe((ev) => {
      if (ev.type !== 'update') return;
      if (nodeAvailability(ev.obj) !== nodeAvailability(ev.old) || !!ev.obj.metadata?.deletionTimestamp !== !!ev.old.metadata?.deletionTimestamp) enqueue();
    });

    /** Pods this process deleted, by node: the cache may still show them for a moment. */
    const deleted = new Map<string, { uid: string; at: number }>();
    /** Nodes seen without any agent pod, and since when (a new node, or a restart mid-replacement). */
    const podless = new Map<string, number>();
    let published: { counts: RolloutCounts; message: string; at: number } | undefined;
    let lastHalt: string | undefined;

    function views(input: RolloutInput, ds: DaemonSetObj | undefined, t: number): NodeView[] {
      const selector = ds?.spec?.template?.spec?.nodeSelector ?? {};
      const reports = new Map<string, NodeNetwork>();
      for (const nn of input.nodeNetworks) reports.set(nn.spec?.nodeName || nn.metadata?.name || '', nn);
      const out: NodeView[] = [];
      const seen = new Set<string>();
      for (const node of input.nodes as NodeObj[]) {
        const name = node.metadata?.name;
        if (!name || node.metadata?.deletionTimestamp) continue;
        const labels = node.metadata?.labels ?? {};
        if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
        seen.add(name);
        const mine = deleted.get(name);
        let live: Pod | undefined;
        let goneSince: number | undefined;
        for (const p of pods.store.byIndex('node', name)) {
          const del = p.metadata?.deletionTimestamp;
          if (del || p.metadata?.uid === mine?.uid) {
            // Being deleted: the replacement started when the delete was issued.
            const since = mine && p.metadata?.uid === mine.uid ? mine.at : (ms(del) ?? t) - (p.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
            goneSince = Math.min(goneSince ?? since, since);
            continue;
          }
          if (!live || (ms(p.metadata?.creationTimestamp) ?? 0) > (ms(live.metadata?.creationTimestamp) ?? 0)) live = p;
        }
        if (mine) goneSince = Math.min(goneSince ?? mine.at, mine.at);
        if (!live && goneSince === undefined) {
          if (!podless.has(name)) podless.set(name, t);
          goneSince = podless.get(name);
        } else podless.delete(name);
        const nn = reports.get(name);
        const ready = nn?.status?.conditions?.find((c) => c.type === 'Ready');
        const unavailable = nodeAvailability(node);
        out.push({
          name,
          ...(unavailable ? { unavailable } : {}),
          ...(live
            ? {
                pod: {
                  name: live.metadata!.name!,
                  uid: live.metadata!.uid!,
                  hash: live.metadata?.annotations?.[annotations.configHash],
                  createdAt: ms(live.metadata?.creationTimestamp) ?? t,
                  ...(live.status?.phase ? { phase: live.status.phase } : {}),
                },
              }
            : {}),
          ...(goneSince !== undefined && (!live || mine) ? { withoutPodSince: goneSince } : {}),
          ...(nn?.status
            ? { report: { hash: nn.status.configHash, ready: ready?.status === 'True', ...(ready?.reason ? { reason: ready.reason } : {}), ...(ready?.message ? { message: ready.message } : {}) } }
            : {}),
        });
      }
      for (const n of podless.keys()) if (!seen.has(n)) podless.delete(n);
      return out;
    }

    async function deletePods(p: Plan, parent: AbortSignal): Promise<void> {
      // One listener on the reconcile's signal instead of one per concurrent request.
      const local = new AbortController();
      setMaxListeners(concurrency + 16, local.signal);
      const onAbort = () => local.abort(parent.reason);
      parent.addEventListener('abort', onAbort, { once: true });
      const signal = local.signal;
      let i = 0;
      let firstError: unknown;
      const worker = async () => {
        while (i < p.replace.length) {
          const r = p.replace[i++]!;
          try {
            await manager.client.request(`/api/v1/namespaces/${names.namespace}/pods/${r.pod}`, {
              verb: 'delete',
              method: 'DELETE',
              // The uid precondition: never delete a pod this decision was not about.
              body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: r.uid } },
              signal,
            });
            deleted.set(r.node, { uid: r.uid, at: now() });
          } catch (err) {
            if (err instanceof ApiError && (err.status === 404 || err.status === 409)) {
              deleted.set(r.node, { uid: r.uid, at: now() });
              continue;
            }
            firstError ??= err;
          }
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(concurrency, p.replace.length) }, worker));
      } finally {
        parent.removeEventListener('abort', onAbort);
      }
      if (firstError) throw firstError;
    }

    return async (input: RolloutInput): Promise<RolloutOutcome> => {
      const t = now();
      const base = countRollout(input);
      const ds = input.daemonSet as DaemonSetObj | undefined;
      if (!ds || !pods.hasSynced() || !nodes.hasSynced()) return base;
      const templateHash = ds.spec?.template?.metadata?.annotations?.[annotations.configHash];
      const generation = Math.max(input.daemonSetGeneration ?? 0, ds.metadata?.generation ?? 0);
      const templateCurrent = templateHash === input.configHash && (ds.status?.observedGeneration ?? 0) >= generation && (ds.metadata?.generation ?? 0) >= generation;

      const p = plan({
        targetHash: input.configHash,
        nodes: views(input, ds, t),
        maxUnavailable: input.maxUnavailable,
        paused: input.paused,
        batchTimeoutMs: timeoutMs,
        now: t,
        templateCurrent,
      });
      // Once the cache no longer shows a pod this process deleted, the cluster tells the rest.
      for (const [n, d] of [...deleted]) if (!pods.store.byIndex('node', n).some((x) => x.metadata?.uid === d.uid)) deleted.delete(n);

      if (p.halted) {
        const key = p.halted.stuck.map((s) => s.node).join(',');
        if (key !== lastHalt) {
          lastHalt = key;
          await input.event('Warning', p.halted.reason, p.halted.message);
        }
        published = { counts: p.counts, message: p.message, at: t };
        return { counts: p.counts, daemonSetReady: false, message: p.message, halted: { reason: p.halted.reason, message: p.halted.message } };
      }
      lastHalt = undefined;

      if (p.replace.length > 0) {
        const names = p.replace.map((r) => r.node);
        await input.event(
          'Normal',
          p.batchKind === 'canary' ? 'RolloutCanary' : 'RolloutBatch',
          p.batchKind === 'canary'
            ? `canary: replacing the node agent on ${names[0]} with configuration ${input.configHash.slice(0, 12)}`
            : `replacing the node agents on ${names.length} node(s) with configuration ${input.configHash.slice(0, 12)}: ${listNames(names, 20)}`,
        );
        await deletePods(p, input.signal);
      } else if (input.paused && p.outdated > 0 && p.inflight === 0) {
        await input.event('Normal', 'RolloutPaused', `node-agent rollout paused with ${p.outdated} node(s) left on the previous configuration (spec.nodeUpdateStrategy.paused)`);
      }

      // Done when every node reports the target Ready and the DaemonSet controller has seen the
      // template: its own ready counters can lag minutes behind under load, and an agent's Ready
      // (dataplane in sync) says more than its pod's.
      const complete = p.complete && templateCurrent;
      let counts = p.counts;
      let message = complete ? undefined : p.message;
      let requeueAfterMs = p.recheckMs;
      // Throttle: between batch starts and the end, counts move with every agent report.
      const changed = !published || published.message !== (message ?? '') || JSON.stringify(published.counts) !== JSON.stringify(counts);
      if (changed && published && !complete && p.replace.length === 0 && t - published.at < intervalMs) {
        counts = published.counts;
        message = published.message || undefined;
        const wait = intervalMs - (t - published.at);
        requeueAfterMs = requeueAfterMs === undefined ? wait : Math.min(requeueAfterMs, wait);
      } else if (changed) {
        published = { counts, message: message ?? '', at: t };
      }
      return {
        counts,
        daemonSetReady: complete,
        ...(message ? { message } : {}),
        ...(requeueAfterMs !== undefined ? { requeueAfterMs: Math.ceil(requeueAfterMs) } : {}),
      };
    };
  };
}
