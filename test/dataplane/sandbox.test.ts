// `weft sandbox` end to end, as a user runs it: `up --once` must pass every check, and neither
// `--once`, nor `down` against a running sandbox, nor the `up` after a killed one may leave
// anything behind: namespaces, host links, processes, mounts, nftables tables, files.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ownerAlive, readState, stateDir } from '../../cli/sandbox/state.ts';
import { testenvAvailable, repoRoot } from '../../hack/testenv/assets.ts';
import { dataplaneUnavailable } from '../../cli/sandbox/exec.ts';

const CLI = [process.execPath, '--import', 'tsx', join(repoRoot, 'cli', 'main.ts'), 'sandbox'];
const SAMPLE = join(repoRoot, 'config', 'samples', 'installation.yaml');

function why(): string | false {
  const d = dataplaneUnavailable();
  if (d) return d;
  if (spawnSync('sh', ['-c', 'command -v iperf3']).status !== 0) return 'iperf3 is not installed (hack/install-deps)';
  const s = readState();
  if (s && ownerAlive(s)) return `a sandbox is already running (pid ${s.pid}); the sandbox is one per machine, so this test would stop it`;
  return false;
}

interface Snapshot { netns: string[]; links: string[]; nft: string; mounts: string[]; processes: string[]; dir: boolean }

function lines(argv: string[]): string[] {
  return (spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
}

/** Everything on this machine a sandbox could leave behind. */
function snapshot(): Snapshot {
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(stateDir()) || /\bwsb[0-9a-f]{4}-/.test(cmd)) processes.push(`${pid} ${cmd}`);
    } catch { /* exited */ }
  }
  return {
    netns: lines(['ip', 'netns', 'list']).map((l) => l.split(' ')[0]!).filter((n) => /^wsb[0-9a-f]{4}-/.test(n)),
    links: lines(['ip', '-o', 'link', 'show']).filter((l) => /^\d+:\s+wsb[0-9a-f]{4}[:@]/.test(l)),
    nft: lines(['nft', 'list', 'tables']).sort().join('\n'),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => /wsb[0-9a-f]{4}-|weft-sandbox/.test(l)),
    processes,
    dir: existsSync(stateDir()),
  };
}

function assertNothingLeft(before: Snapshot, when: string): void {
  const now = snapshot();
  assert.deepEqual(now.netns, [], `${when}: network namespaces left`);
  assert.deepEqual(now.links, [], `${when}: host links left`);
  assert.deepEqual(now.mounts, [], `${when}: mounts left`);
  assert.deepEqual(now.processes, [], `${when}: processes left`);
  assert.equal(now.nft, before.nft, `${when}: the host's nftables tables changed`);
  assert.equal(now.dir, false, `${when}: ${stateDir()} left`);
}

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(CLI[0]!, [...CLI.slice(1), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Starts `up` in the background and resolves once its output matches `until`. */
function startUp(args: string[], until: RegExp, timeoutMs: number) {
  const child = spawn(CLI[0]!, [...CLI.slice(1), 'up', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const reached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox up did not print ${until} within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const feed = (d: Buffer) => {
      out += d;
      if (until.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sandbox up exited with ${code} before printing ${until}:\n${out}`));
    });
  });
  reached.catch(() => {});
  return { child, exited, reached, output: () => out };
}

const skip = why();

describe('weft sandbox', { skip, timeout: 20 * 60_000 }, () => {
  let base: Snapshot;
  let tmp: string;
  let explicit: string;

  before(async () => {
    const env = await testenvAvailable();
    if (!env.ok) throw new Error(env.reason);
    base = snapshot();
    tmp = mkdtempSync(join(tmpdir(), 'weft-sandbox-test-'));
    // Encapsulation set explicitly: the first rendered configuration is already the final one,
    // so these lifecycle tests do not depend on the operator's node-agent rollout (issue 8).
    explicit = join(tmp, 'installation.yaml');
    writeFileSync(explicit, readFileSync(SAMPLE, 'utf8').replace('encapsulation: Auto', 'encapsulation: VXLANCrossSubnet'));
  });
  after(async () => {
    // Whatever a failed test left: down removes it, so the next run starts clean.
    await runCli(['down'], 120_000);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('npm start -- --once: the sample Installation (Auto) becomes Ready and every check passes; nothing is left', async () => {
    const r = await runCli(['up', '--once', '--timeout', '180'], 10 * 60_000);
    assert.equal(r.code, 0, `sandbox up --once failed:\n${r.out}`);
    assert.match(r.out, /All \d+ checks passed/);
    assert.match(r.out, /30\/30 pod pairs reach each other/);
    assert.match(r.out, /pool default 10\.244\.0\.0\/16 .*encapsulation VXLANCrossSubnet/, 'two subnets: Auto must choose VXLANCrossSubnet');
    assertNothingLeft(base, 'after up --once');
    const down = await runCli(['down'], 60_000);
    assert.equal(down.code, 0, down.out);
    assert.match(down.out, /nothing to remove/);
  });

  test('an up killed mid-start is cleaned up by the next up, which passes', async () => {
    const first = startUp(['-f', explicit], /nodes registered/, 5 * 60_000);
    await first.reached;
    // SIGKILL: no handler runs, as after a crash or a closed terminal.
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;
    assert.ok(snapshot().netns.length > 0, 'the killed up should have left namespaces for the next up to clean');
    const second = await runCli(['up', '--once', '-f', explicit], 10 * 60_000);
    assert.equal(second.code, 0, `the up after a killed one failed:\n${second.out}`);
    assert.match(second.out, /removing what an interrupted sandbox left behind/);
    assert.match(second.out, /All \d+ checks passed/);
    assertNothingLeft(base, 'after the second up --once');
  });

  test('down stops a running sandbox and removes everything; a second down has nothing to do', async () => {
    // The last line of the hints, so every hint line is in the output when it matches.
    const up = startUp(['-f', explicit], /removes everything\.\n/, 10 * 60_000);
    await up.reached;
    const out = up.output();
    assert.match(out, /export KUBECONFIG=\S+/);
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out)![1]!;
    const kubectl = /alias kubectl=(\S+)/.exec(out)![1]!;
    // The user's view: kubectl with the printed kubeconfig sees the nodes and the Installation.
    const nodes = spawnSync(kubectl, ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'name'], { encoding: 'utf8' });
    assert.equal(nodes.status, 0, nodes.stderr);
    assert.deepEqual(nodes.stdout.trim().split('\n'), ['node/node-1', 'node/node-2', 'node/node-3']);
    const down = await runCli(['down'], 120_000);
    assert.equal(down.code, 0, down.out);
    assert.equal(await up.exited, 130, `up should exit 130 when stopped:\n${up.output()}`);
    assertNothingLeft(base, 'after down');
    const again = await runCli(['down'], 60_000);
    assert.match(again.out, /nothing to remove/);
  });
});
