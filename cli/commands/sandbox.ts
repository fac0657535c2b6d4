/**
 * `weft sandbox up [-f installation.yaml] [--once]` and `weft sandbox down`: a Weft cluster in
 * network namespaces on this machine (what `npm start` runs). See cli/sandbox/README.md.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { join } from 'node:path';
import { PreflightError } from '../sandbox/preflight.ts';
import { repoRoot } from '../sandbox/paths.ts';
import { SandboxError, sandboxDown, sandboxUp } from '../sandbox/sandbox.ts';

function positiveInt(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

function exitWith(p: Promise<number>): Promise<void> {
  return p.then(
    (code) => process.exit(code),
    (e: Error) => {
      const known = e instanceof SandboxError || e instanceof PreflightError;
      process.stderr.write(`weft sandbox: ${known ? e.message : e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}

export function registerSandbox(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a local Weft cluster in network namespaces: control plane, 3 nodes on 2 subnets, the real operator and agents (needs root)');
  sandbox
    .command('up')
    .description('install what is missing, start the sandbox, wait for the Installation to be Ready, create pods and check the pod network; stays up until Ctrl-C')
    .option('-f, --filename <file>', 'Installation to apply', join(repoRoot, 'config', 'samples', 'installation.yaml'))
    .option('--once', 'exit after the checks (status 0 only if every check passed) and remove everything')
    .option('--timeout <seconds>', 'how long to wait for the Installation to be Ready', positiveInt(10, 3600), 300)
    .option('--nodes <n>', 'number of nodes (the last third sit in a second subnet)', positiveInt(2, 9), 3)
    .action((o: { filename: string; once?: boolean; timeout: number; nodes: number }) =>
      exitWith(sandboxUp({ filename: o.filename, once: !!o.once, timeout: o.timeout, nodes: o.nodes })));
  sandbox
    .command('down')
    .description('stop a running sandbox and remove every namespace, link, process and file it made (also the leftovers of an interrupted one)')
    .action(() => exitWith(sandboxDown()));
}
