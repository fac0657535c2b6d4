// Uninstall on a real control plane (issue 12): the release manifest applied, the operator
// in-process as the ServiceAccount the manifest creates (its RBAC exactly), kwok nodes and the
// test-side agent simulator answering the uninstall handshake (docs/adr/0009). Deleting the
// Installation removes every rendered object, NodeNetwork and IPAMBlock and leaves no finalizer
// within 10 s; an agent that never answers costs the bounded timeout and a Warning Event naming
// its node; deleting the release manifest afterwards leaves nothing of Weft.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_REGISTRY, RELEASE_MANIFEST, releaseTag } from '../../hack/release/manifest.ts';
import { UNINSTALL_FINALIZER } from '../../api/lifecycle.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { KubeClient, createLogger, isNotFound, type KubeObject } from '../../kube/index.ts';
import { AgentSimulator } from '../support/agent-simulator.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { createFakeNodes, waitFakeNodesReady } from '../support/kwok.ts';
import { condition, getJson, serviceAccountKubeConfig, waitFor } from '../support/operator-env.ts';
import { join } from 'node:path';
import { execFile } from 'node:child_process';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;

const manifestPath = join(repoRoot, RELEASE_MANIFEST);
const sample = join(repoRoot, 'config/samples/installation.yaml');
const NS = 'weft-system';
const CRDS = ['installations.operator.weft.dev', 'ipamblocks.network.weft.dev', 'nodenetworks.network.weft.dev'];
const UNINSTALL_TIMEOUT_MS = 5_000;
const OWNER = 'operator.weft.dev/installation=default';

const CLI = join(repoRoot, 'cli/main.ts');
function weft(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: repoRoot, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
      resolve({ code: Number.isFinite(code) ? code : 1, stdout, stderr });
    });
  });
}

interface EventObj { reason?: string; type?: string; note?: string; regarding?: { kind?: string; name?: string }; metadata?: { creationTimestamp?: string } }

describe('uninstall on a real control plane (release manifest, operator as its ServiceAccount, simulated agents)', { skip }, () => {
  let cp: ControlPlane;
  let op: Operator | undefined;
  let run: Promise<unknown> | undefined;
  let sim: AgentSimulator | undefined;
  let admin: KubeClient;
  let nodes: string[] = [];

  // Through the API (not kubectl): polled every 100 ms on a 2-core machine.
  async function ownedLeft(): Promise<string[]> {
    const left: string[] = [];
    const paths = [
      `/apis/apps/v1/namespaces/${NS}/daemonsets`, `/api/v1/namespaces/${NS}/configmaps`, `/api/v1/namespaces/${NS}/serviceaccounts`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`,
      '/apis/rbac.authorization.k8s.io/v1/clusterroles', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    ];
    for (const p of paths) {
      const list = await admin.request<{ items: KubeObject[] }>(p, { verb: 'list', query: { labelSelector: OWNER } });
      for (const o of list.items) left.push(`${p.split('/').pop()}/${o.metadata?.name}`);
    }
    for (const res of ['nodenetworks', 'ipamblocks']) {
      const list = await admin.request<{ items: KubeObject[] }>(`/apis/network.weft.dev/v1/${res}`, { verb: 'list' });
      for (const o of list.items) left.push(`${res}/${o.metadata?.name}`);
    }
    return left;
  }
  const installationGone = async () => admin.request('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' }).then(() => undefined, (e: unknown) => (isNotFound(e) ? true : Promise.reject(e)));

  async function installAndWaitReady(): Promise<void> {
    await cp.kubectl(['apply', '-f', sample]);
    await waitFor('Installation default Ready for its generation', async () => {
      const i = await getJson<any>(cp, ['installation', 'default']);
      return condition(i, 'Ready')?.status === 'True' && i.status?.observedGeneration === i.metadata.generation ? i : undefined;
    }, 120_000, 250);
    const inst = await getJson<any>(cp, ['installation', 'default']);
    assert.deepEqual(inst.metadata.finalizers, [UNINSTALL_FINALIZER], 'the operator holds the uninstall finalizer while installed');
    await waitFor('a NodeNetwork per node', async () => ((await getJson<{ items: unknown[] }>(cp, ['nodenetworks']))?.items.length === nodes.length ? true : undefined), 30_000);
    // The simulator claims no blocks; a block as an agent creates it (owned by its Node).
    const node = await getJson<any>(cp, ['node', nodes[0]!]);
    await admin.request('/apis/network.weft.dev/v1/ipamblocks', {
      verb: 'create', method: 'POST',
      body: { apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock', metadata: { name: '10-244-0-0-26', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodes[0], uid: node.metadata.uid }] }, spec: { cidr: '10.244.0.0/26', pool: 'default', node: nodes[0] } },
    });
  }

  async function uninstallEvents(): Promise<EventObj[]> {
    const list = await getJson<{ items: EventObj[] }>(cp, ['events.v1.events.k8s.io', '-A']);
    return (list?.items ?? []).filter((e) => e.regarding?.kind === 'Installation' && (e.reason === 'Uninstalled' || e.reason === 'UninstallIncomplete'));
  }

  before(async () => {
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true });
    admin = new KubeClient(cp.kubeConfig);
    await cp.kubectl(['create', 'namespace', NS], { allowFailure: true });
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-release-test', '-f', manifestPath]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...CRDS.map((c) => `crd/${c}`)]);
    nodes = await createFakeNodes(cp.kubeConfig, 3);
    await waitFakeNodesReady(cp.kubeConfig, 3);
    op = await createOperator({
      kubeConfig: await serviceAccountKubeConfig(cp, NS, 'weft-operator'),
      version: releaseTag(repoRoot),
      registry: DEFAULT_REGISTRY,
      identity: 'lifecycle-test',
      namespace: NS,
      leaderElect: false,
      handleSignals: false,
      uninstallTimeoutMs: UNINSTALL_TIMEOUT_MS,
      logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
    });
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

  test('deleting the Installation: every agent reports, everything rendered, NodeNetworks, IPAMBlocks and the finalizer gone within 10 s', { timeout: 180_000 }, async () => {
    await installAndWaitReady();
    assert.ok((await ownedLeft()).some((o) => o.startsWith('daemonsets/')), 'the DaemonSet was rendered');
    // weft uninstall --dry-run lists cluster objects and, per node, what its agent removes; it changes nothing.
    const dry = await weft(['uninstall', '--dry-run', '--kubeconfig', cp.kubeconfigPath]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /DaemonSet weft-system\/weft-node/);
    assert.match(dry.stdout, /ConfigMap weft-system\/weft-config/);
    assert.match(dry.stdout, /IPAMBlock 10-244-0-0-26/);
    for (const n of nodes) assert.match(dry.stdout, new RegExp(`NodeNetwork ${n}\\b[\\s\\S]*  ${n}: .*conflist`));
    for (const crd of CRDS) assert.match(dry.stdout, new RegExp(crd.replace(/\./g, '\\.')));
    const still = await admin.request<KubeObject>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
    assert.equal(still.metadata?.deletionTimestamp, undefined, 'the dry run deleted the Installation');
    const t0 = Date.now();
    await cp.kubectl(['delete', 'installation', 'default', '--wait=false']);
    await waitFor('Installation default gone (finalizer released)', installationGone, 10_000, 100);
    await waitFor('every owned object, NodeNetwork and IPAMBlock gone', async () => ((await ownedLeft()).length === 0 ? true : undefined), Math.max(0, 10_000 - (Date.now() - t0)), 100);
    const took = Date.now() - t0;
    console.log(`# delete Installation -> everything gone, finalizer released: ${took} ms`);
    assert.ok(took < 10_000, `uninstall took ${took} ms`);
    assert.ok(took < UNINSTALL_TIMEOUT_MS, `finished in ${took} ms: it waited for the timeout although every agent reported`);
    const events = await uninstallEvents();
    assert.ok(events.some((e) => e.reason === 'Uninstalled' && e.type === 'Normal' && /3 node\(s\) cleaned themselves/.test(e.note ?? '')), `no Normal Uninstalled event: ${JSON.stringify(events)}`);
    assert.ok(!events.some((e) => e.reason === 'UninstallIncomplete'), JSON.stringify(events));
    assert.ok(await getJson(cp, ['namespace', NS]), 'the operator\'s namespace stays (the operator runs there)');
  });

  test('an agent that never answers: the finalizer is released after the bounded timeout with a Warning Event naming its node', { timeout: 180_000 }, async () => {
    // Reinstall; the DaemonSet pods are new, so the simulator answers for them again.
    await installAndWaitReady();
    const silent = nodes[1]!;
    sim!.inject(silent, { ignoreUninstall: true });
    const t0 = Date.now();
    // `weft uninstall` deletes the Installation and follows the handshake until the finalizer is released.
    const cli = weft(['uninstall', '--kubeconfig', cp.kubeconfigPath]);
    // The others answered; the finalizer stays for the silent node until the timeout.
    await waitFor('the other nodes report Uninstalled', async () => {
      const list = await getJson<{ items: any[] }>(cp, ['nodenetworks']);
      const done = (list?.items ?? []).filter((n) => condition(n, 'Uninstalled')?.status === 'True').map((n) => n.metadata.name);
      return done.length === nodes.length - 1 && !done.includes(silent) ? true : undefined;
    }, 10_000, 100);
    assert.ok(await getJson(cp, ['installation', 'default']), 'released before the timeout although a node did not answer');
    await waitFor('Installation default gone after the timeout', installationGone, UNINSTALL_TIMEOUT_MS + 10_000, 100);
    const took = Date.now() - t0;
    assert.ok(took >= UNINSTALL_TIMEOUT_MS - 1_000, `released after ${took} ms, before the ${UNINSTALL_TIMEOUT_MS} ms timeout`);
    const out = await cli;
    assert.equal(out.code, 0, `${out.stdout}${out.stderr}`);
    assert.match(out.stdout, /waiting: 2\/3 node\(s\) cleaned/);
    assert.match(out.stdout, /^Done\./m);
    await waitFor('every owned object, NodeNetwork and IPAMBlock gone', async () => ((await ownedLeft()).length === 0 ? true : undefined), 10_000, 100);
    const warn = (await uninstallEvents()).find((e) => e.reason === 'UninstallIncomplete');
    assert.ok(warn, 'no UninstallIncomplete event');
    assert.equal(warn.type, 'Warning');
    assert.match(warn.note ?? '', new RegExp(`node ${silent}:`), 'the event names the node that did not clean');
    assert.match(warn.note ?? '', /weft-node cleanup/, 'the event says what to do');
    for (const other of nodes.filter((n) => n !== silent)) assert.doesNotMatch(warn.note ?? '', new RegExp(`node ${other}:`));
    sim!.clear(silent);
  });

  test('deleting the release manifest afterwards leaves nothing of Weft in the cluster', { timeout: 180_000 }, async () => {
    // The operator goes with its Deployment.
    sim?.stop();
    sim = undefined;
    op?.stop();
    await run;
    op = undefined;
    await cp.kubectl(['delete', '-f', manifestPath, '--wait=true', '--timeout=120s']);
    for (const crd of CRDS) assert.equal(await getJson(cp, ['crd', crd]), undefined, `CRD ${crd} left`);
    await waitFor(`namespace ${NS} gone`, async () => ((await getJson(cp, ['namespace', NS])) ? undefined : true), 120_000, 500);
    const leftovers: string[] = [];
    for (const res of ['clusterroles', 'clusterrolebindings']) {
      const list = await getJson<{ items: KubeObject[] }>(cp, [res]);
      for (const o of list?.items ?? []) if (/weft/.test(o.metadata?.name ?? '') || Object.keys(o.metadata?.labels ?? {}).some((k) => k.includes('weft'))) leftovers.push(`${res}/${o.metadata?.name}`);
    }
    const webhooks = await getJson<{ items: KubeObject[] }>(cp, ['validatingwebhookconfigurations']);
    for (const o of webhooks?.items ?? []) if (/weft/.test(o.metadata?.name ?? '')) leftovers.push(`validatingwebhookconfigurations/${o.metadata?.name}`);
    assert.deepEqual(leftovers, []);
  });
});

