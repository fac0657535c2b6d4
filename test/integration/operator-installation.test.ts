// The Installation and IPAM housekeeping controllers against a real control plane (etcd,
// kube-apiserver, controller-manager, scheduler, kwok). The operator runs in-process as its own
// ServiceAccount with the RBAC of config/operator, so these tests also prove that RBAC suffices
// (the agent's RBAC ships statically, so the operator needs none of its own). NodeNetworks are
// written by the test-side agent simulator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Installation, NodeNetwork } from '../../api/index.ts';
import { APPLIED_HASH_ANNOTATION } from '../../operator/apply/applier.ts';
import { buildFacts } from '../../operator/controllers/facts.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { KubeClient, WRITE_VERBS, createLogger, type KubeObject, type RequestInfo } from '../../kube/index.ts';
import { render } from '../../render/index.ts';
import { AgentSimulator } from '../support/agent-simulator.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import { createFakeNodes, deleteFakeNodes, waitFakeNodesReady } from '../support/kwok.ts';
import { condition, getJson, installOperatorBase, installationYaml, serviceAccountKubeConfig, waitFor } from '../support/operator-env.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;

const VERSION = '0.1.0-test';
const NS = 'weft-system';
const basePools = [
  { name: 'default', cidr: '10.244.0.0/16' },
  { name: 'extra', cidr: '10.250.0.0/16', encapsulation: 'Auto' },
];

type Inst = Installation & KubeObject;
interface EventObj { reason?: string; type?: string; note?: string; regarding?: { kind?: string; name?: string } }

describe('Installation controller (real control plane, kwok nodes, operator as its own ServiceAccount)', { skip }, () => {
  let cp: ControlPlane;
  let op: Operator;
  let run: Promise<unknown>;
  let sim: AgentSimulator;
  let admin: KubeClient;
  let dir: string;
  const requests: RequestInfo[] = [];
  const writes = () => requests.filter((r) => WRITE_VERBS.has(r.verb));

  async function applyInstallation(spec: unknown, manager = 'weft-test'): Promise<void> {
    const f = join(dir, `inst-${Date.now()}.yaml`);
    writeFileSync(f, installationYaml(spec));
    await cp.kubectl(['apply', '--server-side', `--field-manager=${manager}`, '--force-conflicts', '-f', f]);
  }
  const inst = () => admin.request<Inst>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
  const cm = () => admin.request<KubeObject & { data: Record<string, string> }>(`/api/v1/namespaces/${NS}/configmaps/weft-config`, { verb: 'get' });
  const ds = () => admin.request<KubeObject & { spec: any }>(`/apis/apps/v1/namespaces/${NS}/daemonsets/weft-node`, { verb: 'get' });
  async function ownedVersions(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const o of [...op.installation.owned.values()].flatMap((i) => i.store.list())) {
      out[`${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`] = o.metadata!.resourceVersion!;
    }
    return out;
  }
  async function liveOwnedVersions(keys: string[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const k of keys) {
      const [kind, ns, name] = k.split('/');
      const res = { Namespace: 'namespace', ServiceAccount: 'serviceaccount', ConfigMap: 'configmap', ClusterRole: 'clusterrole', ClusterRoleBinding: 'clusterrolebinding', Role: 'role', RoleBinding: 'rolebinding', DaemonSet: 'daemonset' }[kind!]!;
      const o = await getJson(cp, [res, name!, ...(ns ? ['-n', ns] : [])]);
      out[k] = o?.metadata?.resourceVersion ?? 'missing';
    }
    return out;
  }
  async function degradedWith(reason: string): Promise<Inst> {
    return waitFor(`Degraded ${reason}`, async () => {
      const i = await inst();
      const d = condition(i, 'Degraded');
      return d?.status === 'True' && d.reason === reason && i.status?.observedGeneration === i.metadata?.generation ? i : undefined;
    }, 30_000);
  }
  async function accepted(): Promise<Inst> {
    return waitFor('Degraded False for the current generation', async () => {
      const i = await inst();
      return condition(i, 'Degraded')?.status === 'False' && i.status?.observedGeneration === i.metadata?.generation ? i : undefined;
    }, 30_000);
  }
  async function events(): Promise<EventObj[]> {
    const r = await admin.request<{ items: EventObj[] }>('/apis/events.k8s.io/v1/namespaces/default/events', { verb: 'list' });
    return r.items;
  }

  before(async () => {
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true });
    admin = new KubeClient(cp.kubeConfig);
    dir = mkdtempSync(join(tmpdir(), 'weft-op-test-'));
    await installOperatorBase(cp);
    await createFakeNodes(cp.kubeConfig, 3);
    await waitFakeNodesReady(cp.kubeConfig, 3);
    const saKc = await serviceAccountKubeConfig(cp, NS, 'weft-operator');
    op = await createOperator({
      kubeConfig: saKc,
      version: VERSION,
      identity: 'test-operator',
      leaderElect: false,
      handleSignals: false,
      healthPort: 0,
      bindAddress: '127.0.0.1',
      resyncMs: 2_000,
      ipamGraceMs: 1_000,
      ipamSweepIntervalMs: 3_000,
      logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
    });
    op.manager.client.onRequest((r) => requests.push(r));
    run = op.run();
    sim = new AgentSimulator({ kubeConfig: cp.kubeConfig, address: (_n, i) => `198.18.0.${i + 10}/24` });
    sim.start();
  });

  after(async () => {
    await sim?.stop();
    op?.stop();
    await run;
    admin?.close();
    await cp?.stop();
  });

  test('the CRDs shipped in the base are current: the operator applied none at start', () => {
    assert.deepEqual(op.crdPlan.map((c) => c.action), ['unchanged', 'unchanged', 'unchanged']);
  });

  test('applying an Installation creates every rendered object, and status becomes Ready once agents report', { timeout: 120_000 }, async () => {
    await applyInstallation({ network: { ipPools: basePools } });
    const ready = await waitFor('Installation Ready', async () => {
      const i = await inst();
      return condition(i, 'Ready')?.status === 'True' ? i : undefined;
    }, 90_000, 250);
    // Every object render produces (for the facts the cluster has now) exists with our applied-hash.
    const nodes = (await admin.request<{ items: KubeObject[] }>('/api/v1/nodes', { verb: 'list' })).items;
    const nns = (await admin.request<{ items: (NodeNetwork & KubeObject)[] }>('/apis/network.weft.dev/v1/nodenetworks', { verb: 'list' })).items;
    const expected = render(ready, buildFacts(nodes, nns).facts, { operatorVersion: VERSION, registry: 'ghcr.io/weft-dev' });
    assert.ok(expected.objects.length >= 3, `render produced ${expected.objects.length} objects`);
    for (const o of expected.objects) {
      const args = [o.kind.toLowerCase(), o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])];
      const live = await getJson(cp, args);
      assert.ok(live, `${o.kind} ${o.metadata.name} was not created`);
      assert.ok(live.metadata?.annotations?.[APPLIED_HASH_ANNOTATION], `${o.kind} ${o.metadata.name} lacks the applied-hash annotation`);
      assert.equal(live.metadata?.labels?.['operator.weft.dev/installation'], 'default');
    }
    const st = ready.status!;
    assert.equal(st.observedGeneration, ready.metadata?.generation);
    assert.equal(st.mtu, 1500, `mtu ${st.mtu}: ${st.mtuReason}`);
    assert.match(st.mtuReason ?? '', /1500/);
    assert.equal(st.encapsulation, 'None');
    assert.deepEqual(st.ipPools?.map((p) => [p.name, p.encapsulation, p.dataplane]), [['default', 'None', 'host-gw'], ['extra', 'None', 'host-gw']]);
    assert.deepEqual(st.nodes, { desired: 3, updated: 3, ready: 3 });
    assert.equal(st.version, VERSION);
    // No facts differ from the fact-free render here (no agents report), so both hashes agree (docs/adr/0010).
    assert.equal(st.configHash, (await ds()).spec.template.metadata.annotations['weft.dev/spec-hash']);
    assert.equal(condition(ready, 'Progressing')?.status, 'False');
    assert.equal(condition(ready, 'Degraded')?.status, 'False');
    assert.equal((await ds()).spec.updateStrategy.type, 'OnDelete');
    const evs = await events();
    assert.ok(evs.some((e) => e.reason === 'MTUSelected' && /1500/.test(e.note ?? '')), 'an MTUSelected event records the MTU decision');
    assert.ok(evs.some((e) => e.reason === 'RolloutStarted'), 'a RolloutStarted event records the rollout');
  });

  test('steady state: reconciles and resyncs make zero write requests and change no resourceVersion', { timeout: 60_000 }, async () => {
    // Let in-flight status updates (DaemonSet status, agents) settle.
    await new Promise((r) => setTimeout(r, 3_000));
    const before = await ownedVersions();
    const instRv = (await inst()).metadata?.resourceVersion;
    const w0 = writes().length;
    const r0 = op.installation.stats.reconciles;
    for (let i = 0; i < 5; i++) {
      op.installation.enqueue();
      await waitFor('reconcile', () => op.installation.stats.reconciles > r0 + i, 10_000, 20);
    }
    // Resyncs every 2 s re-deliver every cached object; wait for a few of them.
    await new Promise((r) => setTimeout(r, 5_000));
    assert.ok(op.installation.stats.reconciles >= r0 + 6, `expected resync-driven reconciles, got ${op.installation.stats.reconciles - r0}`);
    assert.deepEqual(writes().slice(w0), [], 'a steady-state reconcile must not write');
    assert.deepEqual(await liveOwnedVersions(Object.keys(before)), before, 'owned objects unchanged');
    assert.equal((await inst()).metadata?.resourceVersion, instRv, 'Installation unchanged');
  });

  test('GitOps: an Argo CD-style server-side apply of the same Installation shows no diff; the operator owns no spec field', async () => {
    const f = join(dir, 'gitops.yaml');
    writeFileSync(f, installationYaml({ network: { ipPools: basePools } }));
    const diff = await cp.kubectl(['diff', '--server-side', '--field-manager=argocd-controller', '--force-conflicts', '-f', f], { allowFailure: true });
    assert.equal(diff.code, 0, `kubectl diff found drift:\n${diff.stdout}${diff.stderr}`);
    const before = await inst();
    const dry = await cp.kubectl(['apply', '--server-side', '--field-manager=argocd-controller', '--force-conflicts', '--dry-run=server', '-f', f, '-o', 'json']);
    const dryObj = JSON.parse(dry.stdout) as Inst;
    assert.deepEqual(dryObj.spec, before.spec);
    assert.equal(dryObj.metadata?.generation, before.metadata?.generation);
    const mf = (before.metadata as { managedFields?: { manager: string; subresource?: string; fieldsV1?: Record<string, unknown> }[] }).managedFields ?? [];
    const ours = mf.filter((m) => m.manager === 'weft-operator');
    assert.ok(ours.length > 0, 'the operator manages status fields');
    for (const m of ours) {
      assert.equal(m.subresource, 'status', `weft-operator manages ${JSON.stringify(m)} outside the status subresource`);
      assert.ok(!('f:spec' in (m.fieldsV1 ?? {})), 'weft-operator must own no spec field');
    }
  });

  test('drift repair: a deleted or hand-edited owned object is restored; a stale owned object is pruned', { timeout: 60_000 }, async () => {
    const cm0 = await cm();
    await cp.kubectl(['delete', 'configmap', 'weft-config', '-n', NS]);
    await waitFor('ConfigMap re-created', async () => {
      const c = await cm().catch(() => undefined);
      return c && c.metadata?.uid !== cm0.metadata?.uid ? c : undefined;
    });
    assert.deepEqual((await cm()).data, cm0.data);

    const image = (await ds()).spec.template.spec.containers[0].image;
    await cp.kubectl(['patch', 'daemonset', 'weft-node', '-n', NS, '--type=strategic', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'agent', image: 'example.invalid/evil:1' }] } } } })]);
    await waitFor('DaemonSet image restored', async () => ((await ds()).spec.template.spec.containers[0].image === image ? true : undefined));

    await cp.kubectl(['patch', 'configmap', 'weft-config', '-n', NS, '--type=merge', '-p', JSON.stringify({ data: { 'config.json': '{}' } })]);
    await waitFor('ConfigMap data restored', async () => ((await cm()).data['config.json'] === cm0.data['config.json'] ? true : undefined));

    await admin.request(`/api/v1/namespaces/${NS}/configmaps`, {
      verb: 'create',
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-stale', labels: { 'operator.weft.dev/installation': 'default' } }, data: { a: 'b' } },
    });
    await waitFor('stale owned ConfigMap pruned', async () => ((await getJson(cp, ['configmap', 'weft-stale', '-n', NS])) ? undefined : true));
    // An object without the owner label is never touched.
    await admin.request(`/api/v1/namespaces/${NS}/configmaps`, { verb: 'create', method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-ours' } } });
    op.installation.enqueue();
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(await getJson(cp, ['configmap', 'not-ours', '-n', NS]), 'an unlabelled ConfigMap must survive pruning');
  });

  test('removing a pool removes it from the agents\' configuration', { timeout: 60_000 }, async () => {
    await applyInstallation({ network: { ipPools: [basePools[0]] } });
    const i = await accepted();
    assert.deepEqual(i.status?.ipPools?.map((p) => p.name), ['default']);
    await waitFor('config.json without pool extra', async () => (!(await cm()).data['config.json']!.includes('10.250.0.0/16') ? true : undefined));
  });

  test('bad input: overlapping pools → Degraded with what to change; running objects untouched', { timeout: 60_000 }, async () => {
    const before = await ownedVersions();
    const readyBefore = await inst();
    await applyInstallation({ network: { ipPools: [basePools[0], { name: 'overlap', cidr: '10.244.128.0/17' }] } });
    const i = await degradedWith('OverlappingPools');
    const msg = condition(i, 'Degraded')!.message!;
    assert.match(msg, /10\.244\.128\.0\/17.*overlap.*10\.244\.0\.0\/16/);
    assert.match(msg, /choose disjoint ranges/);
    assert.match(msg, /spec\.network\.ipPools\[1\]\.cidr/);
    assert.equal(condition(i, 'Ready')?.status, 'False');
    assert.equal(i.status?.configHash, readyBefore.status?.configHash, 'status still describes the running configuration');
    assert.deepEqual(await liveOwnedVersions(Object.keys(before)), before, 'no running object changed');
    const evs = await events();
    assert.equal(evs.filter((e) => e.reason === 'OverlappingPools').length, 1, 'one Warning event for the refusal, no storm');
    // Reconciling the refused configuration again writes nothing.
    const w0 = writes().length;
    op.installation.enqueue();
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(writes().slice(w0), []);
    await applyInstallation({ network: { ipPools: [basePools[0]] } });
    await accepted();
  });

  test('bad input: host-gw across subnets → Degraded, running objects untouched; fixed when the node moves back', { timeout: 60_000 }, async () => {
    await applyInstallation({ network: { ipPools: [{ ...basePools[0], encapsulation: 'None' }] } });
    await accepted();
    await new Promise((r) => setTimeout(r, 1000));
    const before = await ownedVersions();
    sim.inject('kwok-node-2', { address: '198.18.1.9/24' });
    const i = await degradedWith('HostGatewayAcrossSubnets');
    assert.match(condition(i, 'Degraded')!.message!, /VXLANCrossSubnet/);
    assert.deepEqual(await liveOwnedVersions(Object.keys(before)), before, 'no running object changed');
    sim.clear('kwok-node-2');
    await accepted();
  });

  test('bad input: a removed pool whose blocks hold addresses, and a pool that no longer covers its blocks → Degraded', { timeout: 90_000 }, async () => {
    await applyInstallation({ network: { ipPools: basePools } });
    await accepted();
    const block = await admin.request<KubeObject>('/apis/network.weft.dev/v1/ipamblocks', {
      verb: 'create',
      method: 'POST',
      body: { apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock', metadata: { name: '10-250-0-0-26' }, spec: { cidr: '10.250.0.0/26', pool: 'extra', node: 'kwok-node-0' } },
    });
    await admin.request(`/apis/network.weft.dev/v1/ipamblocks/${block.metadata!.name}/status`, {
      verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { status: { allocated: 3, capacity: 64 } },
    });
    await new Promise((r) => setTimeout(r, 1000));
    const before = await ownedVersions();
    await applyInstallation({ network: { ipPools: [basePools[0]] } });
    let i = await degradedWith('RemovedPoolInUse');
    assert.match(condition(i, 'Degraded')!.message!, /pool "extra" was removed but 1 of its block\(s\) still hold 3 pod address/);
    assert.match(condition(i, 'Degraded')!.message!, /kwok-node-0/);
    assert.deepEqual(await liveOwnedVersions(Object.keys(before)), before);

    await applyInstallation({ network: { ipPools: [basePools[0], { name: 'extra', cidr: '10.251.0.0/16' }] } });
    i = await degradedWith('PoolDoesNotCoverBlocks');
    assert.match(condition(i, 'Degraded')!.message!, /pool "extra" \(cidr 10\.251\.0\.0\/16, blockSize 26\) no longer covers 1 block\(s\).*10\.250\.0\.0\/26 on kwok-node-0/);
    assert.deepEqual(await liveOwnedVersions(Object.keys(before)), before);

    // The cidr is immutable in place: remove the pool, then add it back with a range that covers its blocks.
    await applyInstallation({ network: { ipPools: [basePools[0]] } });
    await degradedWith('RemovedPoolInUse');
    await applyInstallation({ network: { ipPools: basePools } });
    await accepted();
    assert.deepEqual(await liveOwnedVersions(Object.keys(before)), before, 'back to the running configuration: nothing to apply');
    assert.ok((await events()).some((e) => e.reason === 'ConfigurationAccepted'));
    await admin.request('/apis/network.weft.dev/v1/ipamblocks/10-250-0-0-26', { verb: 'delete', method: 'DELETE' });
  });

  test('IPAM housekeeping releases blocks of nodes that no longer exist, with an event and a metric', { timeout: 60_000 }, async () => {
    const mk = (cidr: string, node: string) =>
      admin.request('/apis/network.weft.dev/v1/ipamblocks', {
        verb: 'create',
        method: 'POST',
        body: { apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock', metadata: { name: cidr.replace(/[./]/g, '-') }, spec: { cidr, pool: 'default', node } },
      });
    // A block of a node that never existed (or vanished before the operator saw it), no owner reference.
    await mk('10.244.200.0/26', 'ghost-node');
    // A block of a live node without an owner reference; then the node goes.
    await createFakeNodes(cp.kubeConfig, 1, { prefix: 'kwok-tmp-' });
    await mk('10.244.201.0/26', 'kwok-tmp-0');
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(await getJson(cp, ['ipamblock', '10-244-201-0-26']), 'the block of a live node is kept');
    await waitFor('ghost block released', async () => ((await getJson(cp, ['ipamblock', '10-244-200-0-26'])) ? undefined : true), 15_000);
    await deleteFakeNodes(cp.kubeConfig, ['kwok-tmp-0']);
    await waitFor('block of the deleted node released', async () => ((await getJson(cp, ['ipamblock', '10-244-201-0-26'])) ? undefined : true), 15_000);
    const evs = (await events()).filter((e) => e.reason === 'BlockReleased');
    assert.equal(evs.length, 2);
    assert.ok(evs.some((e) => /10\.244\.200\.0\/26.*ghost-node no longer exists/.test(e.note ?? '')));
    const metrics = await op.registry.metrics();
    assert.match(metrics, /weft_ipam_blocks_released_total\{reason="node-gone"\} 2/);
  });

  test('metrics: reconciles, durations, queue depth, watch restarts and installation gauges are exported', async () => {
    const port = op.manager.healthPort!;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const re of [
      /weft_reconcile_total\{controller="installation",result="success"\} \d+/,
      /weft_reconcile_duration_seconds_count\{controller="installation"\} \d+/,
      /weft_workqueue_depth\{controller="installation"\} \d+/,
      /weft_workqueue_depth\{controller="ipam-housekeeping"\} \d+/,
      /weft_installation_ip_pools 2/,
      /weft_installation_mtu 1500/,
      /weft_installation_nodes_desired \d+/,
      /weft_installation_nodes_ready \d+/,
      /weft_objects_applied_total\{kind="DaemonSet"\} \d+/,
      /weft_api_requests_total\{verb="patch"\} \d+/,
    ]) assert.match(text, re);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  });

  test('deleting the Installation removes every object rendered for it (the namespace stays)', { timeout: 60_000 }, async () => {
    await cp.kubectl(['delete', 'installation', 'default']);
    await waitFor('owned objects gone', async () => {
      const left = [...op.installation.owned.values()].flatMap((i) => i.store.list()).filter((o) => o.kind !== 'Namespace');
      return left.length === 0 ? true : undefined;
    });
    for (const [res, name, ns] of [['daemonset', 'weft-node', NS], ['configmap', 'weft-config', NS]] as const) {
      assert.equal(await getJson(cp, [res, name, ...(ns ? ['-n', ns] : [])]), undefined, `${res} ${name} should be gone`);
    }
    // The agent's RBAC ships with the manifest (issue 16), so it goes with the manifest, not here.
    assert.ok(await getJson(cp, ['clusterrole', 'weft-node']), 'the static agent ClusterRole stays until the manifest is deleted');
    assert.ok(await getJson(cp, ['namespace', NS]), 'the operator\'s own namespace is never pruned');
  });
});
