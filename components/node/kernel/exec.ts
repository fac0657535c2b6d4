// Runs the kernel tools (ip, bridge, nft, sh) either in the caller's network namespace or in a
// named one, so several agents can share one machine in tests.
import { execFile } from 'node:child_process';

export interface RunResult { stdout: string; stderr: string; code: number }

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly result: RunResult) {
    super(`command failed (exit ${result.code}): ${argv.join(' ')}\n${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
  }
}

export interface CommandRunner {
  /** Runs argv in the runner's namespace; never throws for a non-zero exit. A command still
   *  running after timeoutMs (default: the runner's) is killed with SIGKILL and reported with
   *  code TIMEOUT_EXIT_CODE. */
  run(argv: string[], input?: string, opts?: { timeoutMs?: number }): Promise<RunResult>;
  readonly netns: string | undefined;
}

/** How long one kernel tool (ip, bridge, nft, bird, sh for sysctls) may run: an `ip -batch` of
 *  tens of thousands of lines takes well under a second here, so a minute means it is stuck
 *  (a hung netlink socket, a blocked /proc read) and the pass must fail instead of hanging. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** Exit code reported for a command killed at its timeout (what timeout(1) uses). */
export const TIMEOUT_EXIT_CODE = 124;

/** Wraps argv so it runs inside netns: `ip -n`/`bridge -n` natively, anything else through
 *  `ip netns exec`. */
export function inNetns(netns: string | undefined, argv: string[]): string[] {
  if (!netns) return argv;
  const [cmd, ...rest] = argv;
  if (cmd === 'ip' || cmd === 'bridge') return [cmd, '-n', netns, ...rest];
  return ['ip', 'netns', 'exec', netns, ...argv];
}

export function execRunner(netns?: string, defaults: { timeoutMs?: number } = {}): CommandRunner {
  return {
    netns,
    run(argv, input, opts) {
      const full = inNetns(netns, argv);
      const timeoutMs = opts?.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
      return new Promise((resolve) => {
        const child = execFile(full[0]!, full.slice(1), { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' },
          (err, stdout, stderr) => {
            if (err && (err as { killed?: boolean }).killed && (err as { signal?: string }).signal === 'SIGKILL') {
              resolve({ stdout: String(stdout), stderr: `${full.join(' ').slice(0, 200)}: killed after ${timeoutMs} ms (timeout)`, code: TIMEOUT_EXIT_CODE });
              return;
            }
            const rawCode = err ? (err as { code?: unknown }).code : 0;
            const code = typeof rawCode === 'number' ? rawCode : err ? 1 : 0;
            // A spawn failure (ENOENT) has no stderr; surface its message instead.
            resolve({ stdout: String(stdout), stderr: String(stderr) || (err ? err.message : ''), code });
          });
        // A tool that exits without reading stdin must not crash the agent with EPIPE.
        child.stdin?.on('error', () => {});
        child.stdin?.end(input ?? '');
      });
    },
  };
}

/** Runs argv and throws CommandError on a non-zero exit. */
export async function runChecked(runner: CommandRunner, argv: string[], input?: string): Promise<string> {
  const r = await runner.run(argv, input);
  if (r.code !== 0) throw new CommandError(inNetns(runner.netns, argv), r);
  return r.stdout;
}
