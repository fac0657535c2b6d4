// CRD upgrades by the operator at start (issue 12) on a real kube-apiserver: a CRD of an older
// revision (the one an old chart left behind) is replaced by the embedded one — the field it
// lacked is stored afterwards instead of pruned — and an operator older than the cluster's
// CRDs refuses to start (exit 3) with a message naming the CRD and both revisions, touching nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { annotations } from '../../api/index.ts';
import { createOperator } from '../../operator/operator.ts';
import { CrdDowngradeError, crdRevision, loadCrds, type CrdDocument } from '../../operator/crds.ts';
import { KubeClient, createLogger, type KubeObject } from '../../kube/index.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;
const NN_CRD = 'nodenetworks.network.weft.dev';
const NN_PATH = '/apis/network.weft.dev/v1/nodenetworks';
/** The revision this checkout's NodeNetwork CRD carries (bumped with each schema change). */
const OURS = crdRevision(loadCrds().find((c) => c.metadata.name === NN_CRD)!);
const NEWER = OURS + 1;

type Schema = { properties?: Record<string, Schema>; [k: string]: unknown };

/** The embedded NodeNetwork CRD as an older release shipped it: revision-less (0) and without status.kernel. */
function olderNodeNetworkCrd(): CrdDocument {
  const crd = structuredClone(loadCrds().find((c) => c.metadata.name === NN_CRD)!);
  delete crd.metadata.annotations?.[annotations.crdRevision];
  const versions = (crd.spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions;
  for (const v of versions) delete v.schema.openAPIV3Schema.properties!.status!.properties!.kernel;
  return crd;
}

describe('CRD upgrade and downgrade protection at operator start (real kube-apiserver)', { skip }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let dir: string;
  const logger = createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' });
  const crd = () => admin.request<KubeObject & { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } }>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${NN_CRD}`, { verb: 'get' });

  before(async () => {
    cp = await startControlPlane();
    admin = new KubeClient(cp.kubeConfig);
    dir = mkdtempSync(join(tmpdir(), 'weft-crds-'));
  });
  after(async () => {
    admin?.close();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('an older-revision CRD left by an old release is upgraded; the field it lacked is stored afterwards', { timeout: 120_000 }, async () => {
    const f = join(dir, 'old-nodenetworks.yaml');
    writeFileSync(f, stringify(olderNodeNetworkCrd()));
    // An old chart applied it with its own field manager: the operator must take the fields over.
    await cp.kubectl(['apply', '--server-side', '--field-manager=helm', '-f', f]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', `crd/${NN_CRD}`]);
    assert.equal(crdRevision(await crd()), 0);
    // Under the old schema, status.kernel is pruned by the API server.
    await admin.request(NN_PATH, { verb: 'create', method: 'POST', body: { apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name: 'old' }, spec: { nodeName: 'old' } } });
    const pruned = await admin.request<{ status?: Record<string, unknown> }>(`${NN_PATH}/old/status`, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { status: { kernel: { routes: 3 } } } });
    assert.equal(pruned.status?.kernel, undefined, 'the old schema should not know status.kernel');

    const op = await createOperator({ kubeConfig: cp.kubeConfig, version: '9.9.9-test', identity: 'crd-upgrade', leaderElect: false, handleSignals: false, logger });
    const entry = op.crdPlan.find((e) => e.name === NN_CRD);
    assert.ok(OURS >= 1, `the embedded NodeNetwork CRD carries revision ${OURS}`);
    assert.deepEqual(entry, { name: NN_CRD, action: 'upgrade', ours: OURS, cluster: 0 });
    const live = await crd();
    assert.equal(crdRevision(live), OURS);
    assert.ok(live.spec.versions[0]!.schema.openAPIV3Schema.properties!.status!.properties!.kernel, 'status.kernel is in the upgraded schema');
    const kept = await admin.request<{ status?: { kernel?: { routes?: number } } }>(`${NN_PATH}/old/status`, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { status: { kernel: { routes: 3 } } } });
    assert.equal(kept.status?.kernel?.routes, 3, 'the upgraded CRD stores the new field');
    // A second start finds them current and applies nothing.
    const again = await createOperator({ kubeConfig: cp.kubeConfig, version: '9.9.9-test', identity: 'crd-upgrade-2', leaderElect: false, handleSignals: false, logger });
    assert.deepEqual(again.crdPlan.filter((e) => e.action !== 'unchanged'), []);
  });

  test('an operator older than the cluster\'s CRDs refuses to start: exit 3, a message naming the CRD and both revisions, nothing changed', { timeout: 120_000 }, async () => {
    await admin.request(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${NN_CRD}`, {
      verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { metadata: { annotations: { [annotations.crdRevision]: String(NEWER) } } },
    });
    const rvBefore = (await crd()).metadata?.resourceVersion;
    await assert.rejects(
      createOperator({ kubeConfig: cp.kubeConfig, version: '0.0.1-old', identity: 'crd-downgrade', leaderElect: false, handleSignals: false, logger }),
      (e: unknown) => e instanceof CrdDowngradeError && e.message.includes(`nodenetworks.network.weft.dev (cluster revision ${NEWER}, this operator knows ${OURS})`) && /0\.0\.1-old/.test(e.message),
    );
    // The real binary: exit code 3 and the same message in its log.
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator/main.ts'), '--kubeconfig', cp.kubeconfigPath, '--leader-elect=false', '--version', '0.0.1-old'],
        { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr }));
    });
    assert.equal(out.code, 3, `${out.stdout}${out.stderr}`);
    assert.ok((out.stdout + out.stderr).includes(`refusing to run: the cluster has newer Weft CRDs than operator 0.0.1-old knows: nodenetworks.network.weft.dev (cluster revision ${NEWER}, this operator knows ${OURS})`), `${out.stdout}${out.stderr}`);
    assert.equal((await crd()).metadata?.resourceVersion, rvBefore, 'the refusing operator changed the CRD');
  });
});
