// Weft's side of the test control plane: kube/envtest.ts runs the binaries, this builds them
// (hack/testenv/build compiles them from Go modules into a cache) and points the launcher at them.
// Used by the test suites and developer scripts; nothing in the product imports it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ASSETS_ENV } from '../../kube/envtest.ts';

/** The repository checkout this file is in. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildScript = join(repoRoot, 'hack', 'testenv', 'build');

let ensurePromise: Promise<string> | undefined;

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

/**
 * Builds the control-plane binaries if the cache is stale (minutes the first time, a no-op after),
 * exports their directory as $KUBE_TESTENV_ASSETS for kube/envtest.ts's startControlPlane, and
 * returns it.
 */
export function ensureTestenv(): Promise<string> {
  ensurePromise ??= new Promise<string>((resolvePromise, reject) => {
    if (!existsSync(buildScript)) {
      reject(new Error(`${buildScript} is missing`));
      return;
    }
    const check = spawnSync(buildScript, ['--check'], { encoding: 'utf8' });
    if (check.status !== 0) {
      process.stderr.write('testenv: the test control plane binaries are not built yet; building them (hack/testenv/build)\n');
    }
    const child = spawn(buildScript, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      // Progress of a build that takes minutes belongs on the terminal, not hidden in a buffer.
      if (check.status !== 0) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const binDir = out.trim().split('\n').pop() ?? '';
      if (code === 0 && binDir && existsSync(binDir)) {
        process.env[ASSETS_ENV] = binDir;
        resolvePromise(binDir);
      } else reject(new Error(`hack/testenv/build exited with ${code}: ${lastLines(err, 15)}`));
    });
  });
  return ensurePromise;
}

/** Whether integration tests can run here; the reason says what is missing, for `t.skip(reason)`. */
export async function testenvAvailable(): Promise<{ ok: true; binDir: string } | { ok: false; reason: string }> {
  if (process.platform !== 'linux') return { ok: false, reason: `the test control plane runs on Linux only (this is ${process.platform})` };
  if (spawnSync('openssl', ['version']).status !== 0) return { ok: false, reason: 'openssl is not installed (needed to make the control plane certificates)' };
  try {
    return { ok: true, binDir: await ensureTestenv() };
  } catch (e) {
    return { ok: false, reason: `cannot build the test control plane: ${(e as Error).message}` };
  }
}
