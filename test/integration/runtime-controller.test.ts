// Controllers, the manager and leader election against a real kube-apiserver.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import {
  Manager,
  KubeClient,
  generationChanged,
  labelKey,
  makeCountedApiClient,
  WRITE_VERBS,
  createLogger,
  type KubeObject,
  type RequestInfo,
} from '../../kube/index.ts';

const env = await testenvAvailable();
// Warnings and errors go to stderr, so a failure here shows what the runtime saw.
const logger = createLogger({ level: process.env.WEFT_LOG_LEVEL ?? 'warn', destination: pino.destination(2) });
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

describe('runtime controllers and leader election (real kube-apiserver)', { skip }, () => {
  let cp: ControlPlane;
  let api: KubeClient;
  const ns = `rt-ctrl-${process.pid}`;
  const cmPath = `/api/v1/namespaces/${ns}/configmaps`;
  const cm = (name: string, labels?: Record<string, string>) =>
    api.request<KubeObject>(cmPath, { verb: 'create', method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { v: '0' } } });

  before(async () => {
    cp = await startControlPlane();
    api = new KubeClient(cp.kubeConfig);
    await api.request('/api/v1/namespaces', { verb: 'create', method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  });
  after(async () => {
    api?.close();
    await cp?.stop();
  });

  test('a controller reconciles keys, maps owned objects to their owner, retries errors with backoff, honours requeueAfter; steady state makes zero writes', async () => {
    const registry = new Registry();
    const mgr = new Manager({ kubeConfig: cp.kubeConfig, userAgent: 'weft-runtime-test', metricPrefix: 'weft_', logger, registry, handleSignals: false, healthPort: 0, healthHost: '127.0.0.1' });
    const requests: RequestInfo[] = [];
    mgr.client.onRequest((r) => requests.push(r));
    const configmaps = mgr.informer({ version: 'v1', plural: 'configmaps', namespace: ns });
    const calls: string[] = [];
    let failuresLeft = 2;
    const c = mgr.controller({ name: 'cm', workers: 2, rateLimiter: { perKey: { initialMs: 50, maxMs: 1000 } } });
    c.watches(configmaps, { map: (o) => (o.metadata?.labels?.['owner'] ? undefined : `${o.metadata!.namespace}/${o.metadata!.name}`) });
    c.watches(configmaps, labelKey('owner')); // children map to their owner's key (cluster-scoped name here)
    c.reconcile(async (key, ctx) => {
      calls.push(key);
      if (key === 'flaky' && failuresLeft-- > 0) throw new Error('transient');
      if (key === 'periodic') return { requeueAfter: 200 };
      // Level-triggered and idempotent: annotate once, then read-only.
      if (ctx.namespace === ns) {
        const obj = configmaps.store.getByName(ctx.namespace, ctx.name);
        if (obj && !obj.metadata?.annotations?.['weft.dev/seen']) {
          await mgr.client.request(`${cmPath}/${ctx.name}`, {
            verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'weft.dev/seen': 'yes' } } }, signal: ctx.signal,
          });
        }
      }
      return {};
    });
    const run = mgr.run();
    await waitFor('health server', () => mgr.healthPort !== undefined);
    await waitFor('ready', async () => (await get(mgr.healthPort!, '/readyz')).status === 200);
    assert.equal((await get(mgr.healthPort!, '/healthz')).status, 200);

    await cm('plain');
    await waitFor('annotation written', () => configmaps.store.getByName(ns, 'plain')?.metadata?.annotations?.['weft.dev/seen'] === 'yes');
    await cm('child', { owner: 'flaky' });
    await waitFor('flaky retried to success', () => calls.filter((k) => k === 'flaky').length >= 3);
    c.enqueue('periodic');
    await waitFor('periodic requeued', () => calls.filter((k) => k === 'periodic').length >= 3, 5_000);

    // Steady state: reconciling again writes nothing.
    await new Promise((r) => setTimeout(r, 300));
    const writesBefore = requests.filter((r) => WRITE_VERBS.has(r.verb)).length;
    assert.equal(writesBefore, 1, `expected exactly the one annotation patch, got ${JSON.stringify(requests.filter((r) => WRITE_VERBS.has(r.verb)))}`);
    const n = calls.filter((k) => k === `${ns}/plain`).length;
    c.enqueue(`${ns}/plain`);
    await waitFor('re-reconcile', () => calls.filter((k) => k === `${ns}/plain`).length > n);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(requests.filter((r) => WRITE_VERBS.has(r.verb)).length, writesBefore, 'a steady-state reconcile must not write');

    const metrics = (await get(mgr.healthPort!, '/metrics')).body;
    assert.match(metrics, /weft_reconcile_total\{controller="cm",result="error"\} 2/);
    assert.match(metrics, /weft_reconcile_errors_total\{controller="cm"\} 2/);
    assert.match(metrics, /weft_reconcile_total\{controller="cm",result="requeue_after"\} [3-9]/);
    assert.match(metrics, /weft_reconcile_duration_seconds_count\{controller="cm"\} \d+/);
    assert.match(metrics, /weft_workqueue_depth\{controller="cm"\} \d/);
    assert.match(metrics, /weft_api_requests_total\{verb="patch"\} 1/);
    assert.match(metrics, /weft_api_requests_total\{verb="list"\} 1/);
    assert.match(metrics, /weft_api_requests_total\{verb="watch"\} \d/);

    mgr.stop();
    assert.equal(await run, 'stopped');
    // No leaked sockets after stop.
    assert.equal(mgr.client.openSockets, 0);
  });

  test('generationChanged ignores status-only updates (Deployment status vs spec)', async () => {
    const mgr = new Manager({ kubeConfig: cp.kubeConfig, userAgent: 'weft-runtime-test', metricPrefix: 'weft_', logger, handleSignals: false });
    const deployments = mgr.informer({ group: 'apps', version: 'v1', plural: 'deployments', namespace: ns });
    const calls: string[] = [];
    mgr.controller({ name: 'deploy' }).watches(deployments, { predicates: [generationChanged] }).reconcile(async (key) => {
      calls.push(key);
    });
    const run = mgr.run();
    const path = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const d = await api.request<KubeObject>(path, {
      verb: 'create', method: 'POST',
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'example.invalid/c' }] } } } },
    });
    await waitFor('add reconciled', () => calls.length === 1);
    const seen = () => deployments.store.getByName(ns, 'web')?.metadata?.resourceVersion;
    // Status-only update: resourceVersion moves, generation does not.
    const st = await api.request<KubeObject>(`${path}/web/status`, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { status: { observedGeneration: 1, replicas: 0 } } });
    assert.equal(st.metadata?.generation, d.metadata?.generation);
    await waitFor('status update observed by the informer', () => seen() === st.metadata?.resourceVersion);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(calls.length, 1, 'status-only update must not trigger a reconcile');
    await api.request(`${path}/web`, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { spec: { replicas: 2 } } });
    await waitFor('spec update reconciled', () => calls.length === 2);
    mgr.stop();
    await run;
  });

  test('counted client-node API clients report their verbs', async () => {
    const registry = new Registry();
    const mgr = new Manager({ kubeConfig: cp.kubeConfig, userAgent: 'weft-runtime-test', metricPrefix: 'weft_', logger, registry, handleSignals: false });
    const seen: RequestInfo[] = [];
    const core = makeCountedApiClient(cp.kubeConfig, CoreV1Api, { metrics: mgr.metrics, onRequest: (r) => seen.push(r) });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'counted' } } });
    await core.readNamespacedConfigMap({ namespace: ns, name: 'counted' });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'counted' });
    assert.deepEqual(seen.map((r) => r.verb), ['create', 'get', 'delete']);
    assert.match(await registry.metrics(), /weft_api_requests_total\{verb="create"\} 1/);
  });

  describe('leader election on one Lease', () => {
    const lease = { namespace: ns, name: 'weft-operator', leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };
    const candidates: Manager[] = [];
    after(async () => {
      for (const m of candidates) m.stop(); // a failed assertion must not leave candidates running
    });
    function candidate(identity: string, extra: { releaseOnCancel?: boolean } = {}) {
      const mgr = new Manager({ kubeConfig: cp.kubeConfig, userAgent: 'weft-runtime-test', metricPrefix: 'weft_', logger, handleSignals: false, healthPort: 0, healthHost: '127.0.0.1', leaderElection: { ...lease, identity, ...extra } });
      candidates.push(mgr);
      const inf = mgr.informer({ version: 'v1', plural: 'configmaps', namespace: ns });
      const reconciled: string[] = [];
      let active = false;
      mgr.controller({ name: 'le' }).watches(inf).reconcile(async (key, ctx) => {
        reconciled.push(key);
        active = !ctx.signal.aborted;
      });
      const run = mgr.run();
      return { identity, mgr, reconciled, run, get active() { return active; } };
    }
    const leaseHolder = async () =>
      (await api.request<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/weft-operator`, { verb: 'get' })).spec?.holderIdentity;

    test('exactly one of two candidates leads; a graceful stop hands over within 15 s; a crashed leader is replaced after the lease expires; a lost lease stops the controllers', async () => {
      await cm('le-object');
      const a = candidate('cand-a');
      const b = candidate('cand-b');
      await waitFor('a leader', () => a.mgr.isLeader() || b.mgr.isLeader(), 15_000);
      await new Promise((r) => setTimeout(r, 2_500)); // several retry periods: nobody else may win meanwhile
      const [leader, standby] = a.mgr.isLeader() ? [a, b] : [b, a];
      assert.equal(standby.mgr.isLeader(), false, 'both candidates lead');
      assert.equal(await leaseHolder(), leader.identity);
      await waitFor('leader reconciled', () => leader.reconciled.length > 0);
      assert.equal(standby.reconciled.length, 0, 'a standby must not reconcile');
      // The standby is ready too: it has synced and knows the leader.
      assert.equal((await get(standby.mgr.healthPort!, '/readyz')).status, 200);

      // Graceful stop: the lease is released and the standby takes over at once.
      const t0 = Date.now();
      leader.mgr.stop();
      assert.equal(await leader.run, 'stopped');
      await waitFor('standby takes over', () => standby.mgr.isLeader(), 15_000);
      const handover = Date.now() - t0;
      process.stdout.write(`# leader handover after graceful stop: ${handover} ms\n`);
      assert.ok(handover < 15_000);
      await waitFor('new leader reconciles', () => standby.reconciled.length > 0);

      // Crash-like stop (no release): a third candidate must wait for the lease to expire.
      const c = candidate('cand-c');
      await waitFor('cand-c reads the lease', () => c.mgr.elector!.hasObserved(), 10_000);
      const t1 = Date.now();
      standby.mgr.elector!['opts'].releaseOnCancel = false; // simulate a process that dies without releasing
      standby.mgr.stop();
      await standby.run;
      await waitFor('cand-c takes over after expiry', () => c.mgr.isLeader(), 15_000);
      const expiry = Date.now() - t1;
      process.stdout.write(`# leader takeover after a crash (lease 6 s): ${expiry} ms\n`);
      assert.ok(expiry >= 3_000, `took over after ${expiry} ms, before the lease could expire`);
      assert.ok(expiry < 15_000);

      // Someone else grabs the lease: cand-c cannot renew, loses leadership, stops its controllers.
      const path = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/weft-operator`;
      const steal = setInterval(() => {
        void api.request<KubeObject & { spec: Record<string, unknown> }>(path, { verb: 'get' }).then((l) =>
          api.request(path, { verb: 'update', method: 'PUT', body: { ...l, spec: { ...l.spec, holderIdentity: 'intruder', renewTime: new Date().toISOString().replace(/Z$/, '000Z') } } }),
        ).catch(() => undefined);
      }, 300);
      try {
        assert.equal(await c.run, 'leader-lost');
      } finally {
        clearInterval(steal);
      }
      assert.equal(c.mgr.isLeader(), false);
    });
  });
});
