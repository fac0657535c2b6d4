// First install on a fresh cluster (issue 23, item 4; docs/adr/0010): every node's agent starts
// once. The test control plane with the real DaemonSet controller, scheduler and kwok; the
// TEST-SIDE agent simulator reports what agents detect — here an underlay of two subnets with
// MTU 9000, so the facts move Auto from None to VXLANCrossSubnet and the MTU from the provisional
// 1500 to 8950 right after install, exactly what rolled every agent a second time before. Counts
// the DaemonSet's template changes (generation) and the pods each node ever had: one template,
// one pod per node, no pod deleted; the new configuration reaches the running agents through the
// operator's grants, a canary first and never more than maxUnavailable in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotations, names, type Installation, type NodeNetwork } from '../../api/index.ts';
import { nodeNetworkResource } from '../../operator/controllers/installation.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { batchRollout } from '../../operator/rollout/batch-rollout.ts';
import { Informer, KubeClient, createLogger, type KubeObject, type RequestInfo } from '../../kube/index.ts';
import { AgentSimulator } from '../support/agent-simulator.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import { createFakeNodes, waitFakeNodesReady } from '../support/kwok.ts';
import { condition, installOperatorBase, installationYaml, serviceAccountKubeConfig, waitFor } from '../support/operator-env.ts';

const env = await testenvAvailable();
const NODES = Number(process.env.WEFT_FIRST_INSTALL_NODES ?? 60);
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;
const NS = names.namespace;
const UNDERLAY_MTU = 9000;

type Inst = Installation & KubeObject;
interface Pod extends KubeObject { spec?: { nodeName?: string } }
interface DaemonSetObj extends KubeObject { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }

describe(`first install on ${NODES} kwok nodes whose facts change the configuration`, { skip }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let sim: AgentSimulator;
  let op: Operator;
  let run: Promise<unknown>;
  const stopWatches = new AbortController();
  const requests: RequestInfo[] = [];
  /** Every (generation, spec hash) the DaemonSet was seen with. */
  const dsVersions = new Set<string>();
  /** Every agent pod uid seen, by node. */
  const podsOf = new Map<string, Set<string>>();
  /** Grants in the order sent, with how many granted nodes were not yet Ready on the target then. */
  const grants: { node: string; inflight: number }[] = [];

  before(async () => {
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true, startTimeoutMs: 180_000 });
    admin = new KubeClient(cp.kubeConfig);
    await installOperatorBase(cp);
    await createFakeNodes(cp.kubeConfig, NODES, { concurrency: 32 });
    await waitFakeNodesReady(cp.kubeConfig, NODES, 300_000);
    // Two subnets: the first two thirds in 198.18.0.0/24, the rest in 198.18.1.0/24.
    sim = new AgentSimulator({
      kubeConfig: cp.kubeConfig,
      address: (_node, i) => (i < (2 * NODES) / 3 ? `198.18.0.${10 + i}/24` : `198.18.1.${10 + i}/24`),
      mtu: () => UNDERLAY_MTU,
    });
    sim.start();

    const ds = new Informer<DaemonSetObj>({ client: admin, resource: { group: 'apps', version: 'v1', plural: 'daemonsets', namespace: NS } });
    ds.subscribe((ev) => {
      if (ev.obj.metadata?.name !== names.daemonSet || ev.type === 'delete') return;
      dsVersions.add(`${ev.obj.metadata?.generation}/${ev.obj.spec?.template?.metadata?.annotations?.[annotations.specHash]}`);
    });
    const pods = new Informer<Pod>({ client: admin, resource: { version: 'v1', plural: 'pods', namespace: NS, labelSelector: `app.kubernetes.io/name=${names.daemonSet}` } });
    pods.subscribe((ev) => {
      const n = ev.obj.spec?.nodeName;
      if (!n) return;
      if (!podsOf.has(n)) podsOf.set(n, new Set());
      podsOf.get(n)!.add(ev.obj.metadata!.uid!);
    });
    void ds.start(stopWatches.signal);
    void pods.start(stopWatches.signal);
    await Promise.all([ds.waitForSync(stopWatches.signal), pods.waitForSync(stopWatches.signal)]);

    op = await createOperator({
      kubeConfig: await serviceAccountKubeConfig(cp, NS, 'weft-operator'),
      version: '0.1.0-test',
      identity: `first-install-test-${Date.now()}`,
      leaderElect: false,
      handleSignals: false,
      applyCrds: false,
      logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
      rollout: batchRollout({ batchTimeoutMs: 60_000 }),
    });
    const nns = op.manager.informer<NodeNetwork & KubeObject>(nodeNetworkResource);
    const cm = op.installation.owned.get('v1/ConfigMap')!;
    op.manager.client.onRequest((r) => {
      requests.push(r);
      const m = /\/apis\/network\.weft\.dev\/v1\/nodenetworks\/([^/?]+)$/.exec(r.path);
      if (r.verb !== 'patch' || !m) return;
      const target = cm.store.list()[0]?.metadata?.annotations?.[annotations.configHash];
      const readyOnTarget = (n: string) => {
        const st = nns.store.get(n)?.status;
        return st?.configHash === target && st?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      };
      grants.push({ node: decodeURIComponent(m[1]!), inflight: grants.filter((g) => !readyOnTarget(g.node)).length + 1 });
    });
    run = op.run();
  });

  after(async () => {
    stopWatches.abort();
    await sim?.stop();
    if (op) {
      op.stop();
      await run;
    }
    admin?.close();
    await cp?.stop();
  });

  test('every agent starts once: one DaemonSet template, no pod replaced; the facts reach the running agents node by node', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-first-install-'));
    const f = join(dir, 'installation.yaml');
    writeFileSync(f, installationYaml({ network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16' }] }, nodeUpdateStrategy: { maxUnavailable: '10%' } }));
    const t0 = Date.now();
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '-f', f]);

    const done = await waitFor('installed with the facts applied on every node', async () => {
      const i = await admin.request<Inst>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
      const st = i.status;
      if (st?.mtu !== UNDERLAY_MTU - 50 || st.encapsulation !== 'VXLANCrossSubnet') return undefined;
      if (condition(i, 'Ready')?.status !== 'True' || st.nodes?.ready !== NODES) return undefined;
      const nnList = await admin.request<{ items: NodeNetwork[] }>('/apis/network.weft.dev/v1/nodenetworks', { verb: 'list' });
      return nnList.items.length === NODES && nnList.items.every((nn) => nn.status?.configHash === st.configHash) ? i : undefined;
    }, 540_000, 500);
    console.log(`# first install on ${NODES} nodes with facts applied in ${((Date.now() - t0) / 1000).toFixed(1)} s: DaemonSet versions ${JSON.stringify([...dsVersions])}; ${grants.length} grants, most in flight ${Math.max(0, ...grants.map((g) => g.inflight))}`);

    // Exactly one DaemonSet template: created once, never changed.
    assert.equal(dsVersions.size, 1, `the DaemonSet template changed: ${JSON.stringify([...dsVersions])}`);
    assert.match([...dsVersions][0]!, /^1\//, 'generation 1');
    // No agent restarted: no pod deleted, one pod per node ever.
    const deletes = requests.filter((r) => r.verb === 'delete' && /\/pods\//.test(r.path));
    assert.equal(deletes.length, 0, 'the operator deleted no agent pod');
    assert.equal(podsOf.size, NODES);
    for (const [node, uids] of podsOf) assert.equal(uids.size, 1, `${node} had ${uids.size} agent pods`);
    // Every node moved to the final configuration in place, each through one grant at most,
    // a canary first and never more than maxUnavailable (10 %) in flight.
    const byNode = new Map<string, number>();
    for (const g of grants) byNode.set(g.node, (byNode.get(g.node) ?? 0) + 1);
    for (const [node, n] of byNode) assert.equal(n, 1, `${node} was handed the configuration ${n} times`);
    assert.ok(grants.length > 0, 'the facts changed the configuration, so running agents were handed it');
    assert.equal(grants[0]!.inflight, 1, 'a canary first');
    if (grants.length > 1) assert.equal(grants[1]!.inflight, 1, 'nothing else before the canary is Ready');
    const b = Math.ceil(NODES / 10);
    assert.ok(grants.every((g) => g.inflight <= b), `at most ${b} in flight`);
    assert.equal(condition(done, 'Degraded')?.status, 'False');
  });
});
