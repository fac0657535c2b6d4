// WireGuard encryption between nodes with real weft-node agents (one process per node, --netns,
// a real kube-apiserver), on the real kernel: userspace wireguard-go over TUN where the kernel has
// no WireGuard module (this machine), the kernel module where it has one. Host-gw underneath.
//  - encrypted from the start: every pod reaches every pod through the device; a capture on the
//    underlay shows only WireGuard UDP between the nodes and no pod address; DF pings at the pod
//    MTU pass and one byte more fail; agents restarted under continuous ping lose nothing and
//    change nothing; the private key stays in its 0600 file.
//  - switched on, then off, under continuous pod-to-pod ping, agent by agent (the rollout of a
//    config change): not one packet lost either way; the devices drain and go away.
// Every node gets its own link prefix: wireguard-go's UAPI socket (/var/run/wireguard/DEV.sock)
// is not per network namespace, so two nodes' devices on one machine need different names.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EffectiveConfig } from '../../api/effective-config.ts';
import { KubeClient } from '../../kube/index.ts';
import { renderConflist } from '../../render/conflist.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { TestCluster, type TestNode } from './support/cluster.ts';
import { cniAdd, type CniConflist } from '../../cli/sandbox/cni-runtime.ts';
import { dataplaneUnavailable, must, nsRun, run, sleep } from '../../cli/sandbox/exec.ts';
import { agentProcesses, effectiveConfig, freePort, until } from './support/agents.ts';

function wireguardUnavailable(): string | null {
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is absent: userspace WireGuard (wireguard-go) needs TUN';
  for (const tool of ['wireguard-go', 'wg', 'tcpdump']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (hack/install-deps installs wireguard-go, wireguard-tools and tcpdump)`;
  }
  return null;
}

const skipReason = dataplaneUnavailable() ?? wireguardUnavailable() ?? await testenvAvailable().then((e) => (e.ok ? null : e.reason));
if (skipReason) console.log(`# skipping the WireGuard dataplane tests: ${skipReason}`);
const MAIN = join(repoRoot, 'components/node/main.ts');
const PORT = 51830;
/** Pod MTU: the underlay's 1500 minus WireGuard's 60 (fixed in both configs of the rollout test,
 *  as spec.network.mtu would be, so pods made before the switch fit the encrypted path). */
const MTU = 1440;
const DRAIN = '3s';

/** WEFT_WIREGUARD_ONLY=steady or =rollout runs one of the two scenarios (each starts its own control plane). */
const only = process.env.WEFT_WIREGUARD_ONLY;
const skipFor = (scenario: 'steady' | 'rollout') => skipReason ?? (only && only !== scenario ? `WEFT_WIREGUARD_ONLY=${only}` : false);

interface Agent { node: TestNode; proc: ChildProcess; port: number; log: string; exited: Promise<number | null> }
interface Pod { name: string; node: TestNode; ip: string }

interface WgStatus { publicKey?: string; endpoint?: string; implementation?: string; encryptedPeers?: number; plainPeers?: number }

/** One control plane, one cluster of namespaces, agents started from a config dir of choice. */
class WgEnv {
  cp!: ControlPlane;
  c!: TestCluster;
  client!: KubeClient;
  logDir = '';
  readonly agents = new Map<string, Agent>();
  readonly pods: Pod[] = [];
  private podSeq = 0;

  prefix(n: TestNode): string { return `${this.c.linkPrefix}n${n.index}`; }
  dev(n: TestNode): string { return `${this.prefix(n)}.wg`; }
  keyFile(n: TestNode): string { return join(n.dataDir, 'wireguard', 'private.key'); }
  confPath(n: TestNode): string { return join(n.dataDir, 'net.d', '10-weft.conflist'); }

  async setUp(nodes: number): Promise<void> {
    this.cp = await startControlPlane({ controllerManager: true });
    for (const f of readdirSync(join(repoRoot, 'crds')).filter((x) => x.endsWith('.network.weft.dev.yaml'))) await this.cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds', f)]);
    await this.cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/nodenetworks.network.weft.dev', 'crd/ipamblocks.network.weft.dev']);
    this.client = new KubeClient(this.cp.kubeConfig);
    this.c = await TestCluster.create({ nodes, topology: 'one-subnet' });
    this.logDir = mkdtempSync(join(tmpdir(), `weft-wg-${this.c.id}-`));
    for (const n of this.c.nodes) {
      await this.cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.underlayAddress }] } }) });
    }
    console.log(`# run ${this.c.id}: agent logs in ${this.logDir}${process.env.WEFT_KEEP_AGENT_LOGS ? '' : ' (removed at the end; WEFT_KEEP_AGENT_LOGS=1 keeps them)'}`);
  }

  async tearDown(): Promise<void> {
    for (const a of this.agents.values()) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
    this.client?.close();
    this.c?.destroy();
    await this.cp?.stop();
    if (this.logDir && !process.env.WEFT_KEEP_AGENT_LOGS) rmSync(this.logDir, { recursive: true, force: true });
  }

  /** A config dir holding what render would write for host-gw with (or without) WireGuard. */
  configDir(name: string, encrypted: boolean): string {
    const dir = join(this.logDir, name);
    mkdirSync(dir, { recursive: true });
    const cfg: EffectiveConfig = { ...effectiveConfig('host-gw', MTU), ...(encrypted ? { encryption: { mode: 'WireGuard', port: PORT } } : {}) };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
    writeFileSync(join(dir, 'cni-conflist'), renderConflist(cfg));
    return dir;
  }

  async startAgent(n: TestNode, cfgDir: string): Promise<Agent> {
    const port = await freePort();
    const log = join(this.logDir, `${n.name}.${Date.now()}.log`);
    const fd = openSync(log, 'a');
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'agent',
      '--node-name', n.name, '--netns', n.netns, '--kubeconfig', this.cp.kubeconfigPath, '--config-dir', cfgDir,
      '--host-root', '/', '--cni-conf-dir', join(n.dataDir, 'net.d'), '--ipam-data-dir', join(n.dataDir, 'ipam'),
      '--health-port', String(port), '--health-host', '127.0.0.1', '--link-prefix', this.prefix(n), '--nft-table', this.c.nftTable,
      '--resync-interval', '10s', '--debounce', '20ms', '--status-min-interval', '500ms',
      '--wireguard-key', this.keyFile(n), '--wireguard-drain', DRAIN], { cwd: repoRoot, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    agentProcesses.add(proc);
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => { agentProcesses.delete(proc); r(code); }));
    const a: Agent = { node: n, proc, port, log, exited };
    this.agents.set(n.name, a);
    return a;
  }

  async get(port: number, path: string): Promise<{ status: number; text: string }> {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, text: await r.text() };
  }

  async metric(a: Agent, name: string): Promise<number> {
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await this.get(a.port, '/metrics')).text)?.[1] ?? NaN);
  }

  async waitReady(a: Agent, timeoutMs = 180_000): Promise<void> {
    await until(`agent ${a.node.name} ready (log ${a.log})`, async () => {
      if (a.proc.exitCode !== null) throw new Error(`agent ${a.node.name} exited ${a.proc.exitCode}:\n${readFileSync(a.log, 'utf8').slice(-3000)}`);
      try { return (await this.get(a.port, '/readyz')).status === 200; } catch { return false; }
    }, timeoutMs, 100);
  }

  async stopAgent(a: Agent): Promise<void> {
    a.proc.kill('SIGTERM');
    const code = await a.exited;
    assert.equal(code, 0, `agent ${a.node.name} did not stop cleanly:\n${readFileSync(a.log, 'utf8').slice(-2000)}`);
  }

  async addPod(n: TestNode): Promise<Pod> {
    const name = `wd${this.c.id}-${n.name}-q${++this.podSeq}`;
    await must(['ip', 'netns', 'add', name]);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    const conflist = JSON.parse(readFileSync(this.confPath(n), 'utf8')) as CniConflist;
    const result = await cniAdd(conflist, { containerId: name, netnsPath: `/var/run/netns/${name}`, ifName: 'eth0', hostNetns: n.netns });
    const ip = result.ips?.[0]?.address.split('/')[0];
    assert.ok(ip, `CNI ADD for ${name} returned no address`);
    const p = { name, node: n, ip };
    this.pods.push(p);
    return p;
  }

  async ping(from: Pod, to: string, extra: string[] = []): Promise<boolean> {
    return (await nsRun(from.name, ['ping', '-c1', '-W2', ...extra, to])).code === 0;
  }

  async allPairs(): Promise<string[]> {
    const pairs = this.pods.flatMap((a) => this.pods.filter((b) => b.node !== a.node).map((b) => [a, b] as const));
    const res = await Promise.all(pairs.map(async ([a, b]) => ({ a, b, ok: await this.ping(a, b.ip) })));
    return res.filter((r) => !r.ok).map((r) => `${r.a.node.name}/${r.a.ip} -> ${r.b.node.name}/${r.b.ip}`);
  }

  async blocks(): Promise<{ cidr: string; node: string }[]> {
    const list = await this.client.request<{ items: { spec: { cidr: string; node: string } }[] }>('/apis/network.weft.dev/v1/ipamblocks', { verb: 'get' });
    return list.items.map((b) => b.spec);
  }

  async wireguard(n: TestNode): Promise<WgStatus | undefined> {
    const nn = await this.client.request<{ status?: { wireguard?: WgStatus } }>(`/apis/network.weft.dev/v1/nodenetworks/${n.name}`, { verb: 'get' }).catch(() => undefined);
    return nn?.status?.wireguard;
  }

  /** Every node reports every other node encrypted (its handshake completed, routes through the device). */
  async waitAllEncrypted(timeoutMs = 60_000): Promise<void> {
    const peers = this.c.nodes.length - 1;
    await until('every node encrypting to every peer', async () => (await Promise.all(this.c.nodes.map((n) => this.wireguard(n)))).every((w) => w?.encryptedPeers === peers && w.publicKey), timeoutMs, 200);
    await until('every peer route through the WireGuard device', async () => (await Promise.all(this.c.nodes.map(async (n) => (await this.routes(n)).filter((r) => r.includes(` dev ${this.dev(n)} `)).length))).every((k) => k === peers), 15_000, 100);
  }

  routes(n: TestNode): Promise<string[]> {
    return must(['ip', '-n', n.netns, 'route', 'show', 'proto', '87']).then((t) => t.split('\n').filter(Boolean).map((l) => `${l} `));
  }

  /** Continuous ping from every pod to a pod on the next node; resolves with [sent, received] per pinger. */
  pingers(count: number, intervalS = 0.01): Promise<{ from: string; sent: number; received: number; out: string }[]> {
    const firsts = this.c.nodes.map((n) => this.pods.find((p) => p.node === n)!);
    return Promise.all(firsts.map(async (src, i) => {
      const dst = firsts[(i + 1) % firsts.length]!;
      const r = await nsRun(src.name, ['ping', '-q', '-i', String(intervalS), '-c', String(count), '-W', '1', dst.ip], { timeoutMs: 300_000 });
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      return { from: `${src.node.name}->${dst.node.name}`, sent: Number(m?.[1] ?? NaN), received: Number(m?.[2] ?? NaN), out: r.stdout + r.stderr };
    }));
  }
}

describe('WireGuard between nodes, encrypted from the start (host-gw underneath)', { skip: skipFor('steady') }, () => {
  const env = new WgEnv();
  let cfgDir = '';

  before(async () => {
    await env.setUp(3);
    cfgDir = env.configDir('encrypted', true);
    const started = await Promise.all(env.c.nodes.map((n) => env.startAgent(n, cfgDir)));
    for (const a of started) await env.waitReady(a);
    for (const n of env.c.nodes) await env.addPod(n);
    await env.addPod(env.c.nodes[0]!);
    await env.waitAllEncrypted();
  });
  after(() => env.tearDown());

  test('every pod reaches every pod through the WireGuard device; status names the implementation; the private key stays in its 0600 file', async () => {
    assert.deepEqual(await env.allPairs(), []);
    const kernelModule = spawnSync('sh', ['-c', 'ip link add wgprobe$$ type wireguard && ip link del wgprobe$$']).status === 0;
    for (const n of env.c.nodes) {
      const w = (await env.wireguard(n))!;
      assert.equal(w.implementation, kernelModule ? 'Kernel' : 'Userspace');
      assert.equal(w.endpoint, `${n.underlayAddress}:${PORT}`);
      const key = readFileSync(env.keyFile(n), 'utf8').trim();
      assert.equal(statSync(env.keyFile(n)).mode & 0o777, 0o600, 'private key file mode');
      assert.equal((await run(['wg', 'pubkey'], { input: `${key}\n` })).stdout.trim(), w.publicKey, 'published key is the file\'s public key');
      const nn = JSON.stringify(await env.client.request(`/apis/network.weft.dev/v1/nodenetworks/${n.name}`, { verb: 'get' }));
      assert.ok(!nn.includes(key), 'the private key is not in the NodeNetwork');
      for (const f of readdirSync(env.logDir).filter((x) => x.startsWith(`${n.name}.`))) assert.ok(!readFileSync(join(env.logDir, f), 'utf8').includes(key), 'the private key is not in the agent log');
      const link = JSON.parse(await must(['ip', '-n', n.netns, '-json', '-d', 'link', 'show', env.dev(n)]))[0];
      assert.equal(link.mtu, MTU);
      assert.equal(link.linkinfo.info_kind, kernelModule ? 'wireguard' : 'tun');
      const dump = (await nsRun(n.netns, ['wg', 'show', env.dev(n), 'dump'])).stdout.trim().split('\n');
      assert.equal(dump.length, 3, 'device line + one line per peer');
      const blocks = await env.blocks();
      for (const peer of dump.slice(1)) {
        const [pub, , endpoint, allowed] = peer.split('\t');
        const owner = env.c.nodes.find((x) => x !== n && allowed === blocks.filter((b) => b.node === x.name).map((b) => b.cidr).sort().join(','));
        assert.ok(owner, `peer ${pub} allows exactly one other node's block (${allowed})`);
        assert.equal(endpoint, `${owner.underlayAddress}:${PORT}`);
      }
    }
  });

  test('the underlay between two nodes carries only WireGuard UDP: no pod address in clear', async () => {
    const [n1] = env.c.nodes;
    const port = `wd${env.c.id}n${n1!.index}`; // n1's port on the underlay bridge
    const file = join(env.logDir, 'underlay.pcap');
    const cap = spawn('ip', ['netns', 'exec', env.c.ul, 'tcpdump', '-i', port, '-nn', '-U', '-w', file, 'ip'], { stdio: 'ignore' });
    await sleep(1_000);
    assert.deepEqual(await env.allPairs(), []);
    const [a, b] = [env.pods.find((p) => p.node === n1)!, env.pods.find((p) => p.node === env.c.nodes[1])!];
    assert.equal((await nsRun(a.name, ['ping', '-q', '-c', '50', '-i', '0.01', '-s', '1000', b.ip])).code, 0);
    // TCP too: a pod's HTTP-like exchange through the tunnel.
    const server = spawn('ip', ['netns', 'exec', b.name, 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
    await sleep(500);
    const client = await nsRun(a.name, ['iperf3', '-c', b.ip, '-p', '5201', '-t', '1', '-J'], { timeoutMs: 30_000 });
    server.kill();
    await sleep(500);
    cap.kill('SIGINT');
    await new Promise((r) => cap.once('exit', r));
    const lines = (await must(['tcpdump', '-nn', '-t', '-r', file])).split('\n').filter(Boolean);
    const wg = new RegExp(`^IP (198\\.18\\.0\\.\\d+)\\.${PORT} > (198\\.18\\.0\\.\\d+)\\.${PORT}: UDP, length \\d+$`);
    const clear = lines.filter((l) => /10\.244\./.test(l));
    const other = lines.filter((l) => !wg.test(l));
    console.log(`# underlay capture on ${port}: ${lines.length} IPv4 packets, ${lines.length - other.length} WireGuard UDP/${PORT}, ${clear.length} with a pod address; iperf3 ${client.code === 0 ? 'ran' : `failed: ${client.stderr.slice(0, 200)}`}`);
    assert.equal(client.code, 0, 'TCP between the pods works');
    assert.ok(lines.length - other.length > 100, `expected the pings and the TCP stream as WireGuard packets, saw ${lines.length - other.length}`);
    assert.deepEqual(clear, [], 'no pod address on the underlay');
    assert.deepEqual(other, [], 'nothing but WireGuard between the nodes');
  });

  test(`DF pings at the pod MTU ${MTU} pass through the tunnel; one byte more fails`, async () => {
    const [a, b] = [env.pods.find((p) => p.node === env.c.nodes[0])!, env.pods.find((p) => p.node === env.c.nodes[2])!];
    assert.ok(await env.ping(a, b.ip, ['-M', 'do', '-s', String(MTU - 28)]), `DF ping of ${MTU - 28} bytes (an IP packet of ${MTU}) failed`);
    assert.ok(!(await env.ping(a, b.ip, ['-M', 'do', '-s', String(MTU - 27)])), `DF ping of ${MTU - 27} bytes passed`);
    // The node's own address toward a remote pod goes through the device too (source = its tunnel address).
    assert.equal((await nsRun(env.c.nodes[0]!.netns, ['ping', '-c1', '-W2', b.ip])).code, 0, 'node -> remote pod');
  });

  test('agents restarted under continuous ping: zero packets lost, zero changes, the tunnel untouched', { timeout: 120_000 }, async () => {
    const count = 1500;
    const dumps = async () => Promise.all(env.c.nodes.map(async (n) => (await nsRun(n.netns, ['wg', 'show', env.dev(n), 'public-key'])).stdout.trim()));
    const keysBefore = await dumps();
    const pinging = env.pingers(count, 0.005);
    await sleep(300);
    const restarted: Agent[] = [];
    for (const n of env.c.nodes) {
      await env.stopAgent(env.agents.get(n.name)!);
      restarted.push(await env.startAgent(n, cfgDir));
    }
    for (const a of restarted) await env.waitReady(a);
    await sleep(1_000);
    const results = await pinging;
    const changes = await Promise.all(restarted.map((a) => env.metric(a, 'weft_node_kernel_changes_total')));
    console.log(`# WireGuard: restart under ping: ${results.map((r) => `${r.from} ${r.received}/${r.sent}`).join(', ')}; kernel changes by the restarted agents: ${changes.join(', ')}`);
    for (const r of results) assert.equal(r.received, count, `${r.from} lost ${count - r.received} packets\n${r.out}`);
    assert.deepEqual(changes, env.c.nodes.map(() => 0), 'a restarted agent found the kernel and the device right');
    assert.deepEqual(await dumps(), keysBefore, 'same keys after the restart');
  });
});

describe('WireGuard switched on, then off, under continuous pod-to-pod traffic', { skip: skipFor('rollout') }, () => {
  const env = new WgEnv();
  let plain = '';
  let encrypted = '';

  before(async () => {
    await env.setUp(3);
    plain = env.configDir('plain', false);
    encrypted = env.configDir('encrypted', true);
    const started = await Promise.all(env.c.nodes.map((n) => env.startAgent(n, plain)));
    for (const a of started) await env.waitReady(a);
    for (const n of env.c.nodes) await env.addPod(n);
    assert.deepEqual(await env.allPairs(), []);
  });
  after(() => env.tearDown());

  /** Replaces every agent, one at a time, with one running cfgDir, while the pods ping each other. */
  async function rollTo(cfgDir: string, what: string, settle: () => Promise<void>): Promise<void> {
    const count = 9000; // 90 s at 10 ms: the roll and the settling fit inside
    const pinging = env.pingers(count);
    await sleep(500);
    const t0 = Date.now();
    for (const n of env.c.nodes) {
      await env.stopAgent(env.agents.get(n.name)!);
      await env.waitReady(await env.startAgent(n, cfgDir));
    }
    await settle();
    const took = Date.now() - t0;
    const results = await pinging;
    console.log(`# WireGuard ${what} under ping (roll + settle ${took} ms): ${results.map((r) => `${r.from} ${r.received}/${r.sent}`).join(', ')}`);
    assert.ok(took < count * 10 - 2_000, `the roll took ${took} ms, longer than the pings run`);
    for (const r of results) assert.equal(r.received, count, `${r.from} lost ${count - r.received} packets while ${what}\n${r.out}`);
  }

  test('switching encryption on agent by agent loses no packet; afterwards every peer is encrypted', { timeout: 240_000 }, async () => {
    await rollTo(encrypted, 'switched on', () => env.waitAllEncrypted());
    assert.deepEqual(await env.allPairs(), []);
  });

  test('switching it off agent by agent loses no packet; the devices drain and are deleted', { timeout: 240_000 }, async () => {
    await rollTo(plain, 'switched off', async () => {
      await until('every WireGuard device deleted after draining', async () => {
        const left = await Promise.all(env.c.nodes.map(async (n) => (await nsRun(n.netns, ['ip', 'link', 'show', 'dev', env.dev(n)])).code === 0));
        return left.every((x) => !x);
      }, 60_000, 200);
    });
    for (const n of env.c.nodes) {
      assert.equal(await env.wireguard(n), undefined, `${n.name} publishes no WireGuard status`);
      assert.ok((await env.routes(n)).every((r) => !r.includes('.wg ')), 'no route through a WireGuard device');
    }
    assert.deepEqual(await env.allPairs(), []);
  });
});
