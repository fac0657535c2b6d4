/**
 * Entry point of hack/testenv/up. Without --serve it launches itself with --serve as a detached
 * supervisor, waits until the control plane is ready and prints where it is. With --serve it is
 * that supervisor: it owns the control plane (kube/envtest.ts, binaries from hack/testenv/assets.ts) until SIGTERM
 * (hack/testenv/down), and if it dies anyway the helper's reaper kills what it started.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { startControlPlane } from '../../kube/envtest.ts';
import { ensureTestenv } from './assets.ts';

const runDir = join(process.env.WEFT_TESTENV_DIR ?? join(homedir(), '.cache', 'weft', 'testenv'), 'run');
const readyFile = join(runDir, 'ready.json');
const pidFile = join(runDir, 'serve.pid');
const logFile = join(runDir, 'serve.log');

interface Ready {
  pid: number;
  kubeconfig: string;
  kubectl: string;
  server: string;
  components: Record<string, number>;
  startSeconds: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function printReady(r: Ready): void {
  console.log(`testenv: control plane at ${r.server} (supervisor pid ${r.pid}; ${Object.keys(r.components).join(', ')})`);
  console.log(`testenv: logs in ${join(runDir, 'logs')}; stop it with hack/testenv/down`);
  console.log(`KUBECONFIG=${r.kubeconfig}`);
  console.log(`KUBECTL=${r.kubectl}`);
}

async function serve(apiServerOnly: boolean): Promise<void> {
  const t0 = performance.now();
  const bin = await ensureTestenv();
  const all = !apiServerOnly;
  const cp = await startControlPlane({ binDir: bin, dir: runDir, controllerManager: all, scheduler: all, kwok: all });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await cp.stop();
    rmSync(runDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  const ready: Ready = {
    pid: process.pid,
    kubeconfig: cp.kubeconfigPath,
    kubectl: join(bin, 'kubectl'),
    server: cp.server,
    components: cp.pids(),
    startSeconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  writeFileSync(readyFile, JSON.stringify(ready, null, 2));
  // The control plane's processes are unref'd; this keeps the supervisor alive until told to stop.
  setInterval(() => {}, 1 << 30);
}

async function launch(apiServerOnly: boolean): Promise<void> {
  if (existsSync(pidFile) && alive(Number(readFileSync(pidFile, 'utf8')))) {
    if (existsSync(readyFile)) {
      console.log('testenv: already running');
      printReady(JSON.parse(readFileSync(readyFile, 'utf8')) as Ready);
      return;
    }
    throw new Error(`a control plane in ${runDir} is still starting (pid ${readFileSync(pidFile, 'utf8')}); wait, or run hack/testenv/down`);
  }
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const log = openSync(logFile, 'a');
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', ...(apiServerOnly ? ['--apiserver-only'] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log] });
  writeFileSync(pidFile, String(child.pid));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + 120_000;
  while (!existsSync(readyFile)) {
    if (exited !== undefined || Date.now() > deadline) {
      const why = exited !== undefined ? `the supervisor exited with ${exited}` : 'it was not ready within 120s';
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n') : '';
      if (exited === undefined) process.kill(-child.pid!, 'SIGTERM');
      throw new Error(`testenv: control plane did not start: ${why}. ${logFile}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as Ready;
  console.log(`testenv: started in ${ready.startSeconds}s`);
  printReady(ready);
}

const opts = new Command('up')
  .option('--apiserver-only', 'start only etcd and kube-apiserver')
  .option('--serve', 'internal: be the supervisor')
  .parse(process.argv)
  .opts<{ apiserverOnly?: boolean; serve?: boolean }>();

try {
  if (opts.serve) await serve(!!opts.apiserverOnly);
  else await launch(!!opts.apiserverOnly);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
