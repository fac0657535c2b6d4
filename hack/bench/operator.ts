/**
 * `npm run bench:operator`: the operator against a cluster of N nodes (default 5000), each with a
 * NodeNetwork reporting an address and MTU. Measures:
 *  - operator RSS (the operator runs as its own process: VmRSS / VmHWM),
 *  - time from an Installation change to the ConfigMap and DaemonSet carrying it,
 *  - API requests per minute in steady state, by verb (goal: zero writes), over a window that
 *    includes informer resyncs.
 *
 *   npm run bench:operator -- [--nodes 5000] [--steady-seconds 60] [--kwok]
 *
 * Without --kwok the Nodes are plain API objects (no kwok, controller-manager or scheduler): at
 * 5000 nodes kwok's heartbeats and 5000 DaemonSet pods cost this 2-core machine more than the
 * operator does, which would measure kwok, not the operator. --kwok runs the full stack.
 * Last line: `nodes=<n> rss_mb=<MiB> peak_rss_mb=<MiB> change_ms=<ms> steady_requests_per_min=<n> steady_writes_per_min=<n>`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Command } from 'commander';
import { KubeClient, mapLimit, type KubeObject } from '../../kube/index.ts';
import { startControlPlane } from '../../kube/envtest.ts';
import { ensureTestenv, repoRoot } from '../testenv/assets.ts';
import { createFakeNodes } from '../../test/support/kwok.ts';
import { installOperatorBase, waitFor } from '../../test/support/operator-env.ts';

const opts = new Command('bench:operator')
  .option('--nodes <n>', 'number of nodes', (v) => Number(v), 5000)
  .option('--steady-seconds <s>', 'length of the steady-state window', (v) => Number(v), 60)
  .option('--resync <s>', 'operator informer resync period during the run', (v) => Number(v), 20)
  .option('--kwok', 'run kwok, controller-manager and scheduler too (DaemonSet pods on fake nodes)', false)
  .parse(process.argv)
  .opts<{ nodes: number; steadySeconds: number; resync: number; kwok: boolean }>();

const log = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function rssMiB(pid: number): { rss: number; hwm: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(st.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

function requestCounts(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^weft_api_requests_total\{verb="([a-z]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function main(): Promise<void> {
  const n = opts.nodes;
  log(`# bench:operator: ${n} nodes${opts.kwok ? ' (kwok, controller-manager, scheduler)' : ' (plain Node objects, no kwok)'}`);
  const cp = await startControlPlane({ binDir: await ensureTestenv(), controllerManager: opts.kwok, scheduler: opts.kwok, kwok: opts.kwok, startTimeoutMs: 120_000 });
  const admin = new KubeClient(cp.kubeConfig, { requestTimeoutMs: 120_000 });
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await installOperatorBase(cp);
    let t = Date.now();
    const names = await createFakeNodes(cp.kubeConfig, n, { concurrency: 64 });
    log(`# created ${n} nodes in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    const nodes = (await admin.request<{ items: KubeObject[] }>('/api/v1/nodes', { verb: 'list' })).items;
    const uid = new Map(nodes.map((x) => [x.metadata!.name!, x.metadata!.uid!]));
    await mapLimit(names, 64, async (name) => {
      const i = names.indexOf(name);
      await admin.request('/apis/network.weft.dev/v1/nodenetworks', {
        verb: 'create', method: 'POST',
        body: { apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: uid.get(name)! }] }, spec: { nodeName: name } },
      });
      await admin.request(`/apis/network.weft.dev/v1/nodenetworks/${name}/status`, {
        verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json',
        body: { status: { address: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}/15`, mtu: 1500, conditions: [{ type: 'Ready', status: 'True', reason: 'Simulated', message: 'bench' }] } },
      });
    });
    log(`# created ${n} NodeNetworks with status in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator', 'main.ts'), '--kubeconfig', cp.kubeconfigPath, '--leader-elect=false',
      '--health-port', String(port), '--metrics-port', String(port), '--bind-address', '127.0.0.1', '--resync', String(opts.resync),
      '--version', '0.1.0-bench', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: repoRoot });
    const pid = child.pid!;
    const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await waitFor('operator ready', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined), 300_000, 200);
    log(`# operator synced its caches; RSS ${rssMiB(pid).rss.toFixed(0)} MiB`);

    // Server-side apply straight from here (as a GitOps controller would), so the time measured
    // is the API server's and the operator's, not kubectl's start-up.
    const apply = async (spec: unknown) => {
      await admin.request('/apis/operator.weft.dev/v1/installations/default', {
        verb: 'patch', method: 'PATCH', contentType: 'application/apply-patch+yaml', query: { fieldManager: 'bench', force: true },
        body: { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default' }, spec },
      });
    };
    const cmMtu = async () => {
      const cm = await admin.request<{ data: Record<string, string> }>('/api/v1/namespaces/weft-system/configmaps/weft-config', { verb: 'get' }).catch(() => undefined);
      return cm ? (JSON.parse(cm.data['config.json']!) as { mtu: number }).mtu : undefined;
    };
    const dsHash = async () => (await admin.request<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>('/apis/apps/v1/namespaces/weft-system/daemonsets/weft-node', { verb: 'get' }).catch(() => undefined))?.spec.template.metadata.annotations['weft.dev/spec-hash'];
    const spec = (mtu: number) => ({ network: { mtu, ipPools: [{ name: 'default', cidr: '10.0.0.0/8', blockSize: 26 }] } });

    t = Date.now();
    await apply(spec(0));
    await waitFor('first render applied', async () => ((await cmMtu()) !== undefined && (await dsHash()) ? true : undefined), 300_000, 50);
    const initialMs = Date.now() - t;
    log(`# initial install applied in ${initialMs} ms (mtu ${await cmMtu()})`);
    await sleep(5_000);

    const hash0 = await dsHash();
    t = Date.now();
    await apply(spec(1400));
    await waitFor('change applied', async () => ((await cmMtu()) === 1400 && (await dsHash()) !== hash0 ? true : undefined), 300_000, 20);
    const changeMs = Date.now() - t;
    log(`# Installation change (mtu 0 -> 1400) reached ConfigMap and DaemonSet in ${changeMs} ms (from the Installation apply request)`);
    await sleep(5_000);

    const c0 = requestCounts(await metrics());
    const w0 = Date.now();
    await sleep(opts.steadySeconds * 1000);
    const c1 = requestCounts(await metrics());
    const minutes = (Date.now() - w0) / 60_000;
    const delta: Record<string, number> = {};
    for (const k of new Set([...Object.keys(c0), ...Object.keys(c1)])) delta[k] = ((c1[k] ?? 0) - (c0[k] ?? 0)) / minutes;
    const total = Object.values(delta).reduce((a, b) => a + b, 0);
    const writes = ['create', 'update', 'patch', 'delete', 'deletecollection'].reduce((a, k) => a + (delta[k] ?? 0), 0);
    const mem = rssMiB(pid);
    const text = await metrics();
    const hist = (k: string) => Number(text.match(new RegExp(`^weft_reconcile_duration_seconds_${k}\\{controller="installation"\\} ([0-9.e+-]+)`, 'm'))?.[1] ?? NaN);
    const reconciles = hist('count');
    log(`# installation reconciles: ${reconciles}, mean duration ${((hist('sum') / reconciles) * 1000).toFixed(0)} ms`);
    log(`# steady state over ${opts.steadySeconds} s (resync every ${opts.resync} s): requests/min by verb ${JSON.stringify(Object.fromEntries(Object.entries(delta).map(([k, v]) => [k, Number(v.toFixed(1))])))}`);
    log(`nodes=${n} rss_mb=${mem.rss.toFixed(0)} peak_rss_mb=${mem.hwm.toFixed(0)} initial_ms=${initialMs} change_ms=${changeMs} steady_requests_per_min=${total.toFixed(1)} steady_writes_per_min=${writes.toFixed(1)}`);
  } finally {
    child?.kill('SIGTERM');
    admin.close();
    await cp.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
