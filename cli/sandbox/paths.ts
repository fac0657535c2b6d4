// Where the sandbox finds the programs it runs: the repository it is part of. The DaemonSet's
// container commands map to the same programs run from source (there is no container runtime).
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
