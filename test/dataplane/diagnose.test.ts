// `weft diagnose` against a real sandbox cluster (weft sandbox up: control plane, operator, real
// agents in network namespaces, pods by real CNI ADD), one injected fault at a time: diagnose must
// report exactly that fault, on the right node, with its remediation, and nothing once the fault
// is undone. Faults stay inside the sandbox's own namespaces and files; the nftables table is
// named per run. The sandbox is one per machine, so this skips while another one runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, layout, readState, stateDir, type SandboxState } from '../../cli/sandbox/state.ts';
import type { Finding } from '../../cli/diagnose/snapshot.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { dataplaneUnavailable, must, nsMust, sleep } from '../../cli/sandbox/exec.ts';
import { vxlanDefaults } from '../../api/effective-config.ts';

const MAIN = join(repoRoot, 'cli', 'main.ts');
const RUN = randomBytes(2).toString('hex');
const NFT_TABLE = `wdiag_${RUN}`;

async function why(): Promise<string | false> {
  const d = dataplaneUnavailable();
  if (d) return d;
  if (spawnSync('sh', ['-c', 'command -v iperf3']).status !== 0) return 'iperf3 is not installed (hack/install-deps); the sandbox needs it';
  const s = readState();
  if (s && alive(s.pid)) return `a sandbox is already running (pid ${s.pid}); the sandbox is one per machine, so this suite would have to stop it`;
  const env = await testenvAvailable();
  return env.ok ? false : env.reason;
}
const skip = await why();

interface Diagnosis { code: number | null; findings: Finding[]; raw: string }

/** extra ['--no-local']: no entering the namespaces; sections and probes come from the agents (/debug/diagnose, /debug/probe). */
function diagnose(kubeconfig: string, extra: string[] = []): Promise<Diagnosis> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'diagnose', '-o', 'json', '--kubeconfig', kubeconfig, ...extra], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code) => {
      let findings: Finding[] = [];
      try { findings = (JSON.parse(out) as { findings: Finding[] }).findings; } catch { findings = [{ id: 'unparsable-output', severity: 'critical', summary: out + err, evidence: [], remediation: '' }]; }
      resolve({ code, findings, raw: out + err });
    });
  });
}

const brief = (fs: Finding[]) => fs.map((f) => `${f.id}@${f.node ?? '-'}`).sort();

describe('weft diagnose: fault injection on a sandbox cluster', { skip }, () => {
  let up: ChildProcess | undefined;
  let output = '';
  let state: SandboxState;
  let kubeconfig: string;
  const netns = (node: string) => state.namespaces.find((n) => n.endsWith(`-${node}`))!;
  const undo: (() => Promise<unknown>)[] = [];

  /** Polls diagnose until its findings are exactly `want` (id@node), for up to timeoutMs. */
  async function expectFindings(want: string[], timeoutMs: number, extra: string[] = []): Promise<Diagnosis> {
    const deadline = Date.now() + timeoutMs;
    let last: Diagnosis | undefined;
    for (;;) {
      last = await diagnose(kubeconfig, extra);
      if (JSON.stringify(brief(last.findings)) === JSON.stringify([...want].sort())) return last;
      if (Date.now() > deadline) break;
      await sleep(2000);
    }
    assert.deepEqual(brief(last.findings), [...want].sort(), `diagnose output:\n${last.raw}`);
    return last;
  }

  before(async () => {
    up = spawn(process.execPath, ['--import', 'tsx', MAIN, 'sandbox', 'up', '--timeout', '240'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const reached = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 420_000);
      const onData = (d: Buffer) => {
        output += d;
        if (output.includes('The sandbox is up')) { clearTimeout(timer); resolve(true); }
      };
      up!.stdout!.on('data', onData);
      up!.stderr!.on('data', onData);
      up!.once('close', () => { clearTimeout(timer); resolve(false); });
    });
    assert.ok(reached, `weft sandbox up did not come up:\n${output.slice(-4000)}`);
    state = readState()!;
    kubeconfig = state.kubeconfig ?? layout(stateDir()).kubeconfig;
  });

  after(async () => {
    for (const u of undo.splice(0).reverse()) await u().catch(() => {});
    if (up?.pid && up.exitCode === null) {
      const closed = new Promise((r) => up!.once('close', r));
      try { process.kill(-up.pid, 'SIGINT'); } catch { /* gone */ }
      await Promise.race([closed, sleep(60_000)]);
    }
    // Whatever an interrupted `up` left: the sandbox's own sweep.
    spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'sandbox', 'down'], { cwd: repoRoot, stdio: 'ignore' });
  });

  test('the healthy sandbox: no findings, exit code 0', async () => {
    const d = await expectFindings([], 90_000);
    assert.equal(d.code, 0);
    assert.equal((await expectFindings([], 30_000, ['--no-local'])).code, 0, 'and from the agents alone');
  });

  test('underlay MTU lowered on node-3 below pod MTU + VXLAN overhead', async () => {
    const ns = netns('node-3');
    await nsMust(ns, ['ip', 'link', 'set', 'eth0', 'mtu', '1400']);
    undo.push(() => nsMust(ns, ['ip', 'link', 'set', 'eth0', 'mtu', '1500']));
    const d = await expectFindings(['mtu-exceeds-underlay@node-3'], 30_000);
    assert.equal(d.code, 2);
    assert.match(d.findings[0]!.remediation, /spec\.network\.mtu to at most 1350/);
    assert.ok(d.findings[0]!.evidence.some((e) => /DF ping .*node-3/.test(e)), 'the failing DF probes are its evidence');
    const remote = await expectFindings(['mtu-exceeds-underlay@node-3'], 30_000, ['--no-local']);
    assert.ok(remote.findings[0]!.evidence.some((e) => /DF ping .*node-3/.test(e)), 'the agents\' /debug/probe DF pings are its evidence');
    await undo.pop()!();
    await expectFindings([], 30_000);
  });

  test('a foreign CNI conflist sorting before Weft\'s on node-2', async () => {
    const dir = join(state.dir, 'nodes', 'node-2', 'root', 'etc', 'cni', 'net.d');
    assert.ok(readdirSync(dir).includes('10-weft.conflist'), `${dir} holds Weft's conflist`);
    const file = join(dir, `05-foreign-${RUN}.conflist`);
    writeFileSync(file, JSON.stringify({ cniVersion: '1.0.0', name: 'foreign', plugins: [{ type: 'bridge', bridge: 'cni0' }] }));
    undo.push(async () => rmSync(file, { force: true }));
    const d = await expectFindings(['cni-conflist-shadowed@node-2'], 30_000);
    assert.match(d.findings[0]!.remediation, new RegExp(`05-foreign-${RUN}\\.conflist`));
    await undo.pop()!();
    await expectFindings([], 30_000);
  });

  test('leaked host-local reservations on node-1', async () => {
    const nn = JSON.parse(await must([state.kubectl!, '--kubeconfig', kubeconfig, 'get', 'nodenetwork', 'node-1', '-o', 'json'])) as { status: { blocks: { cidr: string }[] } };
    const [base, len] = nn.status.blocks[0]!.cidr.split('/');
    const octets = base!.split('.').map(Number);
    const size = 2 ** (32 - Number(len));
    const conf = JSON.parse(readFileSync(join(state.dir, 'nodes', 'node-1', 'root', 'etc', 'cni', 'net.d', '10-weft.conflist'), 'utf8')) as { name: string; plugins: { ipam?: { dataDir?: string } }[] };
    const store = join(conf.plugins.find((p) => p.ipam?.dataDir)!.ipam!.dataDir!, conf.name);
    const files = [size - 3, size - 4].map((i) => join(store, [...octets.slice(0, 3), octets[3]! + i].join('.')));
    for (const f of files) writeFileSync(f, `leaked-${RUN}\r\neth0`);
    undo.push(async () => { for (const f of files) rmSync(f, { force: true }); });
    // Nothing announces a leak: the agent finds it on its next scan (every minute).
    const d = await expectFindings(['ipam-leaked-addresses@node-1'], 150_000);
    assert.match(d.findings[0]!.summary, /^2 addresses on node-1/);
    await undo.pop()!();
    await expectFindings([], 150_000);
  });

  test('FDB entry of node-3 deleted on node-1', async () => {
    const nn = JSON.parse(await must([state.kubectl!, '--kubeconfig', kubeconfig, 'get', 'nodenetwork', 'node-3', '-o', 'json'])) as { status: { vtep: { mac: string }; address: string } };
    const dev = JSON.parse(await nsMust(netns('node-1'), ['ip', '-json', 'link', 'show', 'type', 'vxlan']))[0].ifname as string;
    await nsMust(netns('node-1'), ['bridge', 'fdb', 'del', nn.status.vtep.mac, 'dev', dev, 'dst', nn.status.address.split('/')[0]!, 'self']);
    // The agent re-adds it within its resync interval (30 s): that is the repair, not a flake.
    const d = await expectFindings(['vxlan-fdb-missing@node-1'], 20_000);
    assert.equal(d.findings[0]!.peer, 'node-3');
    await expectFindings([], 60_000);
  });

  // The sandbox's Installation leaves spec.network.vxlan unset, so its tunnel runs on Weft's default port.
  const VXLAN_PORT = vxlanDefaults.port;
  test(`UDP ${VXLAN_PORT} (the VXLAN port) dropped on node-3 by an nftables table`, async () => {
    const ns = netns('node-3');
    await nsMust(ns, ['nft', '-f', '-'], { input: `table inet ${NFT_TABLE} {\n chain input {\n  type filter hook input priority -10; policy accept;\n  udp dport ${VXLAN_PORT} drop\n }\n}\n` });
    undo.push(() => nsMust(ns, ['nft', 'delete', 'table', 'inet', NFT_TABLE]));
    const d = await expectFindings(['vxlan-udp-blocked@node-3'], 30_000);
    assert.match(d.findings[0]!.remediation, new RegExp(`UDP ${VXLAN_PORT}\\b`));
    await expectFindings(['vxlan-udp-blocked@node-3'], 30_000, ['--no-local']);
    await undo.pop()!();
    await expectFindings([], 30_000);
  });

  test('ip_forward=0 on node-2', async () => {
    const ns = netns('node-2');
    await nsMust(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    undo.push(() => nsMust(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']));
    const d = await expectFindings(['kernel-ip-forward-off@node-2'], 20_000);
    assert.match(d.findings[0]!.remediation, /ip_forward=1/);
    await expectFindings(['kernel-ip-forward-off@node-2'], 20_000, ['--no-local']);
    await undo.pop()!();
    await expectFindings([], 30_000);
  });
});
