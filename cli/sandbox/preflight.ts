// What `sandbox up` needs before it starts anything: root, the Debian packages (hack/install-deps)
// and the cached control plane build (hack/testenv/build), installed when missing with progress.
// The sandbox is a developer tool that runs from the checkout, so it runs the checkout's scripts
// as child processes (never imports them); see README "A developer tool that runs from the checkout".
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Progress, Step } from './progress.ts';
import { repoRoot, repoScript } from './paths.ts';

export class PreflightError extends Error {}

/** Runs a script, feeding each output line to the step; resolves with the last stdout line. */
function runScript(path: string, args: string[], step: Step): Promise<{ code: number; lastOut: string; tail: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(path, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let lastOut = '';
    const feed = (isOut: boolean) => {
      let buf = '';
      return (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) {
          if (!l.trim()) continue;
          if (isOut) lastOut = l.trim();
          tail.push(l);
          if (tail.length > 20) tail.shift();
          step.update(l.trim().replace(/^(install-deps|testenv): /, ''));
        }
      };
    };
    child.stdout.on('data', feed(true));
    child.stderr.on('data', feed(false));
    child.on('error', (e) => resolve({ code: 127, lastOut, tail: [...tail, e.message] }));
    child.on('close', (code) => resolve({ code: code ?? 1, lastOut, tail }));
  });
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { timeout: 10_000 }).status === 0;
}

export interface Prerequisites {
  binDir: string;
  kubectl: string;
}

export async function preflight(progress: Progress): Promise<Prerequisites> {
  if (process.platform !== 'linux') throw new PreflightError(`weft sandbox runs on Linux only (network namespaces); this is ${process.platform}`);
  if (process.getuid?.() !== 0) {
    throw new PreflightError(
      'weft sandbox needs root: it creates network namespaces, veth pairs, routes and nftables tables.\n' +
        '  Run it as root, e.g.  sudo -E npm start   or   sudo npx tsx cli/main.ts sandbox up',
    );
  }
  await progress.run('Debian packages (hack/install-deps)', async (step) => {
    const r = await runScript(repoScript('hack/install-deps'), [], step);
    if (r.code !== 0) {
      throw new PreflightError(`hack/install-deps failed (exit ${r.code}); a package could not be installed:\n${r.tail.join('\n')}\n  Fix the apt sources or install the packages it names, then run weft sandbox up again.`);
    }
    const missing = ['ip', 'nft', 'iperf3', 'ping', 'openssl'].filter((c) => !have(c));
    if (missing.length) {
      throw new PreflightError(`still missing after hack/install-deps: ${missing.join(', ')} (ping is in iputils-ping: apt-get install iputils-ping)`);
    }
    return r.lastOut;
  }, (out) => out.replace(/^install-deps: /, ''));
  const binDir = await progress.run('Kubernetes control plane binaries (hack/testenv/build)', async (step) => {
    const script = repoScript('hack/testenv/build');
    if (spawnSync(script, ['--check'], { timeout: 60_000 }).status !== 0) step.update('not built yet: compiling from Go modules (6-8 minutes the first time)');
    const r = await runScript(script, [], step);
    if (r.code !== 0 || !existsSync(r.lastOut)) {
      throw new PreflightError(`hack/testenv/build failed (exit ${r.code}):\n${r.tail.join('\n')}`);
    }
    return r.lastOut;
  }, (dir) => `cached in ${dir}`);
  return { binDir, kubectl: join(binDir, 'kubectl') };
}
