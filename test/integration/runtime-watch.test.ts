// The watch layer against a real kube-apiserver: informer CRUD, resume across an API server
// restart without missed or duplicate events, relist on 410 after etcd compaction, stale-watch
// detection, resync, and a soak proving reconnects do not leak file descriptors.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import { Informer, KubeClient, createRuntimeMetrics, type InformerEvent, type KubeObject } from '../../kube/index.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;

/** A TCP proxy in front of kube-apiserver, to cut, refuse or freeze connections on demand. */
class FaultProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private blocked = false;
  private frozen = false;
  port = 0;
  accepted = 0;
  constructor(private readonly host: string, private readonly targetPort: number) {}
  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      this.accepted++;
      if (this.blocked) return void client.destroy();
      const upstream = net.connect(this.targetPort, this.host);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.on('data', (d) => (this.frozen ? undefined : upstream.write(d)));
      upstream.on('data', (d) => (this.frozen ? undefined : client.write(d)));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }
  /** Cut every open connection (what an API server crash or a load balancer reset looks like). */
  dropAll(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }
  /** Cut everything and refuse new connections until unblock(). */
  block(): void {
    this.blocked = true;
    this.dropAll();
  }
  unblock(): void {
    this.blocked = false;
  }
  /** Keep connections open but pass no bytes: a half-dead network path. */
  freeze(v: boolean): void {
    this.frozen = v;
  }
  get open(): number {
    return this.pairs.size;
  }
  async close(): Promise<void> {
    this.dropAll();
    await new Promise((r) => this.server?.close(r));
  }
}

function kubeConfigVia(kc: KubeConfig, server: string): KubeConfig {
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser()!;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ ...cluster, server }],
    users: [user],
    contexts: [{ name: 'via', cluster: cluster.name, user: user.name }],
    currentContext: 'via',
  });
  return out;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const fdCount = () => readdirSync('/proc/self/fd').length;

/** Records informer events as "type name" strings. */
function recorder(inf: Informer) {
  const events: string[] = [];
  inf.subscribe((ev: InformerEvent) => events.push(`${ev.type} ${ev.obj.metadata?.name}`));
  return events;
}

describe('runtime watch layer (real kube-apiserver)', { skip }, () => {
  let cp: ControlPlane;
  let api: KubeClient;
  let proxy: FaultProxy;
  let kcProxy: KubeConfig;
  const ns = `rt-watch-${process.pid}`;
  const cmPath = `/api/v1/namespaces/${ns}/configmaps`;

  const createCM = (name: string, data: Record<string, string> = { v: '0' }) =>
    api.request<KubeObject>(cmPath, { verb: 'create', method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data } });
  const patchCM = (name: string, data: Record<string, string>) =>
    api.request<KubeObject>(`${cmPath}/${name}`, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { data } });
  const deleteCM = (name: string) => api.request(`${cmPath}/${name}`, { verb: 'delete', method: 'DELETE' });
  const listNames = async () =>
    (await api.request<{ items: KubeObject[] }>(cmPath, { verb: 'list' })).items.map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort();

  // Every informer run of a test stops in after() too: a test that fails between start and its own
  // abort() must not leave a watch retrying, which keeps this file's process from exiting.
  const controllers: AbortController[] = [];
  const abortable = () => {
    const ac = new AbortController();
    controllers.push(ac);
    return ac;
  };

  function newInformer(opts: Partial<ConstructorParameters<typeof Informer>[0]> = {}, kc = kcProxy) {
    return new Informer({
      client: new KubeClient(kc),
      resource: { version: 'v1', plural: 'configmaps', namespace: ns },
      backoff: { initialMs: 20, maxMs: 500, jitter: 0.5 },
      ...opts,
    });
  }
  const cacheState = (inf: Informer) => inf.store.list().map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort();

  before(async () => {
    cp = await startControlPlane();
    api = new KubeClient(cp.kubeConfig);
    await api.request('/api/v1/namespaces', { verb: 'create', method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    const u = new URL(cp.server);
    proxy = new FaultProxy(u.hostname, Number(u.port));
    await proxy.start();
    kcProxy = kubeConfigVia(cp.kubeConfig, `https://127.0.0.1:${proxy.port}`);
  });
  after(async () => {
    for (const ac of controllers) ac.abort();
    api?.close();
    await proxy?.close();
    await cp?.stop();
  });

  test('sees creates, updates and deletes of ConfigMaps, with complete objects', async () => {
    await createCM('pre-existing');
    const inf = newInformer();
    const events = recorder(inf);
    const ac = abortable();
    const run = inf.start(ac.signal);
    assert.equal(await inf.waitForSync(), true);
    assert.deepEqual(events, ['add pre-existing']);
    assert.equal(inf.store.getByName(ns, 'pre-existing')?.kind, 'ConfigMap', 'listed items get their kind back');

    await createCM('crud');
    await waitFor('add', () => events.includes('add crud'));
    await patchCM('crud', { v: '1' });
    await waitFor('update', () => events.includes('update crud'));
    assert.equal((inf.store.getByName(ns, 'crud') as { data?: { v?: string } }).data?.v, '1');
    await deleteCM('crud');
    await waitFor('delete', () => events.includes('delete crud'));
    assert.equal(inf.store.getByName(ns, 'crud'), undefined);
    assert.deepEqual(events, ['add pre-existing', 'add crud', 'update crud', 'delete crud']);
    ac.abort();
    await run;
    await deleteCM('pre-existing');
  });

  test('kube-apiserver restart mid-watch: resumes with no missed and no duplicate events', async () => {
    const inf = newInformer();
    const events = recorder(inf);
    const ac = abortable();
    const run = inf.start(ac.signal);
    await inf.waitForSync();
    // Writes right before the restart may or may not reach the old watch; either way each must be seen once.
    for (let i = 1; i <= 5; i++) await createCM(`a${i}`);
    await cp.restartApiServer();
    for (let i = 1; i <= 5; i++) await createCM(`b${i}`);
    await patchCM('a1', { v: '1' });
    await deleteCM('a2');
    const want = await listNames();
    await waitFor('cache to match the API server after restart', () => JSON.stringify(cacheState(inf)) === JSON.stringify(want), 30_000);
    await new Promise((r) => setTimeout(r, 500)); // late duplicates would arrive here
    const expected = [
      ...[1, 2, 3, 4, 5].map((i) => `add a${i}`),
      ...[1, 2, 3, 4, 5].map((i) => `add b${i}`),
      'update a1',
      'delete a2',
    ].sort();
    assert.deepEqual([...events].sort(), expected);
    assert.ok(inf.stats.watches >= 2, 'the watch must have been re-established');
    ac.abort();
    await run;
    for (const n of ['a1', 'a3', 'a4', 'a5', 'b1', 'b2', 'b3', 'b4', 'b5']) await deleteCM(n);
  });

  test('410 Gone after etcd compaction: relists and delivers exactly the changes it missed', async () => {
    const registry = new Registry();
    const metrics = createRuntimeMetrics(registry, 'weft_');
    for (const n of ['keep', 'change', 'remove']) await createCM(n);
    const inf = newInformer({ metrics });
    const ac = abortable();
    const run = inf.start(ac.signal);
    await inf.waitForSync();
    const events = recorder(inf);
    events.length = 0; // only what happens from here on
    const staleRv = inf.resourceVersion!;

    // Cut the informer off, change things, compact etcd past its resourceVersion and restart
    // kube-apiserver so its watch cache cannot serve the old resourceVersion either.
    proxy.block();
    try {
      await patchCM('change', { v: '2' });
      await deleteCM('remove');
      await createCM('new');
      const rev = await cp.compact();
      assert.ok(rev > Number(staleRv), `compacted at ${rev}, informer at ${staleRv}`);
      await cp.restartApiServer();
    } finally {
      proxy.unblock();
    }

    // The API server itself answers a watch from the old resourceVersion with 410 Gone.
    const raw: string[] = [];
    const rawAc = abortable();
    await api.watch(cmPath, { signal: rawAc.signal, query: { resourceVersion: staleRv }, onEvent: (ev) => {
      raw.push(`${ev.type} ${(ev.object as { code?: number }).code ?? ''}`);
      rawAc.abort();
    } }).catch((e: { status?: number }) => raw.push(`HTTP ${e.status}`));
    assert.ok(raw[0] === 'ERROR 410' || raw[0] === 'HTTP 410', `expected 410 for a compacted resourceVersion, got ${raw[0]}`);

    const want = await listNames();
    await waitFor('relist', () => JSON.stringify(cacheState(inf)) === JSON.stringify(want), 30_000);
    assert.deepEqual([...events].sort(), ['add new', 'delete remove', 'update change']);
    assert.ok((inf.stats.restarts.gone ?? 0) >= 1, `restarts: ${JSON.stringify(inf.stats.restarts)}`);
    assert.ok(inf.stats.lists >= 2);
    const text = await registry.metrics();
    assert.match(text, /weft_watch_restarts_total\{resource="configmaps",reason="gone"\} [1-9]/);
    ac.abort();
    await run;
    for (const n of ['keep', 'change', 'new']) await deleteCM(n);
  });

  test('a watch that goes silent (no event, no bookmark) is restarted after the stale deadline', async () => {
    const inf = newInformer({ staleAfterMs: 1_500 });
    const events = recorder(inf);
    const ac = abortable();
    const run = inf.start(ac.signal);
    await inf.waitForSync();
    proxy.freeze(true); // connection stays up, nothing flows: only the deadline can notice
    try {
      await createCM('during-freeze');
      await new Promise((r) => setTimeout(r, 2_000));
      assert.ok((inf.stats.restarts.stale ?? 0) >= 1, `restarts: ${JSON.stringify(inf.stats.restarts)}`);
    } finally {
      proxy.freeze(false);
    }
    proxy.dropAll(); // connections opened while frozen never saw their TLS handshake complete
    await waitFor('event from before the freeze ended', () => events.includes('add during-freeze'), 20_000);
    ac.abort();
    await run;
    await deleteCM('during-freeze');
  });

  test('resync re-delivers cached objects periodically', async () => {
    await createCM('resync-me');
    const inf = newInformer({ resyncMs: 300 });
    const events = recorder(inf);
    const ac = abortable();
    const run = inf.start(ac.signal);
    await inf.waitForSync();
    await waitFor('two resyncs', () => events.filter((e) => e === 'resync resync-me').length >= 2, 5_000);
    ac.abort();
    await run;
    await deleteCM('resync-me');
  });

  test('soak: 200+ watch reconnects (server-side cuts and client-side aborts) keep open fds flat', async () => {
    await createCM('soak');
    // Server-side: the proxy cuts the connection under a healthy watch.
    const inf = newInformer({ backoff: { initialMs: 1, maxMs: 5, jitter: 0.5 } });
    const ac = abortable();
    const run = inf.start(ac.signal);
    await inf.waitForSync();
    await waitFor('first watch', () => proxy.open >= 1);
    // Warm up TLS session caches and lazily-opened descriptors before the baseline.
    for (let i = 0; i < 5; i++) {
      const w = inf.stats.watches;
      proxy.dropAll();
      await waitFor('reconnect', () => inf.stats.watches > w && proxy.open >= 1);
    }
    await new Promise((r) => setTimeout(r, 200));
    const before = fdCount();
    const cuts = 150;
    for (let i = 0; i < cuts; i++) {
      const w = inf.stats.watches;
      proxy.dropAll();
      await waitFor('reconnect', () => inf.stats.watches > w && proxy.open >= 1);
    }
    const watchesCut = inf.stats.watches;
    ac.abort();
    await run;

    // Client-side: a tiny stale deadline aborts every watch ourselves (the path that leaks in client-node 1.x).
    const inf2 = newInformer({ staleAfterMs: 40, backoff: { initialMs: 1, maxMs: 5, jitter: 0.5 } });
    const ac2 = abortable();
    const run2 = inf2.start(ac2.signal);
    await waitFor('100 stale restarts', () => (inf2.stats.restarts.stale ?? 0) >= 100, 60_000);
    ac2.abort();
    await run2;
    await waitFor('proxy connections to close', () => proxy.open === 0, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    const afterCount = fdCount();
    const reconnects = watchesCut + (inf2.stats.restarts.stale ?? 0);
    process.stdout.write(`# fd soak: ${reconnects} reconnects (${cuts} server-side cuts, ${inf2.stats.restarts.stale} client-side aborts); open fds before ${before}, after ${afterCount}\n`);
    assert.ok(reconnects >= 200);
    assert.ok(afterCount - before <= 3, `fds grew from ${before} to ${afterCount} over ${reconnects} reconnects`);
    await deleteCM('soak');
  });
});
