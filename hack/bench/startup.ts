/**
 * `npm run bench:startup`: start time and memory of the programs the images run, from source
 * (node --import tsx, how the images ran before) versus compiled (node dist/<name>.mjs, what the
 * images run now; `npm run build` first).
 *
 *  1. load: `<program> --help`, wall time and peak RSS (GNU time), several interleaved rounds,
 *     medians — the cost of loading the code alone.
 *  2. run (needs the test control plane, hack/testenv/build): the operator with the sample
 *     Installation, then one node agent (--no-kernel) with the configuration the operator
 *     rendered, each as its own process: time from spawn to /readyz 200, RSS when ready, RSS and
 *     peak RSS after --steady-seconds.
 *
 *   npm run bench:startup -- [--rounds 5] [--steady-seconds 60] [--skip-run] [--crds-dir DIR]
 *
 * Last lines: `variant=<source|compiled> program=<name> ready_ms=<ms> rss_ready_mib=<MiB>
 * rss_steady_mib=<MiB> peak_rss_mib=<MiB>`, one per variant and program.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { bundlePath, entryPoints, repoRoot, type ProgramName } from '../build/bundles.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../testenv/assets.ts';

const opts = new Command('bench:startup')
  .option('--rounds <n>', 'rounds of the load measurement', (v) => Number(v), 5)
  .option('--steady-seconds <s>', 'how long the programs run before the steady-state RSS is read', (v) => Number(v), 60)
  .option('--skip-run', 'only the load measurement (no control plane)')
  .option('--crds-dir <dir>', 'CRDs the operator applies (its --crds-dir; default: the repository\'s crds/)')
  .parse(process.argv)
  .opts<{ rounds: number; steadySeconds: number; skipRun?: boolean; crdsDir?: string }>();

type Variant = 'source' | 'compiled';
const variants: Variant[] = ['source', 'compiled'];
const programs: ProgramName[] = ['weft-node', 'weft-operator'];
const log = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** argv running a program the way the image does (compiled) or did (source). */
function argv(variant: Variant, program: ProgramName, args: string[]): string[] {
  return variant === 'source'
    ? [process.execPath, '--import', 'tsx', join(repoRoot, entryPoints[program]), ...args]
    : [process.execPath, '--enable-source-maps', join(repoRoot, bundlePath(program)), ...args];
}

for (const p of programs) {
  if (!existsSync(join(repoRoot, bundlePath(p)))) {
    console.error(`bench:startup: ${bundlePath(p)} is missing; run npm run build first`);
    process.exit(2);
  }
}

// ---- 1. load ----------------------------------------------------------------------------------
const load: Record<string, { ms: number[]; kib: number[] }> = {};
for (let round = 0; round < opts.rounds; round++) {
  for (const program of programs) {
    for (const variant of variants) {
      const a = argv(variant, program, ['--help']);
      const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...a], { cwd: repoRoot, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${a.join(' ')} failed: ${r.stderr}`);
      const [secs, kib] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
      const k = `${variant} ${program}`;
      (load[k] ??= { ms: [], kib: [] }).ms.push(secs * 1000);
      load[k].kib.push(kib);
    }
  }
}
log(`load (--help), median of ${opts.rounds} interleaved rounds:`);
for (const [k, v] of Object.entries(load)) log(`  ${k.padEnd(24)} ${String(Math.round(median(v.ms))).padStart(5)} ms  peak RSS ${(median(v.kib) / 1024).toFixed(0)} MiB`);

if (opts.skipRun) process.exit(0);

// ---- 2. run against the real control plane -----------------------------------------------------
const env = await testenvAvailable();
if (!env.ok) {
  log(`run: skipped (${env.reason})`);
  process.exit(0);
}

function rssMiB(pid: number): { rss: number; hwm: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(st.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitReady(child: ChildProcess, port: number, what: string, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what} not ready within ${timeoutMs} ms`);
    await sleep(25);
  }
}

interface Result { variant: Variant; program: ProgramName; readyMs: number; rssReady: number; rssSteady: number; peak: number }
const results: Result[] = [];

async function runVariant(cp: ControlPlane, variant: Variant, dir: string): Promise<void> {
  const logs = join(dir, variant);
  mkdirSync(logs, { recursive: true });
  const spawnLogged = (name: string, a: string[]) => {
    const out = join(logs, `${name}.log`);
    const child = spawn(a[0]!, a.slice(1), { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WEFT_LOG_LEVEL: 'warn' } });
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => chunks.push(b));
    child.stderr!.on('data', (b: Buffer) => chunks.push(b));
    child.on('exit', () => writeFileSync(out, Buffer.concat(chunks)));
    return child;
  };
  const opHealth = await freePort();
  const opMetrics = await freePort();
  const operator = spawnLogged('operator', argv(variant, 'weft-operator', [
    '--kubeconfig', cp.kubeconfigPath, '--leader-elect=false', '--health-port', String(opHealth), '--metrics-port', String(opMetrics), '--bind-address', '127.0.0.1',
    ...(opts.crdsDir ? ['--crds-dir', opts.crdsDir] : []),
  ]));
  const node = `bench-${variant}`;
  let agent: ChildProcess | undefined;
  try {
    const opReady = await waitReady(operator, opHealth, 'the operator');
    const opRssReady = rssMiB(operator.pid!).rss;
    await cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'config/samples/installation.yaml')]);
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } }), allowFailure: true });
    // The configuration the operator rendered, as the kubelet would mount it.
    const cfgDir = join(dir, variant, 'config');
    mkdirSync(cfgDir, { recursive: true });
    for (let i = 0; ; i++) {
      const r = await cp.kubectl(['get', 'configmap', '-n', 'weft-system', 'weft-config', '-o', 'json'], { allowFailure: true });
      if (r.code === 0) {
        for (const [k, v] of Object.entries((JSON.parse(r.stdout) as { data: Record<string, string> }).data)) writeFileSync(join(cfgDir, k), v);
        break;
      }
      if (i > 600) throw new Error('the operator rendered no ConfigMap weft-system/weft-config within 60 s');
      await sleep(100);
    }
    const agentHealth = await freePort();
    agent = spawnLogged('agent', argv(variant, 'weft-node', [
      'agent', '--node-name', node, '--kubeconfig', cp.kubeconfigPath, '--config-dir', cfgDir, '--no-kernel',
      '--cni-conf-dir', join(dir, variant, 'net.d'), '--ipam-data-dir', join(dir, variant, 'ipam'), '--host-root', '/',
      '--health-port', String(agentHealth), '--health-host', '127.0.0.1',
    ]));
    const agReady = await waitReady(agent, agentHealth, 'the agent');
    const agRssReady = rssMiB(agent.pid!).rss;
    await sleep(opts.steadySeconds * 1000);
    const op = rssMiB(operator.pid!);
    const ag = rssMiB(agent.pid!);
    results.push({ variant, program: 'weft-operator', readyMs: opReady, rssReady: opRssReady, rssSteady: op.rss, peak: op.hwm });
    results.push({ variant, program: 'weft-node', readyMs: agReady, rssReady: agRssReady, rssSteady: ag.rss, peak: ag.hwm });
  } finally {
    for (const c of [agent, operator]) if (c && c.exitCode === null) { c.kill('SIGTERM'); await new Promise((r) => c.once('exit', r)); }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'weft-bench-startup-'));
// A fresh control plane per variant: both start from an empty cluster.
for (const variant of variants) {
  log(`run: ${variant} (steady state after ${opts.steadySeconds} s)`);
  const cp = await startControlPlane({ binDir: env.binDir, controllerManager: true, startTimeoutMs: 120_000 });
  try {
    await runVariant(cp, variant, dir);
  } finally {
    await cp.stop();
  }
}
rmSync(dir, { recursive: true, force: true });
for (const r of results) {
  log(`variant=${r.variant} program=${r.program} ready_ms=${Math.round(r.readyMs)} rss_ready_mib=${r.rssReady.toFixed(0)} rss_steady_mib=${r.rssSteady.toFixed(0)} peak_rss_mib=${r.peak.toFixed(0)}`);
}
