// Process helpers for the dataplane harness.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface Out { stdout: string; stderr: string; code: number }

export function run(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Out> {
  return new Promise((resolve) => {
    const child = execFile(argv[0]!, argv.slice(1), { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const raw = err ? (err as { code?: unknown }).code : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr) || (err ? err.message : ''), code: typeof raw === 'number' ? raw : err ? 1 : 0 });
      });
    // A tool that exits without reading stdin must not crash us with EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}

export async function must(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Runs argv inside netns ns. */
export function nsRun(ns: string, argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Out> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}
export function nsMust(ns: string, argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return must(['ip', 'netns', 'exec', ns, ...argv], opts);
}

export function nsSpawn(ns: string, argv: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function mustSync(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, killSignal: 'SIGKILL' });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the dataplane tier cannot run here, or null when it can. */
export function dataplaneUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'dataplane tests need root (network namespaces)';
  try { mustSync(['ip', 'netns', 'list']); } catch { return '`ip netns` is unavailable'; }
  for (const tool of ['ping', 'nft', 'bridge']) {
    try { mustSync(['sh', '-c', `command -v ${tool}`]); } catch { return `${tool} is not installed (apt-get install iputils-ping nftables iproute2)`; }
  }
  return null;
}
