// Where the sandbox finds the programs it runs: the repository checkout it is part of (the
// sandbox is a developer tool; see README "A developer tool that runs from the checkout"). The
// DaemonSet's container commands map to the same programs (there is no container runtime): by
// default the bundles `npm run build` makes (hack/build.ts), which the images run, so the sandbox
// tests what ships; with WEFT_SANDBOX_PROGRAMS=source, the TypeScript sources under tsx (no build
// step).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Container command[0] of the rendered objects -> the TypeScript entry point it runs. */
export const programs: Record<string, string> = {
  'weft-node': join(repoRoot, 'components', 'node', 'main.ts'),
  'weft-operator': join(repoRoot, 'operator', 'main.ts'),
};

/** Container command[0] -> the bundle of its entry point (dist/<name>.mjs, hack/build/bundles.ts). */
export const bundles: Record<string, string> = {
  'weft-node': join(repoRoot, 'dist', 'weft-node.mjs'),
  'weft-operator': join(repoRoot, 'dist', 'weft-operator.mjs'),
};

/** How the sandbox runs the programs: 'compiled' (default) or 'source' (WEFT_SANDBOX_PROGRAMS=source). */
export const programMode: 'compiled' | 'source' = process.env.WEFT_SANDBOX_PROGRAMS === 'source' ? 'source' : 'compiled';

/** argv that runs a program (its entry point in `programs`) with this Node, as programMode says. */
export function programArgv(entry: string, args: string[]): string[] {
  const name = Object.keys(programs).find((n) => programs[n] === entry);
  if (programMode === 'compiled' && name) return [process.execPath, '--enable-source-maps', bundles[name]!, ...args];
  return [process.execPath, '--import', 'tsx', entry, ...args];
}

/**
 * Compiles the programs to their bundles (`npm run build -- weft-node weft-operator`, about a
 * second on an idle machine); throws with esbuild's output when that fails. A no-op in source mode.
 */
export function buildPrograms(): void {
  if (programMode !== 'compiled') return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', repoScript('hack/build.ts'), ...Object.keys(bundles)], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    throw new Error(`compiling the programs (npm run build) failed:\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}\n(WEFT_SANDBOX_PROGRAMS=source runs them from source instead)`);
  }
}

/**
 * A developer script of this checkout (e.g. "hack/install-deps"), run as a child process by the
 * sandbox's preflight. Throws when the sandbox runs outside a checkout, naming what is missing.
 */
export function repoScript(relPath: string): string {
  const path = join(repoRoot, relPath);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: weft sandbox runs from a Weft repository checkout (it builds its prerequisites with the checkout's ${relPath})`);
  }
  return path;
}
