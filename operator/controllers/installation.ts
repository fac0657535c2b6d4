// The Installation controller: Installation "default" + cluster facts -> render -> server-side
// apply of every rendered object, prune of owned objects no longer rendered, the rollout step,
// and Installation.status. Level-triggered: every reconcile starts from the caches, and a
// reconcile of an unchanged cluster makes no write at all (invariant 2).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { labels as weftLabels, names, type Installation, type IPAMBlock, type IPPoolStatus, type NodeNetwork } from '../../api/index.ts';
import { render, RenderInputError, type ClusterFacts, type ClusterProblem, type RenderOptions, type RenderResult } from '../../render/index.ts';
import { Applier, type DesiredObject } from '../apply/applier.ts';
import type { EventRecorder, EventTarget } from '../../kube/events.ts';
import { gvkKey, managedKinds, ownedResource } from '../kinds.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { labelKey, type Informer, type KubeObject, type Manager, type ReconcileContext, type ReconcileResult } from '../../kube/index.ts';
import { clusterProblems } from './cluster-checks.ts';
import { buildFacts, nodeNetworkProjection, nodeProjection } from './facts.ts';
import { observeRollout, type RolloutFactory } from './rollout.ts';
import { InstallationHealthEvents } from './installation-events.ts';
import { poolUsage } from './pool-usage.ts';
import { hasUninstallFinalizer, UninstallFinalizer } from './uninstall.ts';
import { degradedStatus, healthyStatus, statusEqual } from './status.ts';

export const INSTALLATION_NAME = names.installation;

export const installationResource = { group: 'operator.weft.dev', version: 'v1', plural: 'installations' } as const;
export const nodeResource = { version: 'v1', plural: 'nodes' } as const;
export const nodeNetworkResource = { group: 'network.weft.dev', version: 'v1', plural: 'nodenetworks' } as const;
export const ipamBlockResource = { group: 'network.weft.dev', version: 'v1', plural: 'ipamblocks' } as const;

export interface InstallationControllerOptions {
  manager: Manager;
  renderOptions: RenderOptions;
  /** Operator version, written to status.version. */
  version: string;
  events: EventRecorder;
  metrics: OperatorMetrics;
  /** Builds the node-agent rollout step; default: count only, replace no pods. */
  rollout?: RolloutFactory;
  logger?: Logger;
  now?: () => Date;
  workers?: number;
  /** How long deletion waits for node agents to clean their nodes (docs/adr/0009). Default 60 s. */
  uninstallTimeoutMs?: number;
}

export interface InstallationController {
  readonly applier: Applier;
  readonly installations: Informer<Installation & KubeObject>;
  readonly owned: ReadonlyMap<string, Informer>;
  /** Reconciles finished (any outcome) — tests wait on it. */
  readonly stats: { reconciles: number; applies: number; prunes: number; statusWrites: number; lastError?: string };
  enqueue(): void;
}

type Inst = Installation & KubeObject;

function targetOf(inst: Inst): EventTarget {
  return { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', name: inst.metadata?.name ?? INSTALLATION_NAME, uid: inst.metadata?.uid };
}

function ownedKey(o: { apiVersion?: string; kind?: string; metadata?: { namespace?: string; name?: string } }): string {
  return `${gvkKey(o)}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

export function registerInstallationController(o: InstallationControllerOptions): InstallationController {
  const mgr = o.manager;
  const log = o.logger?.child({ controller: 'installation' });
  const now = o.now ?? (() => new Date());
  const applier = new Applier({ client: mgr.client, fieldManager: names.fieldManager, logger: log });
  const stats: InstallationController['stats'] = { reconciles: 0, applies: 0, prunes: 0, statusWrites: 0 };

  const installations = mgr.informer<Inst>(installationResource);
  const nodes = mgr.informer(nodeResource);
  const nodeNetworks = mgr.informer<NodeNetwork & KubeObject>(nodeNetworkResource);
  const blocks = mgr.informer<IPAMBlock & KubeObject>(ipamBlockResource);
  const owned = new Map<string, Informer>();
  for (const k of managedKinds) owned.set(gvkKey(k), mgr.informer(ownedResource(k, weftLabels.owner, names.namespace)));

  const controller = mgr.controller({ name: 'installation', workers: o.workers ?? 1 });
  const toDefault = () => INSTALLATION_NAME;
  controller.watches(installations, { map: (obj) => (obj.metadata?.name === INSTALLATION_NAME ? INSTALLATION_NAME : undefined) });
  controller.watches(nodes, {
    map: toDefault,
    predicates: [(ev) => ev.type !== 'update' || nodeProjection(ev.obj) !== nodeProjection(ev.old)],
  });
  controller.watches(nodeNetworks, {
    map: toDefault,
    predicates: [(ev) => ev.type !== 'update' || nodeNetworkProjection(ev.obj) !== nodeNetworkProjection(ev.old)],
  });
  const blockProjection = (b: IPAMBlock & KubeObject) => JSON.stringify([b.spec, (b.status?.allocated ?? 1) > 0, !!b.metadata?.deletionTimestamp]);
  controller.watches(blocks, { map: toDefault, predicates: [(ev) => ev.type !== 'update' || blockProjection(ev.obj) !== blockProjection(ev.old)] });
  for (const inf of owned.values()) controller.watches(inf, labelKey(weftLabels.owner));
  const rollout = o.rollout ? o.rollout({ manager: mgr, enqueue: () => controller.enqueue(INSTALLATION_NAME) }) : observeRollout;
  const health = new InstallationHealthEvents();
  o.metrics.setPoolUsageSource(() => poolUsage(installations.store.get(INSTALLATION_NAME)?.status?.ipPools ?? [], blocks.store.list()));

  /** The last status we wrote and the Installation resourceVersion it replaced: the cache may lag behind our own write. */
  let statusMemo: { json: Installation['status']; before?: string; after?: string } | undefined;

  // render is pure: same spec and facts, same result. Resyncs and unrelated events re-run the
  // reconcile often, and render over thousands of nodes costs real CPU, so the last result is
  // reused while its input is unchanged.
  let lastRender: { key: string; result: RenderResult } | undefined;
  function renderMemo(inst: Inst, facts: ClusterFacts): RenderResult {
    const key = createHash('sha256').update(JSON.stringify([inst.metadata?.name, inst.spec, facts])).digest('hex');
    if (lastRender?.key === key) return lastRender.result;
    const result = render(inst, facts, o.renderOptions);
    lastRender = { key, result };
    return result;
  }

  const liveOwned = (): KubeObject[] => [...owned.values()].flatMap((inf) => inf.store.list());
  const liveFor = (d: DesiredObject): KubeObject | undefined => owned.get(gvkKey(d))?.store.getByName(d.metadata.namespace, d.metadata.name);

  async function emit(inst: Inst | undefined, type: 'Normal' | 'Warning', reason: string, action: string, message: string): Promise<void> {
    if (!inst) return;
    if (await o.events.recordAndWait(targetOf(inst), { type, reason, action, message })) o.metrics.events.inc({ type, reason });
  }

  async function writeStatus(inst: Inst, status: Installation['status'], ctx: ReconcileContext): Promise<void> {
    const live = inst.status;
    if (statusEqual(live, status)) return;
    const rv = inst.metadata?.resourceVersion;
    if (statusMemo && (rv === statusMemo.before || rv === statusMemo.after) && statusEqual(statusMemo.json, status)) return;
    const res = await mgr.client.request<KubeObject>(`/apis/operator.weft.dev/v1/installations/${INSTALLATION_NAME}/status`, {
      verb: 'patch',
      method: 'PATCH',
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: names.fieldManager, force: true },
      body: { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: INSTALLATION_NAME }, status },
      signal: ctx.signal,
    });
    statusMemo = { json: status, before: rv, after: res.metadata?.resourceVersion };
    stats.statusWrites++;
  }

  /** Deletes every owned object not in keep. The Namespace stays: the operator itself may run in it. */
  async function prune(inst: Inst | undefined, keep: Set<string>, ctx: ReconcileContext): Promise<number> {
    let n = 0;
    for (const live of liveOwned()) {
      if (live.metadata?.labels?.[weftLabels.owner] !== INSTALLATION_NAME) continue;
      if (live.kind === 'Namespace' || keep.has(ownedKey(live)) || live.metadata?.deletionTimestamp) continue;
      if (await applier.delete(live, ctx.signal)) {
        n++;
        stats.prunes++;
        o.metrics.objectsPruned.inc({ kind: live.kind ?? '' });
        const where = live.metadata?.namespace ? `${live.metadata.namespace}/${live.metadata.name}` : live.metadata?.name;
        log?.info({ kind: live.kind, name: where }, 'pruned an object no longer rendered');
        await emit(inst, 'Normal', 'Pruned', 'Prune', `deleted ${live.kind} ${where}: no longer rendered`);
      }
    }
    return n;
  }

  function setGauges(pools: number, mtu: number | undefined, counts?: { desired: number; updated: number; ready: number }, degradedReason?: string): void {
    o.metrics.pools.set(pools);
    if (mtu !== undefined) o.metrics.mtu.set(mtu);
    if (counts) {
      o.metrics.nodesDesired.set(counts.desired);
      o.metrics.nodesUpdated.set(counts.updated);
      o.metrics.nodesReady.set(counts.ready);
    }
    o.metrics.degraded.reset();
    if (degradedReason) o.metrics.degraded.set({ reason: degradedReason }, 1);
  }

  async function degrade(inst: Inst, problems: ClusterProblem[], ctx: ReconcileContext): Promise<ReconcileResult> {
    const reason = problems.length === 1 ? problems[0]!.reason : 'InvalidConfiguration';
    const message = problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
    const prev = inst.status;
    const status = degradedStatus(prev, inst.metadata?.generation, reason, message, o.version, now().toISOString());
    const prevDegraded = prev?.conditions?.find((c) => c.type === 'Degraded');
    if (prevDegraded?.status !== 'True' || prevDegraded.message !== message) {
      log?.warn({ reason, message }, 'configuration refused; the running configuration stays');
      await emit(inst, 'Warning', reason, 'Validate', message);
    }
    await writeStatus(inst, status, ctx);
    setGauges((inst.spec?.network?.ipPools ?? []).length, prev?.mtu, undefined, reason);
    return {};
  }

  const uninstall = new UninstallFinalizer({
    client: mgr.client,
    nodeNetworks,
    nodes,
    blocks,
    daemonSet: () => owned.get('apps/v1/DaemonSet')?.store.getByName(names.namespace, names.daemonSet),
    pruneRendered: (signal) => prune(undefined, new Set(), { signal } as ReconcileContext),
    event: async (type, reason, message) => { const i = installations.store.get(INSTALLATION_NAME); await emit(i, type, reason, 'Uninstall', message); },
    now,
    ...(o.uninstallTimeoutMs !== undefined ? { timeoutMs: o.uninstallTimeoutMs } : {}),
    ...(log ? { logger: log } : {}),
  });

  let lastWarnings = '[]';

  async function reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    if (key !== INSTALLATION_NAME) return {};
    const inst = installations.store.get(INSTALLATION_NAME);
    if (inst?.metadata?.deletionTimestamp && hasUninstallFinalizer(inst)) {
      const r = await uninstall.finalize(inst, ctx.signal);
      if (r.done) setGauges(0, undefined, { desired: 0, updated: 0, ready: 0 });
      return r.requeueAfterMs ? { requeueAfter: r.requeueAfterMs } : {};
    }
    if (inst && !inst.metadata?.deletionTimestamp) await uninstall.ensure(inst, ctx.signal);
    if (!inst || inst.metadata?.deletionTimestamp) {
      // No Installation: nothing of Weft's pod network should run. Without an owner to hang
      // events on, the log is the record.
      const n = await prune(undefined, new Set(), ctx);
      if (n > 0) log?.info({ pruned: n }, 'Installation gone: removed the objects rendered for it');
      setGauges(0, undefined, { desired: 0, updated: 0, ready: 0 });
      return {};
    }

    const nn = nodeNetworks.store.list();
    const { facts, dropped } = buildFacts(nodes.store.list(), nn);
    if (dropped.length) log?.warn({ dropped: dropped.slice(0, 20), count: dropped.length }, 'ignored node reports render cannot use');

    const problems = clusterProblems(inst, blocks.store.list(), nn);
    let result: RenderResult | undefined;
    try {
      result = renderMemo(inst, facts);
    } catch (err) {
      if (!(err instanceof RenderInputError)) throw err;
      problems.push(...err.problems.map((p) => ({ reason: 'InvalidConfiguration', path: p.path, message: p.message })));
    }
    // Warnings (blocking: false, e.g. NodesWithoutPool) do not stop the apply: the configuration is
    // right for every node it covers, and freezing it would stall unrelated changes.
    if (result) problems.push(...result.degraded.filter((p) => p.blocking !== false));
    if (problems.length > 0 || !result) return degrade(inst, problems, ctx);

    // Apply what differs, in render's order (dependencies first).
    const keep = new Set<string>();
    let dsGeneration: number | undefined;
    let applied = 0;
    for (const obj of result.objects as DesiredObject[]) {
      if (obj.metadata.namespace && obj.metadata.namespace !== names.namespace) {
        throw new Error(`render produced ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name} outside ${names.namespace}; the operator only watches ${names.namespace}`);
      }
      keep.add(ownedKey(obj));
      const live = liveFor(obj);
      const decision = applier.decide(obj, live);
      if (obj.kind === 'DaemonSet') dsGeneration = live?.metadata?.generation;
      if (decision.action === 'skip') continue;
      log?.info({ kind: obj.kind, name: obj.metadata.name, why: decision.why, path: decision.mismatch?.path }, 'applying');
      try {
        const res = await applier.apply(obj, live, ctx.signal);
        if (obj.kind === 'DaemonSet') dsGeneration = res.metadata?.generation;
      } catch (err) {
        await emit(inst, 'Warning', 'ApplyFailed', 'Apply', `applying ${obj.kind} ${obj.metadata.name} failed: ${(err as Error).message}`);
        throw err;
      }
      applied++;
      stats.applies++;
      o.metrics.objectsApplied.inc({ kind: obj.kind });
    }
    const pruned = await prune(inst, keep, ctx);

    const ds = owned.get('apps/v1/DaemonSet')?.store.getByName(names.namespace, names.daemonSet);
    const spec = inst.spec ?? {};
    const outcome = await rollout({
      configHash: result.configHash,
      specHash: result.specHash,
      daemonSet: ds,
      daemonSetGeneration: dsGeneration,
      nodeNetworks: nn,
      nodes: nodes.store.list(),
      paused: spec.nodeUpdateStrategy?.paused ?? false,
      maxUnavailable: spec.nodeUpdateStrategy?.maxUnavailable ?? 1,
      signal: ctx.signal,
      event: (type, reason, message) => emit(inst, type, reason, 'Rollout', message),
    });

    const prev = inst.status;
    const ipPools: IPPoolStatus[] = result.effective.pools.map((p) => {
      const why = result!.explain.find((e) => e.subject === `pool ${p.name} encapsulation`)?.reason;
      return { name: p.name, cidr: p.cidr, blockSize: p.blockSize, encapsulation: p.encapsulation, dataplane: p.dataplane, ...(why ? { reason: why } : {}) };
    });
    const status = healthyStatus(
      {
        generation: inst.metadata?.generation,
        mtu: result.effective.mtu,
        mtuReason: result.effective.mtuReason,
        ipPools,
        configHash: result.configHash,
        version: o.version,
        nodes: outcome.counts,
        daemonSetReady: outcome.daemonSetReady,
        ...(outcome.message ? { rolloutMessage: outcome.message } : {}),
      },
      prev,
      now().toISOString(),
      outcome.halted,
    );

    // Events for decisions that changed, judged against the status the cluster already shows.
    const prevDegraded = prev?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True');
    // A halted rollout is Degraded with the configuration accepted; the rollout step records its own events.
    const wasRefused = prevDegraded && prevDegraded.reason !== 'RolloutHalted' && prevDegraded.reason !== 'AgentsNotReady';
    if (wasRefused && !outcome.halted) await emit(inst, 'Normal', 'ConfigurationAccepted', 'Validate', `generation ${inst.metadata?.generation} accepted; the cluster-level problems are resolved`);
    if (prev?.mtu !== status.mtu) await emit(inst, 'Normal', 'MTUSelected', 'Render', `pod MTU ${status.mtu}: ${status.mtuReason}`);
    if (prev?.encapsulation !== status.encapsulation) {
      await emit(inst, 'Normal', 'EncapsulationSelected', 'Render', `encapsulation ${status.encapsulation}: ${ipPools.map((p) => `pool ${p.name} ${p.encapsulation} (${p.dataplane})${p.reason ? `: ${p.reason}` : ''}`).join('; ')}`);
    }
    // Non-blocking problems (PoolOutOfBlocks, NodesWithoutPool) are applied anyway; each becomes
    // one Warning event when it first appears, so steady state still writes nothing.
    const warnings = result.degraded.filter((p) => p.blocking === false);
    const warningsKey = JSON.stringify(warnings.map((p) => p.message));
    if (warningsKey !== lastWarnings) {
      for (const w of warnings) await emit(inst, 'Warning', w.reason, 'Render', w.message);
      lastWarnings = warningsKey;
    }
    if (prev?.configHash !== status.configHash) {
      await emit(inst, 'Normal', 'RolloutStarted', 'Rollout', `node agents move to configuration ${result.configHash.slice(0, 12)} (image ${result.image}) on ${outcome.counts.desired} node(s)`);
    }
    const wasReady = prev?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const isReady = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (isReady && !wasReady) await emit(inst, 'Normal', 'Ready', 'Rollout', status.conditions!.find((c) => c.type === 'Ready')!.message ?? 'ready');

    const checked = health.check({ status, nodeNetworks: nn, nodes: nodes.store.list(), ...(outcome.halted ? { halted: outcome.halted } : {}), now: now() });
    for (const e of checked.events) await emit(inst, e.type, e.reason, 'Rollout', e.message);

    await writeStatus(inst, status, ctx);
    setGauges(ipPools.length, status.mtu, outcome.counts, outcome.halted?.reason);
    if (applied || pruned) log?.info({ applied, pruned, configHash: result.configHash.slice(0, 12) }, 'reconciled');
    const requeueAfter = Math.min(outcome.requeueAfterMs || Infinity, checked.recheckMs ?? Infinity);
    return Number.isFinite(requeueAfter) ? { requeueAfter } : {};
  }

  controller.reconcile(async (key, ctx) => {
    try {
      return await reconcile(key, ctx);
    } catch (err) {
      stats.lastError = (err as Error).message;
      throw err;
    } finally {
      stats.reconciles++;
    }
  });

  return {
    applier,
    installations,
    owned,
    stats,
    enqueue: () => controller.enqueue(INSTALLATION_NAME),
  };
}
