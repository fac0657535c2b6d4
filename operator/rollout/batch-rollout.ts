// The health-gated node-agent rollout (issue 8, docs/adr/0008, docs/adr/0010): a RolloutStep the
// Installation controller calls on every reconcile. The DaemonSet is OnDelete; this step starts
// nodes on the target configuration — a canary of one node, then a sliding window of up to
// maxUnavailable nodes in flight, the next one started as soon as one reports the target hash
// and Ready in its NodeNetwork. A node whose pod comes from an older template (spec hash) is
// started by deleting its pod; a node whose pod is current but runs an older configuration (one
// that cluster facts changed) is started by handing its running agent the target hash in the
// NodeNetwork annotation network.weft.dev/config-hash, which the agent applies in place.
// Everything it decides on is read from the cluster (pods' spec hash annotation, NodeNetwork
// reports and grants, Node conditions), so a restarted operator or a new leader picks the
// rollout up where it stood. The only memory is which pods this process just deleted and when
// it handed out grants — the cache can lag for a moment — and it is only ever a shortcut.
import { setMaxListeners } from 'node:events';
import { annotations, names, type NodeNetwork } from '../../api/index.ts';
import { countRollout, isConditionTrue, type RolloutFactory, type RolloutInput, type RolloutOutcome } from '../controllers/rollout.ts';
import type { RolloutCounts } from '../controllers/status.ts';
import { ApiError, byNodeName, isNotFound, type Informer, type KubeObject, type Manager } from '../../kube/index.ts';
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
  /** Deletes (and grants) in flight at once. Default 200: a window's worth goes out in one round. */
  deleteConcurrency?: number;
  /** Node starts are announced in one Event per this many nodes (and for the canary). Default: maxUnavailable. */
  eventEveryNodes?: number;
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
  return JSON.stringify([p.spec?.nodeName, p.metadata?.annotations?.[annotations.specHash], p.status?.phase, !!p.metadata?.deletionTimestamp]);
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
    /** Grants of the target this process made or first saw, by node: when the node's change started. */
    const grants = new Map<string, { hash: string; at: number }>();
    /** Nodes started since the last progress Event (the window starts nodes one or a few at a time). */
    let unannounced: string[] = [];
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
        let granted = nn?.metadata?.annotations?.[annotations.configGrant];
        const g = grants.get(name);
        // A grant this process just sent: the cache may not show it yet, and the node is in
        // flight from the moment it went out (else the window would start it twice).
        if (g && g.hash === input.configHash) granted = g.hash;
        let grantedSince: number | undefined;
        if (granted === input.configHash) {
          if (!g || g.hash !== granted) grants.set(name, { hash: granted, at: t });
          grantedSince = grants.get(name)!.at;
        } else grants.delete(name);
        out.push({
          name,
          ...(unavailable ? { unavailable } : {}),
          ...(live
            ? {
                pod: {
                  name: live.metadata!.name!,
                  uid: live.metadata!.uid!,
                  hash: live.metadata?.annotations?.[annotations.specHash],
                  createdAt: ms(live.metadata?.creationTimestamp) ?? t,
                  ...(live.status?.phase ? { phase: live.status.phase } : {}),
                },
              }
            : {}),
          ...(goneSince !== undefined && (!live || mine) ? { withoutPodSince: goneSince } : {}),
          ...(nn?.status
            ? {
                report: {
                  hash: nn.status.configHash,
                  ...(nn.status.podUID ? { podUID: nn.status.podUID } : {}),
                  ready: ready?.status === 'True',
                  ...(ready?.reason ? { reason: ready.reason } : {}),
                  ...(ready?.message ? { message: ready.message } : {}),
                },
              }
            : {}),
          ...(granted ? { granted } : {}),
          ...(grantedSince !== undefined ? { grantedSince } : {}),
        });
      }
      for (const n of podless.keys()) if (!seen.has(n)) podless.delete(n);
      for (const n of grants.keys()) if (!seen.has(n)) grants.delete(n);
      return out;
    }

    /** Hands the node's running agent the target configuration (docs/adr/0010): one merge patch of its NodeNetwork's metadata. */
    async function grant(node: string, hash: string, signal: AbortSignal): Promise<void> {
      await manager.client.request(`/apis/network.weft.dev/v1/nodenetworks/${encodeURIComponent(node)}`, {
        verb: 'patch',
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { metadata: { annotations: { [annotations.configGrant]: hash } } },
        signal,
      });
    }

    async function deletePods(p: Plan, target: string, parent: AbortSignal): Promise<void> {
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
          if (r.action === 'grant') {
            try {
              await grant(r.node, target, signal);
              grants.set(r.node, { hash: target, at: now() });
            } catch (err) {
              // Its NodeNetwork is gone: the node is not running an agent that could apply it.
              if (!isNotFound(err)) firstError ??= err;
            }
            continue;
          }
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
      const templateHash = ds.spec?.template?.metadata?.annotations?.[annotations.specHash];
      const generation = Math.max(input.daemonSetGeneration ?? 0, ds.metadata?.generation ?? 0);
      const templateCurrent = templateHash === input.specHash && (ds.status?.observedGeneration ?? 0) >= generation && (ds.metadata?.generation ?? 0) >= generation;

      const p = plan({
        targetHash: input.configHash,
        targetSpecHash: input.specHash,
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
        const how = (r: { action: string }) => (r.action === 'grant' ? 'handing the running node agent' : 'replacing the node agent');
        if (p.batchKind === 'canary') {
          unannounced = [];
          await input.event('Normal', 'RolloutCanary', `canary: ${how(p.replace[0]!)} on ${names[0]} configuration ${input.configHash.slice(0, 12)}`);
        } else {
          // The window starts nodes a few at a time: one Event per maxUnavailable nodes started
          // (as many as the batches of a strict batch rollout), not one per start.
          unannounced.push(...names);
          const every = o.eventEveryNodes ?? p.batchSize;
          if (unannounced.length >= every || p.outdated === p.replace.length) {
            const grantsN = p.replace.filter((r) => r.action === 'grant').length;
            const verb = grantsN === p.replace.length ? 'handed the running node agents' : grantsN === 0 ? 'replacing the node agents' : 'starting the node agents';
            await input.event('Normal', 'RolloutBatch', `${verb} on ${unannounced.length} more node(s) configuration ${input.configHash.slice(0, 12)} (at most ${p.batchSize} in flight): ${listNames(unannounced, 20)}`);
            unannounced = [];
          }
        }
        await deletePods(p, input.configHash, input.signal);
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
      // Throttle: between the canary and the end, counts and the window move with every agent report.
      const changed = !published || published.message !== (message ?? '') || JSON.stringify(published.counts) !== JSON.stringify(counts);
      if (changed && published && !complete && p.batchKind !== 'canary' && t - published.at < intervalMs) {
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
