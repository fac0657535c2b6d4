// Where the sandbox finds the programs it runs: the repository checkout it is part of (the
// sandbox is a developer tool; see README "A developer tool that runs from the checkout"). The
// DaemonSet's container commands map to the same programs run from source (there is no
// container runtime).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Container command[0] of the rendered objects -> the TypeScript entry point it runs. */
export const programs: Record<string, string> = {
  'weft-node': join(repoRoot, 'components', 'node', 'main.ts'),
  'weft-operator': join(repoRoot, 'operator', 'main.ts'),
};

/** argv that runs a program from source with this Node and tsx. */
export function programArgv(entry: string, args: string[]): string[] {
  return [process.execPath, '--import', 'tsx', entry, ...args];
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
