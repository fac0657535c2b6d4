// The health-gated node-agent rollout (issue 8) on the test control plane: 1000 kwok nodes, the
// real DaemonSet controller, scheduler and kwok replacing pods, the TEST-SIDE agent simulator
// reporting NodeNetworks like the agent would, and the operator in-process as its own
// ServiceAccount. The window is read from the operator's pod deletes: at each delete, the nodes
// deleted before it that had not yet reported Ready on the new configuration (as the operator's
// cache saw it at that moment) are in flight; a delete starts a new "batch" exactly when none is.
// The rollout is a sliding window (issue 23): a canary alone, then never more than maxUnavailable
// nodes in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotations, type Installation, type NodeNetwork } from '../../api/index.ts';
import { nodeNetworkResource } from '../../operator/controllers/installation.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { agentPodResource, batchRollout } from '../../operator/rollout/batch-rollout.ts';
import { KubeClient, WRITE_VERBS, createLogger, type KubeObject, type RequestInfo } from '../../kube/index.ts';
import { AgentSimulator } from '../support/agent-simulator.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import { createFakeNodes, waitFakeNodesReady } from '../support/kwok.ts';
import { condition, installOperatorBase, installationYaml, serviceAccountKubeConfig, waitFor } from '../support/operator-env.ts';

const env = await testenvAvailable();
const NODES = Number(process.env.WEFT_ROLLOUT_NODES ?? 1000);
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;
const NS = 'weft-system';
// A kwok pod is recreated 17-32 s after its delete on a loaded 2-core machine (bench:rollout):
// the gate must outlast that, or healthy nodes are named beside the one the test breaks.
const BATCH_TIMEOUT_MS = 45_000;
const pools = [{ name: 'default', cidr: '10.244.0.0/16' }];
const spec = (mtu: number, extra: Record<string, unknown> = {}) => ({ network: { ipPools: pools, mtu }, nodeUpdateStrategy: { maxUnavailable: '10%', ...extra } });

type Inst = Installation & KubeObject;
interface Deletion { pod: string; node: string; t: number; newBatch: boolean; inflight: number }
interface Pod extends KubeObject { spec?: { nodeName?: string } }

describe(`node-agent rollout on ${NODES} kwok nodes`, { skip }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let sim: AgentSimulator;
  let op: Operator;
  let run: Promise<unknown>;
  let dir: string;
  let saKc: Awaited<ReturnType<typeof serviceAccountKubeConfig>>;
  const requests: RequestInfo[] = [];
  let deletions: Deletion[] = [];
  const batchOf = (n: number) => Math.max(1, Math.ceil(n / 10));

  const inst = () => admin.request<Inst>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
  async function applyInstallation(s: unknown): Promise<void> {
    const f = join(dir, `inst-${Date.now()}.yaml`);
    writeFileSync(f, installationYaml(s));
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '--force-conflicts', '-f', f]);
  }

  /** Runs an operator (a fresh process-equivalent: new manager, caches, memory) and records its pod deletes. */
  async function startOperator(): Promise<void> {
    op = await createOperator({
      kubeConfig: saKc,
      version: '0.1.0-test',
      identity: `rollout-test-${Date.now()}`,
      leaderElect: false,
      handleSignals: false,
      applyCrds: false,
      logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
      rollout: batchRollout({ batchTimeoutMs: BATCH_TIMEOUT_MS }),
    });
    const pods = op.manager.informer<Pod>(agentPodResource);
    const nns = op.manager.informer<NodeNetwork & KubeObject>(nodeNetworkResource);
    const cmCache = op.installation.owned.get('v1/ConfigMap')!;
    op.manager.client.onRequest((r) => {
      requests.push(r);
      const m = /\/namespaces\/weft-system\/pods\/([^/?]+)$/.exec(r.path);
      if (r.verb !== 'delete' || !m) return;
      const node = pods.store.getByName(NS, m[1]!)?.spec?.nodeName ?? '?';
      const hash = cmCache.store.list()[0]?.metadata?.annotations?.[annotations.configHash];
      const readyOnTarget = (n: string) => {
        const st = nns.store.get(n)?.status;
        return st?.configHash === hash && st?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      };
      const inflight = deletions.filter((d) => !readyOnTarget(d.node)).length;
      deletions.push({ pod: m[1]!, node, t: Date.now(), newBatch: inflight === 0, inflight: inflight + 1 });
    });
    run = op.run();
  }

  async function stopOperator(): Promise<void> {
    op.stop();
    await run;
  }

  /** The canary went alone, and no delete ever had more than b nodes in flight (itself included). */
  function assertWindow(b: number, canary = true): void {
    if (canary) {
      assert.equal(deletions[0]?.newBatch, true, 'the canary starts alone');
      if (deletions.length > 1) assert.equal(deletions[1]!.newBatch, true, 'nothing else starts before the canary is Ready');
    }
    const most = Math.max(...deletions.map((d) => d.inflight));
    assert.ok(most <= b, `${most} nodes in flight at once, maxUnavailable is ${b}`);
  }

  function batchSizes(ds = deletions): number[] {
    const sizes: number[] = [];
    for (const d of ds) {
      if (d.newBatch || sizes.length === 0) sizes.push(0);
      sizes[sizes.length - 1]!++;
    }
    return sizes;
  }

  async function rolledOut(mtu: number, timeoutMs = 600_000): Promise<Inst> {
    return waitFor(`rollout to mtu ${mtu} complete`, async () => {
      const i = await inst();
      const st = i.status;
      return st?.observedGeneration === i.metadata?.generation &&
        st?.mtu === mtu &&
        condition(i, 'Ready')?.status === 'True' &&
        condition(i, 'Progressing')?.status === 'False' &&
        st?.nodes?.updated === NODES && st?.nodes?.ready === NODES
        ? i
        : undefined;
    }, timeoutMs, 500);
  }

  async function podsByNode(): Promise<Map<string, { uid: string; name: string; hash?: string }>> {
    const r = await admin.request<{ items: (Pod & { metadata: { uid: string; annotations?: Record<string, string> } })[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=app.kubernetes.io/name=weft-node`, { verb: 'list' });
    const m = new Map<string, { uid: string; name: string; hash?: string }>();
    for (const p of r.items) if (!p.metadata.deletionTimestamp) m.set(p.spec!.nodeName!, { uid: p.metadata.uid, name: p.metadata.name!, hash: p.metadata.annotations?.[annotations.specHash] });
    return m;
  }

  before(async () => {
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true, startTimeoutMs: 180_000 });
    admin = new KubeClient(cp.kubeConfig);
    dir = mkdtempSync(join(tmpdir(), 'weft-rollout-test-'));
    await installOperatorBase(cp);
    await createFakeNodes(cp.kubeConfig, NODES, { concurrency: 64 });
    await waitFakeNodesReady(cp.kubeConfig, NODES, 300_000);
    saKc = await serviceAccountKubeConfig(cp, NS, 'weft-operator');
    sim = new AgentSimulator({ kubeConfig: cp.kubeConfig, concurrency: 64 });
    sim.start();
    await startOperator();
    const t0 = Date.now();
    await applyInstallation(spec(1400));
    await rolledOut(1400);
    console.log(`# initial install on ${NODES} nodes: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(deletions.length, 0, 'the first install replaces nothing');
  });

  after(async () => {
    await sim?.stop();
    if (op) await stopOperator();
    admin?.close();
    await cp?.stop();
  });

  test('a config change rolls out: canary, then a window of 10%, across an operator restart; few writes', { timeout: 900_000 }, async () => {
    deletions = [];
    const before = await podsByNode();
    const writesBefore = requests.filter((r) => WRITE_VERBS.has(r.verb)).length;
    const statusWritesBefore = op.installation.stats.statusWrites;
    const t0 = Date.now();
    await applyInstallation(spec(1410));
    // Restart the operator mid-rollout: the new one derives where the rollout stands from the cluster.
    await waitFor('a third of the nodes replaced', () => deletions.length >= NODES / 3, 300_000, 50);
    // The hook saw the deletes go out; stop once the API server has those seen before a listing
    // (the window keeps sending more, so "all of them" may never hold at one instant). Stopping
    // aborts requests in flight, and a delete that never arrived is rightly sent again by the next
    // operator: that is the same pod replaced once, counted once below.
    await waitFor('the deletes sent so far applied', async () => {
      const seen = deletions.slice();
      const live = new Set([...(await podsByNode()).values()].map((p) => p.name));
      return seen.every((d) => !live.has(d.pod));
    }, 60_000, 50);
    const statusWritesFirst = op.installation.stats.statusWrites - statusWritesBefore;
    await stopOperator();
    const deletedBeforeRestart = deletions.length;
    await startOperator();
    const done = await rolledOut(1410);
    const took = (Date.now() - t0) / 1000;
    const sizes = batchSizes();
    const b = batchOf(NODES);
    console.log(`# rollout of ${NODES} nodes in ${took.toFixed(1)} s; most in flight ${Math.max(...deletions.map((d) => d.inflight))}; window starts ${sizes.length}; restart after ${deletedBeforeRestart} deletes`);
    assert.equal(sizes[0], 1, 'a canary of one node first');
    assertWindow(b);
    assert.equal(new Set(deletions.map((d) => d.pod)).size, NODES, 'every node replaced exactly once (one pod each)');
    assert.equal(new Set(deletions.map((d) => d.node)).size, NODES, 'every node replaced exactly once');
    const after = await podsByNode();
    const ds = await admin.request<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(`/apis/apps/v1/namespaces/${NS}/daemonsets/weft-node`, { verb: 'get' });
    for (const [node, p] of after) {
      assert.notEqual(p.uid, before.get(node)?.uid, `${node} kept its old pod`);
      assert.equal(p.hash, ds.spec.template.metadata.annotations[annotations.specHash]);
    }
    const nnList = await admin.request<{ items: NodeNetwork[] }>('/apis/network.weft.dev/v1/nodenetworks', { verb: 'list' });
    for (const nn of nnList.items) assert.equal(nn.status?.configHash, done.status!.configHash, `${nn.metadata?.name} reports the target configuration`);
    assert.match(condition(done, 'Progressing')!.message!, new RegExp(`${NODES}/${NODES} nodes`));
    const writes = requests.filter((r) => WRITE_VERBS.has(r.verb)).slice(writesBefore);
    const byVerb: Record<string, number> = {};
    for (const w of writes) byVerb[`${w.verb} ${w.path.replace(/\/[^/]*$/, '/*')}`] = (byVerb[`${w.verb} ${w.path.replace(/\/[^/]*$/, '/*')}`] ?? 0) + 1;
    console.log(`# operator writes during the rollout: ${writes.length} (${JSON.stringify(byVerb)}); status writes by the first operator: ${statusWritesFirst} in ${((deletions[deletedBeforeRestart - 1]!.t - t0) / 1000).toFixed(1)} s`);
    assert.equal(new Set(writes.filter((w) => w.verb === 'delete').map((w) => w.path)).size, NODES, 'one pod deleted per node, nothing else deleted');
    // Status at most ~1/s plus batch boundaries and events: far below one write per agent report.
    const others = writes.length - NODES;
    assert.ok(others <= took * 1.5 + 50, `${others} writes besides the deletes in ${took.toFixed(0)} s`);
  });

  test('paused starts no further node; the ones in flight finish; unpausing resumes', { timeout: 900_000 }, async () => {
    deletions = [];
    const b = batchOf(NODES);
    await applyInstallation(spec(1420));
    await waitFor('canary and the first batch started', () => deletions.length > 1, 300_000, 20);
    await applyInstallation(spec(1420, { paused: true }));
    const paused = await waitFor('Progressing says paused', async () => {
      const i = await inst();
      return /paused/.test(condition(i, 'Progressing')?.message ?? '') ? i : undefined;
    }, 300_000, 200);
    const atPause = deletions.length;
    assert.ok(atPause < NODES, 'paused before the end');
    // The nodes in flight when the pause took effect finish; then the count stands still.
    await waitFor('the nodes in flight finished', async () => (await inst()).status?.nodes?.ready === atPause, 240_000, 200);
    const settled = await inst();
    assert.equal(settled.status!.nodes!.updated, atPause);
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal(deletions.length, atPause, 'nothing replaced while paused');
    console.log(`# paused after ${atPause} nodes: ${condition(paused, 'Progressing')!.message}`);
    await applyInstallation(spec(1420, { paused: false }));
    await rolledOut(1420);
    assertWindow(b);
    assert.equal(deletions.length, NODES);
    assert.equal(new Set(deletions.map((d) => d.node)).size, NODES, 'every node replaced exactly once');
  });

  test('a node that does not come up halts the rollout, named in Degraded; reverting rolls back', { timeout: 900_000 }, async () => {
    deletions = [];
    const b = batchOf(NODES);
    const failing = `kwok-node-${String(1 + b + Math.floor(b / 2)).padStart(String(NODES - 1).length, '0')}`; // in the second batch
    const stable = await podsByNode();
    const stableHash = (await inst()).status!.configHash!;
    await applyInstallation(spec(1430));
    sim.inject(failing, { notReady: { reason: 'DataplaneDown', message: 'simulated: vxlan device weft.vxlan missing' } });
    const halted = await waitFor('Degraded RolloutHalted', async () => {
      const i = await inst();
      const d = condition(i, 'Degraded');
      return d?.status === 'True' && d.reason === 'RolloutHalted' ? i : undefined;
    }, 300_000, 200);
    const msg = condition(halted, 'Degraded')!.message!;
    console.log(`# halted: ${msg}`);
    assert.match(msg, new RegExp(failing));
    assert.match(msg, /simulated: vxlan device weft.vxlan missing/);
    assert.equal(condition(halted, 'Progressing')?.status, 'False');
    const atHalt = deletions.length;
    assert.ok(deletions.some((d) => d.node === failing), 'the failing node took the configuration');
    assert.ok(atHalt < NODES, 'halted before the end');
    assertWindow(b);
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(deletions.length, atHalt, 'nothing further replaced after the halt');
    const badNodes = new Set(deletions.map((d) => d.node));

    // Roll back: the Installation as it was. The bad configuration's failure goes with it.
    deletions = [];
    const clearer = setInterval(async () => {
      const p = (await podsByNode().catch(() => undefined))?.get(failing);
      if (p?.hash === stableHash) sim.clear(failing);
    }, 200);
    try {
      await applyInstallation(spec(1420));
      const back = await rolledOut(1420);
      assert.equal(back.status!.configHash, stableHash);
      assert.equal(condition(back, 'Degraded')?.status, 'False');
    } finally {
      clearInterval(clearer);
    }
    assert.deepEqual(new Set(deletions.map((d) => d.node)), badNodes, 'only the nodes that took the bad configuration were replaced');
    const sizes = batchSizes();
    console.log(`# rollback window starts ${JSON.stringify(sizes)}`);
    assert.ok(sizes[0]! > 1, 'no canary: the other nodes already prove the configuration');
    assertWindow(b, false);
    const now = await podsByNode();
    for (const [node, p] of now) if (!badNodes.has(node)) assert.equal(p.uid, stable.get(node)?.uid, `${node} never left the good configuration and was not touched`);
  });
});
