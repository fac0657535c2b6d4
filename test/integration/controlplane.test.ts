// The test control plane itself: it serves, it runs a DaemonSet over kwok nodes end to end
// (controller-manager + scheduler + kwok), and its fault-injection hooks do what they claim.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import { createFakeNodes, waitFakeNodesReady, KWOK_LABEL } from '../support/kwok.ts';

const env = await testenvAvailable();

const NODES = 100;

function rssMiB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

describe('test control plane', { skip: env.ok ? false : env.reason }, () => {
  let cp: ControlPlane;

  before(async () => {
    const t0 = performance.now();
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true });
    console.log(`# control plane (etcd, apiserver, controller-manager, scheduler, kwok) ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  });
  after(async () => {
    await cp?.stop();
  });

  test('kube-apiserver reports /readyz ok and serves with the admin kubeconfig', async (t) => {
    const readyz = await cp.kubectl(['get', '--raw', '/readyz']);
    assert.equal(readyz.stdout.trim(), 'ok');
    const version = JSON.parse((await cp.kubectl(['version', '-o', 'json'])).stdout);
    assert.match(version.serverVersion.gitVersion, /^v1\.\d+\.\d+/);
    const ns = await cp.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: 'kube-system' });
    assert.equal(ns.metadata?.name, 'kube-system');
    const pids = cp.pids();
    t.diagnostic(`RSS MiB: etcd ${rssMiB(pids.etcd!)}, kube-apiserver ${rssMiB(pids['kube-apiserver']!)}`);
  });

  test(`a DaemonSet tolerating all taints becomes Ready on ${NODES} kwok nodes`, { timeout: 240_000 }, async (t) => {
    const t0 = performance.now();
    const names = await createFakeNodes(cp.kubeConfig, NODES, { prefix: 'ds-node-' });
    await waitFakeNodesReady(cp.kubeConfig, NODES);
    t.diagnostic(`${NODES} kwok nodes Ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

    await cp.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'probe', namespace: 'default' },
        spec: {
          selector: { matchLabels: { app: 'probe' } },
          template: {
            metadata: { labels: { app: 'probe' } },
            spec: {
              tolerations: [{ operator: 'Exists' }],
              containers: [{ name: 'probe', image: 'registry.k8s.io/pause:3.10' }],
            },
          },
        },
      }),
    });

    const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    const deadline = Date.now() + 180_000;
    let status = (await apps.readNamespacedDaemonSet({ name: 'probe', namespace: 'default' })).status;
    while (!(status?.desiredNumberScheduled === NODES && status.numberReady === NODES)) {
      assert.ok(Date.now() < deadline, `DaemonSet not Ready on all nodes: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 500));
      status = (await apps.readNamespacedDaemonSet({ name: 'probe', namespace: 'default' })).status;
    }
    t.diagnostic(`DaemonSet Ready on ${NODES} nodes ${((performance.now() - t0) / 1000).toFixed(1)}s after the first node was created`);

    const pods = await cp.kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default', labelSelector: 'app=probe' });
    assert.equal(pods.items.length, NODES);
    assert.deepEqual(new Set(pods.items.map((p) => p.spec?.nodeName)), new Set(names), 'one pod on every kwok node');
    for (const pod of pods.items) {
      assert.equal(pod.status?.phase, 'Running', `${pod.metadata?.name} on ${pod.spec?.nodeName}`);
      assert.ok(pod.status?.podIP, `${pod.metadata?.name} has no podIP`);
    }
    const kwokNodes = await cp.kubeConfig.makeApiClient(CoreV1Api).listNode({ labelSelector: `${KWOK_LABEL}=fake` });
    assert.equal(kwokNodes.items.length, NODES);
  });

  test('after compaction and an apiserver restart, a watch from an old resourceVersion gets 410 Gone', { timeout: 120_000 }, async () => {
    const created = JSON.parse((await cp.kubectl(['create', 'configmap', 'rv-probe', '-o', 'json'])).stdout);
    const oldRV: string = created.metadata.resourceVersion;
    for (let i = 0; i < 5; i++) {
      await cp.kubectl(['patch', 'configmap', 'rv-probe', '--type=merge', '-p', JSON.stringify({ data: { i: String(i) } })]);
    }
    const compactedAt = await cp.compact();
    assert.ok(compactedAt > Number(oldRV), `compacted at ${compactedAt}, after ${oldRV}`);

    await cp.restartApiServer();
    const watch = await cp.kubectl([
      'get', '--raw', `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${oldRV}&timeoutSeconds=5`,
    ], { allowFailure: true });
    const events = watch.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const gone = events.find((e) => e.type === 'ERROR' && e.object?.code === 410);
    assert.ok(gone, `expected a 410 ERROR event, got stdout ${watch.stdout} stderr ${watch.stderr}`);

    // The restarted apiserver serves the data written before the restart.
    const cm = JSON.parse((await cp.kubectl(['get', 'configmap', 'rv-probe', '-o', 'json'])).stdout);
    assert.equal(cm.data.i, '4');
  });
});
