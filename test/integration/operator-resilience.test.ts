// The operator when the control plane misbehaves: kube-apiserver restarts mid-watch, watches
// resuming from a compacted resourceVersion (410 Gone → relist), and two replicas with leader
// election where the leader is killed. The watch cache is off so watches go to etcd and a
// compaction really expires their resourceVersion.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Installation } from '../../api/index.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { KubeClient, WRITE_VERBS, createLogger, type KubeObject, type RequestInfo } from '../../kube/index.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { installOperatorBase, installationYaml, waitFor } from '../support/operator-env.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;
const NS = 'weft-system';

type Inst = Installation & KubeObject;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('operator resilience (real kube-apiserver without watch cache)', { skip }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let dir: string;

  const cm = () => admin.request<KubeObject & { data: Record<string, string> }>(`/api/v1/namespaces/${NS}/configmaps/weft-config`, { verb: 'get' });
  async function applyInstallation(spec: unknown): Promise<void> {
    const f = join(dir, `inst-${Date.now()}.yaml`);
    writeFileSync(f, installationYaml(spec));
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '--force-conflicts', '-f', f]);
  }
  const mtuOf = async () => JSON.parse((await cm()).data['config.json']!).mtu as number;

  before(async () => {
    cp = await startControlPlane({ watchCache: false, etcdCompactionInterval: '0' });
    admin = new KubeClient(cp.kubeConfig);
    dir = mkdtempSync(join(tmpdir(), 'weft-op-res-'));
    await installOperatorBase(cp);
  });
  after(async () => {
    admin?.close();
    await cp?.stop();
  });

  describe('one in-process operator', () => {
    let op: Operator;
    let run: Promise<unknown>;
    const requests: RequestInfo[] = [];
    const writes = () => requests.filter((r) => WRITE_VERBS.has(r.verb));

    before(async () => {
      op = await createOperator({
        kubeConfig: cp.kubeConfig,
        version: '0.1.0-test',
        identity: 'resilience',
        leaderElect: false,
        handleSignals: false,
        logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
      });
      op.manager.client.onRequest((r) => requests.push(r));
      run = op.run();
      await applyInstallation({ network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16' }] } });
      await waitFor('ConfigMap rendered', () => cm().catch(() => undefined));
      await waitFor('status written', async () => ((await admin.request<Inst>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' })).status?.configHash ? true : undefined));
    });
    after(async () => {
      op?.stop();
      await run;
    });

    test('kube-apiserver restarts mid-watch: the operator resumes, applies a change made around the restart exactly once, then writes nothing', { timeout: 120_000 }, async () => {
      await new Promise((r) => setTimeout(r, 1000));
      const applies0 = op.installation.stats.applies;
      const restarts0 = Object.values(op.installation.installations.stats.restarts).reduce((a, b) => a + (b ?? 0), 0);
      await applyInstallation({ network: { mtu: 1400, ipPools: [{ name: 'default', cidr: '10.244.0.0/16' }] } });
      await cp.restartApiServer();
      await waitFor('mtu 1400 in the ConfigMap', async () => ((await mtuOf()) === 1400 ? true : undefined), 60_000, 250);
      await waitFor('status observed the change', async () => ((await admin.request<Inst>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' })).status?.mtu === 1400 ? true : undefined), 30_000);
      await new Promise((r) => setTimeout(r, 2000));
      // ConfigMap and DaemonSet (whose template carries the config hash) change; each applied once.
      assert.equal(op.installation.stats.applies - applies0, 2, 'each changed object applied exactly once');
      const restarts = Object.values(op.installation.installations.stats.restarts).reduce((a, b) => a + (b ?? 0), 0);
      assert.ok(restarts > restarts0, 'the Installation watch was restarted');
      const w0 = writes().length;
      op.installation.enqueue();
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(writes().slice(w0), [], 'steady again: no writes');
    });

    test('watches resuming from a compacted resourceVersion get 410 Gone and relist; nothing is missed or repeated', { timeout: 120_000 }, async () => {
      const goneTotal = async () => [...(await op.registry.metrics()).matchAll(/^weft_watch_restarts_total\{resource="[^"]+",reason="(?:gone|expired_list)"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
      const gone0 = await goneTotal();
      const applies0 = op.installation.stats.applies;
      // Writes the operator does not watch move etcd past the resourceVersions its informers hold…
      for (let i = 0; i < 3; i++) {
        await admin.request('/api/v1/namespaces/default/configmaps', { verb: 'create', method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'noise-' } } });
      }
      // …then a change it must not miss, and the API server goes away before or after it saw it.
      await applyInstallation({ network: { mtu: 1300, ipPools: [{ name: 'default', cidr: '10.244.0.0/16' }] } });
      await cp.stopApiServer();
      const compactedAt = await cp.compact();
      await cp.startApiServer();
      await waitFor('mtu 1300 in the ConfigMap', async () => ((await mtuOf()) === 1300 ? true : undefined), 60_000, 250);
      await waitFor('a 410 relist', async () => ((await goneTotal()) > gone0 ? true : undefined), 30_000, 250);
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(op.installation.stats.applies - applies0, 2, 'each changed object applied exactly once');
      process.stdout.write(`# compacted at ${compactedAt}; 410-driven relists: ${(await goneTotal()) - gone0}\n`);
      const w0 = writes().length;
      op.installation.enqueue();
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(writes().slice(w0), [], 'steady again: no writes');
    });
  });

  test('two operator processes: one leads; kill -9 it and the other takes over within 15 s', { timeout: 120_000 }, async () => {
    const procs = new Map<string, ChildProcess>();
    const start = async (id: string) => {
      const port = await freePort();
      const p = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator', 'main.ts'),
        '--kubeconfig', cp.kubeconfigPath, '--identity', id, '--health-port', String(port), '--metrics-port', String(port),
        '--bind-address', '127.0.0.1', '--version', '0.1.0-test', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: repoRoot });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (code) => { if (code && code !== 0 && !p.killed) process.stderr.write(`operator ${id} exited ${code}: ${err}\n`); });
      procs.set(id, p);
      return port;
    };
    const holder = async () => (await admin.request<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/weft-operator`, { verb: 'get' }).catch(() => undefined))?.spec?.holderIdentity;
    try {
      const ports = { a: await start('replica-a'), b: await start('replica-b') };
      const leader = await waitFor('a leader', async () => {
        const h = await holder();
        return h === 'replica-a' || h === 'replica-b' ? h : undefined;
      }, 60_000, 200);
      const standby = leader === 'replica-a' ? 'replica-b' : 'replica-a';
      const standbyPort = standby === 'replica-a' ? ports.a : ports.b;
      await waitFor('standby ready', async () => ((await fetch(`http://127.0.0.1:${standbyPort}/readyz`)).status === 200 ? true : undefined), 30_000);
      const standbyMetrics = await (await fetch(`http://127.0.0.1:${standbyPort}/metrics`)).text();
      assert.doesNotMatch(standbyMetrics, /weft_reconcile_total\{controller="installation"/, 'the standby must not reconcile');
      assert.doesNotMatch(standbyMetrics, /weft_leader\{lease="weft-system\/weft-operator"\} 1/);

      const killedAt = Date.now();
      procs.get(leader)!.kill('SIGKILL');
      await waitFor('takeover', async () => ((await holder()) === standby ? true : undefined), 20_000, 100);
      const takeoverMs = Date.now() - killedAt;
      assert.ok(takeoverMs < 15_000, `takeover took ${takeoverMs} ms`);
      // The new leader does the work: a deleted owned object comes back.
      await admin.request(`/api/v1/namespaces/${NS}/configmaps/weft-config`, { verb: 'delete', method: 'DELETE' }).catch(() => undefined);
      await waitFor('ConfigMap restored by the new leader', () => cm().catch(() => undefined), 30_000);
      process.stdout.write(`# leader ${leader} killed; ${standby} took over after ${takeoverMs} ms\n`);
    } finally {
      for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    }
  });

  test('CRDs at start: an older revision in the cluster is upgraded; a newer one makes the operator refuse to run (exit 3)', { timeout: 60_000 }, async () => {
    const crd = 'ipamblocks.network.weft.dev';
    const setRevision = (rev: string) => cp.kubectl(['annotate', '--overwrite', 'crd', crd, `weft.dev/crd-revision=${rev}`]);
    const revision = async () => JSON.parse((await cp.kubectl(['get', 'crd', crd, '-o', 'json'])).stdout).metadata.annotations['weft.dev/crd-revision'] as string;
    const ours = await revision();

    await setRevision('0');
    const up = await createOperator({ kubeConfig: cp.kubeConfig, version: '0.1.0-test', identity: 'crd-upgrade', leaderElect: false, handleSignals: false });
    assert.deepEqual(up.crdPlan.find((p) => p.name === crd), { name: crd, action: 'upgrade', ours: Number(ours), cluster: 0 });
    assert.equal(await revision(), ours, 'the operator applied its CRD');
    up.manager.client.close();

    await setRevision('99');
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator', 'main.ts'), '--kubeconfig', cp.kubeconfigPath, '--leader-elect=false',
      '--health-port', '0', '--metrics-port', '0', '--version', '0.1.0-test'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 3, out);
    assert.match(out, /refusing to run: the cluster has newer Weft CRDs than operator 0\.1\.0-test knows: ipamblocks\.network\.weft\.dev \(cluster revision 99, this operator knows 1\)/);
    assert.equal(await revision(), '99', 'a refusing operator changes nothing');
    await setRevision(ours);
  });
});
