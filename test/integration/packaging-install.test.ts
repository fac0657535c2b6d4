// The release manifest and the Helm chart's output on a real kube-apiserver: accepted by
// server-side dry-run, then really applied (CRDs Established, every object — the operator
// Deployment's spec included — admitted as shipped), and the sample Installation goes Ready on
// kwok nodes with the operator running in-process as the ServiceAccount the manifest creates
// (its RBAC, exactly) and the test-side agent simulator standing in for the node agents. There is
// no kubelet here, so the Deployment's pods never run; the kind e2e (hack/kind-e2e.sh) runs them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_REGISTRY, RELEASE_MANIFEST, releaseTag } from '../../hack/release/manifest.ts';
import type { KObject } from '../../hack/release/kustomize.ts';
import { ensureHelm } from '../../hack/tools/helm.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { createLogger } from '../../kube/index.ts';
import { AgentSimulator } from '../support/agent-simulator.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { createFakeNodes, waitFakeNodesReady } from '../support/kwok.ts';
import { condition, getJson, serviceAccountKubeConfig, waitFor } from '../support/operator-env.ts';
import { helmTemplate, idOf, parseObjects } from '../unit/packaging/objects.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;
const helm = env.ok ? await ensureHelm() : undefined;
const helmSkip = !env.ok ? skip : helm?.ok ? false : `helm cannot be built: ${helm && !helm.ok ? helm.reason : ''}`;

const manifestPath = join(repoRoot, RELEASE_MANIFEST);
const sample = join(repoRoot, 'config/samples/installation.yaml');
const NS = 'weft-system';
const CRDS = ['installations.operator.weft.dev', 'ipamblocks.network.weft.dev', 'nodenetworks.network.weft.dev'];

const RESOURCE: Record<string, string> = {
  CustomResourceDefinition: 'customresourcedefinitions.apiextensions.k8s.io',
  Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles.rbac.authorization.k8s.io',
  ClusterRoleBinding: 'clusterrolebindings.rbac.authorization.k8s.io', Role: 'roles.rbac.authorization.k8s.io',
  RoleBinding: 'rolebindings.rbac.authorization.k8s.io', Deployment: 'deployments.apps',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies.admissionregistration.k8s.io',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings.admissionregistration.k8s.io',
};

async function live(cp: ControlPlane, o: KObject): Promise<any> {
  const resource = RESOURCE[o.kind];
  assert.ok(resource, `no resource name known for kind ${o.kind}; extend RESOURCE in this test`);
  return getJson(cp, [resource, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])]);
}

/** Every field the manifest sets is on the live object with the same value (the server only added defaults). */
function assertSubset(want: unknown, got: unknown, path: string): void {
  if (want === null || typeof want !== 'object') {
    assert.deepEqual(got, want, `${path}: the API server stored ${JSON.stringify(got)}, the manifest says ${JSON.stringify(want)}`);
    return;
  }
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got) && got.length === want.length, `${path}: expected ${want.length} items, got ${JSON.stringify(got)?.slice(0, 200)}`);
    want.forEach((w, i) => assertSubset(w, (got as unknown[])[i], `${path}[${i}]`));
    return;
  }
  assert.ok(got && typeof got === 'object', `${path}: missing on the live object`);
  for (const [k, v] of Object.entries(want)) assertSubset(v, (got as Record<string, unknown>)[k], `${path}.${k}`);
}

/** Server-side dry-run, then the real apply; returns what kubectl printed. */
async function dryRunThenApply(cp: ControlPlane, file: string, manager: string): Promise<void> {
  // Namespaced objects cannot be dry-run into a namespace that does not exist yet; the Namespace
  // object itself is still dry-run (as an update) below.
  await cp.kubectl(['create', 'namespace', NS], { allowFailure: true });
  const dry = await cp.kubectl(['apply', '--server-side', `--field-manager=${manager}`, '--dry-run=server', '-f', file], { allowFailure: true });
  assert.equal(dry.code, 0, `server-side dry-run of ${file} failed:\n${dry.stderr}`);
  const real = await cp.kubectl(['apply', '--server-side', `--field-manager=${manager}`, '-f', file], { allowFailure: true });
  assert.equal(real.code, 0, `applying ${file} failed:\n${real.stderr}`);
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...CRDS.map((c) => `crd/${c}`)]);
}

describe('config/release/weft.yaml on a real control plane', { skip }, () => {
  let cp: ControlPlane;
  let op: Operator | undefined;
  let run: Promise<unknown> | undefined;
  let sim: AgentSimulator | undefined;
  const objects = parseObjects(readFileSync(manifestPath, 'utf8'));

  before(async () => {
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true });
  });
  after(async () => {
    await sim?.stop();
    op?.stop();
    await run;
    await cp?.stop();
  });

  test('is accepted by server-side dry-run, then applied: CRDs Established, every object as shipped', { timeout: 120_000 }, async () => {
    await dryRunThenApply(cp, manifestPath, 'weft-release-test');
    for (const o of objects) assertSubset(o, await live(cp, o), idOf(o));
  });

  test('the operator Deployment is admitted with its full pod spec (it never runs here: no kubelet)', async () => {
    const d = await getJson<any>(cp, ['deployment', 'weft-operator', '-n', NS]);
    assert.ok(d, 'the Deployment is missing');
    const pod = d.spec.template.spec;
    assert.equal(pod.containers[0].image, `${DEFAULT_REGISTRY}/weft-operator:${releaseTag(repoRoot)}`);
    assert.equal(pod.serviceAccountName, 'weft-operator');
    assert.equal(pod.securityContext.runAsUser, 65532);
    assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    // The controller-manager turned it into a ReplicaSet and pods: the spec is valid end to end.
    const rs = await waitFor('a ReplicaSet of weft-operator', async () => {
      const list = await getJson<any>(cp, ['replicasets', '-n', NS, '-l', 'app.kubernetes.io/name=weft-operator']);
      return list?.items?.length ? list.items : undefined;
    });
    assert.equal(rs.length, 1);
    await waitFor('weft-operator pods created', async () => {
      const pods = await getJson<any>(cp, ['pods', '-n', NS, '-l', 'app.kubernetes.io/name=weft-operator']);
      return pods?.items?.length === d.spec.replicas ? true : undefined;
    });
  });

  test('re-applying it is a no-op (nothing to drift)', async () => {
    const before = await getJson<any>(cp, ['deployment', 'weft-operator', '-n', NS]);
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-release-test', '-f', manifestPath]);
    const afterApply = await getJson<any>(cp, ['deployment', 'weft-operator', '-n', NS]);
    assert.equal(afterApply.metadata.generation, before.metadata.generation);
    assert.equal(afterApply.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  test('the sample Installation goes Ready (observedGeneration current) with kwok nodes, the operator as its ServiceAccount and the simulated agents', { timeout: 180_000 }, async () => {
    await createFakeNodes(cp.kubeConfig, 3);
    await waitFakeNodesReady(cp.kubeConfig, 3);
    // The operator runs in-process with the token of the ServiceAccount the manifest created, so
    // the manifest's RBAC is what it works with; its Deployment's pods cannot run without a kubelet.
    const saKc = await serviceAccountKubeConfig(cp, NS, 'weft-operator');
    op = await createOperator({
      kubeConfig: saKc,
      version: releaseTag(repoRoot),
      registry: DEFAULT_REGISTRY,
      identity: 'packaging-test',
      namespace: NS,
      leaderElect: true,
      handleSignals: false,
      logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
    });
    run = op.run();
    sim = new AgentSimulator({ kubeConfig: cp.kubeConfig, address: (_n, i) => `198.18.0.${i + 10}/24` });
    sim.start();

    await cp.kubectl(['apply', '-f', sample]);
    const inst = await waitFor('Installation default Ready for its generation', async () => {
      const i = await getJson<any>(cp, ['installation', 'default']);
      const ready = condition(i, 'Ready');
      return ready?.status === 'True' && i.status?.observedGeneration === i.metadata.generation ? i : undefined;
    }, 150_000, 500);
    assert.equal(condition(inst, 'Degraded')?.status, 'False');
    const ds = await getJson<any>(cp, ['daemonset', 'weft-node', '-n', NS]);
    assert.equal(ds.spec.template.spec.containers[0].image, `${DEFAULT_REGISTRY}/weft-node:${releaseTag(repoRoot)}`,
      'the operator of this release deploys the node image of the same release');
    // The operator never writes the Installation's spec (zero GitOps drift): applying the sample
    // again under another field manager changes nothing.
    const again = await cp.kubectl(['apply', '--server-side', '--field-manager=argocd-controller', '--dry-run=server', '-f', sample, '-o', 'json']);
    assert.equal(JSON.parse(again.stdout).metadata.generation, inst.metadata.generation);
  });
});

describe('helm template charts/weft on a real control plane', { skip: helmSkip }, () => {
  let cp: ControlPlane;
  let dir: string;

  before(async () => {
    cp = await startControlPlane();
    dir = mkdtempSync(join(tmpdir(), 'weft-helm-'));
  });
  after(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('is accepted by server-side dry-run, then applied: CRDs Established, every object as rendered', { timeout: 120_000 }, async () => {
    assert.ok(helm?.ok);
    const r = helmTemplate(helm.helm);
    assert.equal(r.code, 0, r.stderr);
    const file = join(dir, 'weft-helm.yaml');
    writeFileSync(file, r.stdout);
    await dryRunThenApply(cp, file, 'helm');
    for (const o of r.objects) assertSubset(o, await live(cp, o), idOf(o));
  });

  test('the release manifest applied over the chart changes no spec (they are the same objects)', async () => {
    const gens = new Map<string, number>();
    const objects = parseObjects(readFileSync(manifestPath, 'utf8'));
    for (const o of objects) gens.set(idOf(o), (await live(cp, o)).metadata.generation);
    // --force-conflicts: env[].valueFrom.fieldRef is an atomic struct the API server defaults
    // (apiVersion: v1), so a second field manager conflicts on it even with equal values. The
    // generations below prove the values are equal.
    const r = await cp.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=weft-release-test', '-f', manifestPath], { allowFailure: true });
    assert.equal(r.code, 0, r.stderr);
    for (const o of objects) {
      const now = await live(cp, o);
      assert.equal(now.metadata.generation, gens.get(idOf(o)), `${idOf(o)}: the release manifest changed what the chart applied`);
    }
  });
});
