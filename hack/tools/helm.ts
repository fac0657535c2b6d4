/**
 * The helm binary the packaging tests use, built by hack/tools/build into
 * ~/.cache/weft/tools/helm-<version>/bin. The first build takes minutes and prints progress;
 * later calls are instant. When it cannot be built, the reason says why (for `t.skip`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const buildScript = join(dirname(fileURLToPath(import.meta.url)), 'build');

let helmPromise: Promise<{ ok: true; helm: string } | { ok: false; reason: string }> | undefined;

export function ensureHelm(): Promise<{ ok: true; helm: string } | { ok: false; reason: string }> {
  helmPromise ??= new Promise((resolve) => {
    const check = spawnSync('bash', [buildScript, '--check']);
    if (check.status === 0) {
      const bin = spawnSync('bash', [buildScript, '--print'], { encoding: 'utf8' }).stdout.trim();
      resolve({ ok: true, helm: join(bin, 'helm') });
      return;
    }
    if (spawnSync('go', ['version']).status !== 0) {
      resolve({ ok: false, reason: 'helm is not built and Go is not installed to build it (hack/tools/build)' });
      return;
    }
    process.stderr.write('tools: helm is not built yet; building it (hack/tools/build)\n');
    const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      process.stderr.write(d);
    });
    child.on('error', (e) => resolve({ ok: false, reason: `cannot run hack/tools/build: ${e.message}` }));
    child.on('close', (code) => {
      const helm = join(out.trim().split('\n').pop() ?? '', 'helm');
      if (code === 0 && existsSync(helm)) resolve({ ok: true, helm });
      else resolve({ ok: false, reason: `hack/tools/build exited with ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}` });
    });
  });
  return helmPromise;
}
