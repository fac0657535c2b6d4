// Real weft-node agents (the CLI, one process per node, `--netns` into the node's namespace,
// API traffic from the host side to a real kube-apiserver on loopback) on the harness's
// namespaces, for host-gw, VXLAN and BGP (BIRD 2 started by the agents): pods made by real CNI ADD through the conflist each agent
// wrote; all-pairs reachability; node added / removed convergence (measured); agent restart
// under continuous ping (zero loss, zero kernel changes); 1000 concurrent CNI ADD/DEL cycles
// (no duplicate address, leak scans running); block exhaustion; injected leaks released.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../../components/node/backends/index.ts';
import { KubeClient } from '../../kube/index.ts';
import { renderBirdTemplate } from '../../render/bird.ts';
import { renderConflist } from '../../render/conflist.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { POOL, TestCluster, type TestNode } from './support/cluster.ts';
import { cniAdd, cniDel, type CniConflist, type CniResult } from '../../cli/sandbox/cni-runtime.ts';
import { dataplaneUnavailable, must, nsRun, sleep } from '../../cli/sandbox/exec.ts';
import { agentProcesses, effectiveConfig, freePort, until } from './support/agents.ts';

const skipReason = dataplaneUnavailable() ?? await testenvAvailable().then((e) => (e.ok ? null : e.reason));
const MAIN = join(repoRoot, 'components/node/main.ts');
const BLOCK_SIZE = 28; // 13 usable addresses: exhaustion takes 12 pods, not 55
const GRACE_MS = 3_000;
/** A configured BGP peer chosen by a Node label (an address of the cluster's external namespace). */
const TOR = { address: '198.18.0.250', asNumber: 65000, label: 'weft.dev/test-tor' };

interface Agent { node: TestNode; proc: ChildProcess; port: number; log: string; exited: Promise<number | null> }
interface Pod { name: string; node: TestNode; ip: string; conflist: CniConflist; result: CniResult }

function scenario(mode: BackendName, mtu: number): void {
  describe(`weft-node agents, ${mode} (pod MTU ${mtu})`, { skip: skipReason ?? false }, () => {
    let cp: ControlPlane;
    let c: TestCluster;
    let client: KubeClient;
    let cfgDir: string;
    let logDir: string;
    const agents = new Map<string, Agent>();
    const pods: Pod[] = [];

    const confPath = (n: TestNode) => join(n.dataDir, 'net.d', '10-weft.conflist');
    const storeDir = (n: TestNode) => join(n.dataDir, 'ipam', 'weft');
    const weftRoutes = (n: TestNode) => must(['ip', '-n', n.netns, 'route', 'show', 'proto', '87']);
    // Routes to other nodes' blocks: Weft's own, or in BGP mode BIRD's (proto bird, metric 87).
    const peerRoutes = async (n: TestNode) => (await weftRoutes(n)) + (mode === 'bgp' ? await must(['ip', '-n', n.netns, 'route', 'show', 'proto', 'bird']) : '');
    const api = <T>(path: string) => client.request<T>(path, { verb: 'get' });
    const blocksOf = async (node: string) => (await api<{ items: { spec: { cidr: string; node: string } }[] }>('/apis/network.weft.dev/v1/ipamblocks')).items.filter((b) => b.spec.node === node).map((b) => b.spec.cidr);
    const get = async (port: number, path: string) => { const r = await fetch(`http://127.0.0.1:${port}${path}`); return { status: r.status, text: await r.text() }; };
    const metric = async (a: Agent, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await get(a.port, '/metrics')).text)?.[1] ?? NaN);

    async function createNode(n: TestNode): Promise<void> {
      await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.underlayAddress }] } }) });
    }

    async function startAgent(n: TestNode): Promise<Agent> {
      const port = await freePort();
      const log = join(logDir, `${n.name}.${Date.now()}.log`);
      const fd = openSync(log, 'a');
      const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'agent',
        '--node-name', n.name, '--netns', n.netns, '--kubeconfig', cp.kubeconfigPath, '--config-dir', cfgDir,
        '--host-root', '/', '--cni-conf-dir', join(n.dataDir, 'net.d'), '--ipam-data-dir', join(n.dataDir, 'ipam'),
        '--health-port', String(port), '--health-host', '127.0.0.1', '--link-prefix', c.linkPrefix, '--nft-table', c.nftTable,
        '--resync-interval', '10s', '--debounce', '20ms', '--leak-grace-period', `${GRACE_MS}ms`, '--leak-scan-interval', '500ms',
        '--status-min-interval', '1s', '--bird-config', join(n.dataDir, 'bird', 'bird.conf'), '--bird-socket', join(n.dataDir, 'bird', 'bird.ctl'),
        '--bird-pid-file', join(n.dataDir, 'bird', 'bird.pid')], { cwd: repoRoot, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      agentProcesses.add(proc);
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => { agentProcesses.delete(proc); r(code); }));
      const a: Agent = { node: n, proc, port, log, exited };
      agents.set(n.name, a);
      return a;
    }

    // 60 s: a tsx agent on a loaded 2-core CI machine takes over 30 s to start.
    async function waitReady(a: Agent, timeoutMs = 60_000): Promise<void> {
      await until(`agent ${a.node.name} ready (log ${a.log})`, async () => {
        if (a.proc.exitCode !== null) throw new Error(`agent ${a.node.name} exited ${a.proc.exitCode}:\n${readFileSync(a.log, 'utf8').slice(-3000)}`);
        try { return (await get(a.port, '/readyz')).status === 200; } catch { return false; }
      }, timeoutMs, 100);
    }

    async function stopAgent(a: Agent): Promise<void> {
      a.proc.kill('SIGTERM');
      const code = await a.exited;
      assert.equal(code, 0, `agent ${a.node.name} did not stop cleanly:\n${readFileSync(a.log, 'utf8').slice(-2000)}`);
    }

    let podSeq = 0;
    async function addPod(n: TestNode): Promise<Pod> {
      const name = `wd${c.id}-${n.name}-q${++podSeq}`;
      await must(['ip', 'netns', 'add', name]);
      await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
      const conflist = JSON.parse(readFileSync(confPath(n), 'utf8')) as CniConflist;
      const result = await cniAdd(conflist, { containerId: name, netnsPath: `/var/run/netns/${name}`, ifName: 'eth0', hostNetns: n.netns });
      const ip = result.ips?.[0]?.address.split('/')[0];
      assert.ok(ip, `CNI ADD for ${name} returned no address`);
      const p = { name, node: n, ip, conflist, result };
      pods.push(p);
      return p;
    }

    async function delPod(p: Pod): Promise<void> {
      await cniDel(p.conflist, { containerId: p.name, netnsPath: `/var/run/netns/${p.name}`, ifName: 'eth0', hostNetns: p.node.netns }, p.result);
      await must(['ip', 'netns', 'del', p.name]);
      pods.splice(pods.indexOf(p), 1);
    }

    const ping = async (from: Pod, to: string, extra: string[] = []) => (await nsRun(from.name, ['ping', '-c1', '-W2', ...extra, to])).code === 0;

    async function allPairs(): Promise<string[]> {
      const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
      const res = await Promise.all(pairs.map(async ([a, b]) => ({ a, b, ok: await ping(a, b.ip) })));
      return res.filter((r) => !r.ok).map((r) => `${r.a.node.name}/${r.a.ip} -> ${r.b.node.name}/${r.b.ip}`);
    }

    before(async () => {
      cp = await startControlPlane({ controllerManager: true });
      for (const f of readdirSync(join(repoRoot, 'crds')).filter((x) => x.endsWith('.network.weft.dev.yaml'))) await cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds', f)]);
      await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/nodenetworks.network.weft.dev', 'crd/ipamblocks.network.weft.dev']);
      client = new KubeClient(cp.kubeConfig);
      c = await TestCluster.create({ nodes: 4, topology: 'one-subnet' });
      logDir = mkdtempSync(join(tmpdir(), `weft-agents-${c.id}-`));
      cfgDir = join(logDir, 'config');
      mkdirSync(cfgDir);
      const cfg = effectiveConfig(mode, mtu, BLOCK_SIZE);
      // A configured peer no node selects until a test labels one (see the last test).
      if (mode === 'bgp') cfg.bgp.peers = [{ peerIP: TOR.address, asNumber: TOR.asNumber, nodeSelector: `${TOR.label}=yes` }];
      writeFileSync(join(cfgDir, 'config.json'), JSON.stringify(cfg, null, 2));
      writeFileSync(join(cfgDir, 'cni-conflist'), renderConflist(cfg));
      if (mode === 'bgp') writeFileSync(join(cfgDir, 'bird.conf'), renderBirdTemplate(cfg)!);
      console.log(`# run ${c.id}: agent logs in ${logDir}${process.env.WEFT_KEEP_AGENT_LOGS ? '' : ' (removed at the end; WEFT_KEEP_AGENT_LOGS=1 keeps them)'}`);
      // Three nodes from the start; the fourth joins in a test.
      for (const n of c.nodes.slice(0, 3)) await createNode(n);
      const started = c.nodes.slice(0, 3).map((n) => startAgent(n));
      for (const a of await Promise.all(started)) await waitReady(a);
      for (const n of c.nodes.slice(0, 3)) await addPod(n);
      await addPod(c.nodes[0]!);
      if (mode === 'bgp') {
        await until('every pod pair reachable', async () => (await allPairs()).length === 0, 30_000, 200);
      }
    });

    after(async () => {
      for (const a of agents.values()) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
      client?.close();
      c?.destroy();
      await cp?.stop();
      if (logDir && !process.env.WEFT_KEEP_AGENT_LOGS) rmSync(logDir, { recursive: true, force: true });
    });

    test('every pod reaches every other pod through the conflist each agent wrote; path MTU is the pod MTU', async () => {
      for (const n of c.nodes.slice(0, 3)) {
        const conf = JSON.parse(readFileSync(confPath(n), 'utf8'));
        assert.deepEqual(conf.plugins[0].ipam.ranges.flat().map((r: { subnet: string }) => r.subnet), await blocksOf(n.name));
        assert.equal(conf.plugins[0].mtu, mtu);
      }
      assert.deepEqual(await allPairs(), []);
      const [a, b] = [pods[0]!, pods[1]!];
      assert.ok(await ping(a, b.ip, ['-M', 'do', '-s', String(mtu - 28)]), `DF ping of ${mtu - 28} bytes failed`);
      assert.ok(!(await ping(a, b.ip, ['-M', 'do', '-s', String(mtu - 27)])), `DF ping of ${mtu - 27} bytes passed`);
      const nn = JSON.parse((await cp.kubectl(['get', 'nodenetwork', 'n1', '-o', 'json'])).stdout);
      assert.equal(nn.status.address, '198.18.0.11/24');
      assert.equal(nn.status.interface, 'eth0');
      assert.equal(nn.status.conditions[0].status, 'True', JSON.stringify(nn.status.conditions));
      if (mode === 'vxlan') {
        const link = JSON.parse(await must(['ip', '-n', c.nodes[0]!.netns, '-json', 'link', 'show', `${c.linkPrefix}.vxlan`]))[0];
        assert.equal(nn.status.vtep.mac, link.address, 'VTEP MAC read back from the kernel');
      }
      assert.equal(nn.status.kernel.sysctls['net/ipv4/ip_forward'], '1');
      // natOutgoing from config.json reached the kernel layer: the node's nft table masquerades the pool.
      assert.match(await must(['ip', 'netns', 'exec', c.nodes[0]!.netns, 'nft', 'list', 'table', 'inet', c.nftTable]), /10\.244\.0\.0\/16[\s\S]*masquerade/);
      if (mode === 'bgp') {
        const withSessions = await until('n1 reporting two Established BGP sessions', async () => {
          const o = JSON.parse((await cp.kubectl(['get', 'nodenetwork', 'n1', '-o', 'json'])).stdout);
          return o.status.bgp?.sessions?.length === 2 && o.status.bgp.sessions.every((x: { state: string }) => x.state === 'Established') && o;
        }, 30_000, 200);
        assert.deepEqual(withSessions.status.bgp.sessions.map((x: { peer: string }) => x.peer).sort(), ['198.18.0.12', '198.18.0.13']);
      }
      const diag = JSON.parse((await get(agents.get('n1')!.port, '/debug/diagnose')).text);
      assert.ok(Array.isArray(diag.interfaces) && diag.interfaces.some((i: { ifname: string }) => i.ifname === 'eth0'), 'diagnose lists the node\'s interfaces');
      assert.ok(Array.isArray(diag.routes.weft) && diag.routes.weft.length > 0, 'diagnose lists Weft routes');
      assert.ok(diag.cniConfDir.entries.some((e: { name: string }) => e.name === '10-weft.conflist'));
      assert.equal(diag.agent.node, 'n1');
      assert.equal(diag.sysctls.fresh, true, 'diagnose reads sysctls at request time');
      assert.equal(diag.sysctls.values['net/ipv4/ip_forward'], 1, 'ip_forward as the kernel has it now');
      if (mode === 'vxlan') assert.ok(Array.isArray(diag.fdb) && diag.fdb.length === 2, `diagnose lists the VXLAN FDB: ${JSON.stringify(diag.fdb)}`);
    });

    test('a node added is reachable from every pod within 2 s of it publishing its block', { timeout: 60_000 }, async () => {
      const n4 = c.nodes[3]!;
      await createNode(n4);
      const spawnedAt = Date.now();
      const a4 = await startAgent(n4);
      // t0: the cluster knows the node — its NodeNetwork has an address and it holds a block.
      const block = await until('n4 published', async () => {
        const nn = await api<{ status?: { address?: string } }>('/apis/network.weft.dev/v1/nodenetworks/n4').catch(() => undefined);
        const b = await blocksOf('n4');
        return nn?.status?.address && b.length ? b[0] : undefined;
      }, 30_000, 10);
      const t0 = Date.now();
      await until('routes to n4 on every other node', async () => (await Promise.all(c.nodes.slice(0, 3).map(peerRoutes))).every((r) => r.includes(block!)), 30_000, 10);
      const converged = Date.now() - t0;
      console.log(`# ${mode}: node added -> routes on all peers ${converged} ms after it published (agent process start to publish ${t0 - spawnedAt} ms)`);
      // BGP: a new session waits BIRD's `connect delay time` (default 5 s) before its first
      // connect; the template does not lower it, so BGP gets that on top of the 2 s.
      const limit = mode === 'bgp' ? 7_500 : 2_000;
      assert.ok(converged <= limit, `took ${converged} ms (limit ${limit} ms)`);
      await waitReady(a4);
      const p = await addPod(n4);
      const reachable = await until('the new pod answers from every node', async () => (await Promise.all(pods.filter((x) => x !== p).map((x) => ping(x, p.ip)))).every(Boolean), mode === 'bgp' ? 10_000 : 2_000, 50);
      assert.ok(reachable);
      assert.deepEqual(await allPairs(), []);
    });

    test('agents restarted under continuous ping: zero packets lost, zero kernel changes', { timeout: 90_000 }, async () => {
      const [src, dst] = [pods.find((p) => p.node.index === 1)!, pods.find((p) => p.node.index === 2)!];
      const count = 1500;
      const before1 = await peerRoutes(src.node);
      const pinger = nsRun(src.name, ['ping', '-q', '-i', '0.005', '-c', String(count), '-W', '1', dst.ip], { timeoutMs: 60_000 });
      await sleep(300);
      const restarted: Agent[] = [];
      for (const n of [src.node, dst.node]) {
        await stopAgent(agents.get(n.name)!);
        if (n === src.node) assert.equal(await peerRoutes(n), before1, 'SIGTERM left the routes alone');
        restarted.push(await startAgent(n));
      }
      for (const a of restarted) await waitReady(a);
      // A few more passes: resync triggered by the informers' initial adds and by timers.
      await sleep(1_000);
      const r = await pinger;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      assert.ok(m, `ping output: ${r.stdout}${r.stderr}`);
      const changes = await Promise.all(restarted.map((a) => metric(a, 'weft_node_kernel_changes_total')));
      console.log(`# ${mode}: restart under ping: ${m[2]}/${m[1]} received, kernel changes by the restarted agents: ${changes.join(', ')}`);
      assert.equal(Number(m[2]), count, `lost ${count - Number(m[2])} packets`);
      assert.deepEqual(changes, [0, 0], 'a restarted agent found the kernel right');
      assert.equal(await peerRoutes(src.node), before1);
      if (mode === 'bgp') {
        for (const a of restarted) {
          const d = JSON.parse((await get(a.port, '/debug/diagnose')).text);
          assert.equal(d.agent.lastSync.daemon.action, 'none', 'the restarted agent left BIRD alone');
        }
      }
    });

    // An agent pod replaced (upgrade, eviction) takes BIRD with it: no NOTIFICATION, the kernel
    // keeps its routes (persist), the peers keep the node's (RFC 4724), and the BIRD the next
    // agent starts recovers (-R) instead of pruning the kernel. On kind the upgrade lost 51/540
    // pings before graceful restart.
    test('BIRD and the agent SIGKILLed on one node and started again: zero packets lost between every pod pair', { skip: mode !== 'bgp' && `BGP only (this suite runs ${mode})`, timeout: 120_000 }, async () => {
      const victim = c.nodes[1]!;
      const pidFile = join(victim.dataDir, 'bird', 'bird.pid');
      const birdPid = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(birdPid > 0, `BIRD's pid file ${pidFile}`);
      const routesBefore = await Promise.all(c.nodes.slice(0, 3).map(peerRoutes));
      const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
      const count = 1000; // one every 20 ms: 20 s of traffic per pair
      const pingers = pairs.map(([a, b]) => nsRun(a.name, ['ping', '-q', '-i', '0.02', '-c', String(count), '-W', '1', b.ip], { timeoutMs: 90_000 }).then((r) => ({ a, b, r })));
      await sleep(1_000);
      const old = agents.get(victim.name)!;
      old.proc.kill('SIGKILL');
      process.kill(birdPid, 'SIGKILL');
      await old.exited;
      await until('the killed BIRD gone', () => { try { process.kill(birdPid, 0); return false; } catch { return true; } }, 5_000, 10);
      // The peers hold n2's routes as stale, n2's kernel keeps its own: nothing changed yet.
      assert.deepEqual(await Promise.all(c.nodes.slice(0, 3).map(peerRoutes)), routesBefore, 'routes kept while BIRD is down');
      await sleep(1_000);
      const restarted = await startAgent(victim);
      await waitReady(restarted);
      await until(`${victim.name}'s BIRD recovered: every session Established, recovery over`, async () => {
        const status = await must(['birdc', '-s', join(victim.dataDir, 'bird', 'bird.ctl'), 'show', 'status']).catch(() => '');
        const protocols = await must(['birdc', '-s', join(victim.dataDir, 'bird', 'bird.ctl'), 'show', 'protocols']).catch(() => '');
        const bgpLines = protocols.split('\n').filter((l) => /\sBGP\s/.test(l));
        return /Daemon is up and running/.test(status) && !/Graceful restart recovery in progress/.test(status)
          && bgpLines.length === 3 && bgpLines.every((l) => /Established/.test(l));
      }, 60_000, 200);
      const results = await Promise.all(pingers);
      const lost: string[] = [];
      let sent = 0;
      for (const { a, b, r } of results) {
        const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
        assert.ok(m, `ping ${a.ip} -> ${b.ip}: ${r.stdout}${r.stderr}`);
        sent += Number(m[1]);
        if (Number(m[2]) !== Number(m[1])) lost.push(`${a.node.name}/${a.ip} -> ${b.node.name}/${b.ip}: ${Number(m[1]) - Number(m[2])} of ${m[1]}`);
      }
      console.log(`# bgp: BIRD+agent SIGKILLed on ${victim.name} and restarted under ping of ${pairs.length} pod pairs: ${sent} sent, lost ${lost.length ? lost.join('; ') : 'none'}`);
      assert.match(readFileSync(restarted.log, 'utf8'), /"action":"recovered"/, 'the new BIRD was started in graceful-restart recovery (-R)');
      assert.deepEqual(lost, [], 'packets lost while BIRD restarted');
      assert.deepEqual(await Promise.all(c.nodes.slice(0, 3).map(peerRoutes)), routesBefore, 'the same routes after the recovery');
    });

    test('1000 CNI ADD/DEL cycles (8 in parallel) never hand out an address twice', { timeout: 600_000 }, async () => {
      const n = c.nodes[0]!;
      const live = new Map<string, string>(pods.filter((p) => p.node === n).map((p) => [p.ip, p.name]));
      const conflist = JSON.parse(readFileSync(confPath(n), 'utf8')) as CniConflist;
      const seen = new Set<string>();
      let cycles = 0;
      const dupes: string[] = [];
      const t0 = Date.now();
      const worker = async (w: number) => {
        const name = `wd${c.id}-${n.name}-w${w}`;
        await must(['ip', 'netns', 'add', name]);
        try {
          while (cycles < 1000) {
            cycles++;
            const rt = { containerId: `${name}-${cycles}`, netnsPath: `/var/run/netns/${name}`, ifName: 'eth0', hostNetns: n.netns };
            const res = await cniAdd(conflist, rt);
            const ip = res.ips![0]!.address.split('/')[0]!;
            if (live.has(ip)) dupes.push(`${ip} given to ${rt.containerId} while held by ${live.get(ip)}`);
            live.set(ip, rt.containerId);
            seen.add(ip);
            await sleep(Math.random() * 20);
            live.delete(ip);
            await cniDel(conflist, rt, res);
          }
        } finally { await must(['ip', 'netns', 'del', name]); }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      console.log(`# ${mode}: ${cycles} ADD/DEL cycles in ${Date.now() - t0} ms over ${seen.size} distinct addresses`);
      assert.deepEqual(dupes, []);
      const left = readdirSync(storeDir(n)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort();
      assert.deepEqual(left, pods.filter((p) => p.node === n).map((p) => p.ip).sort(), 'only the long-lived pods hold addresses');
      assert.deepEqual(await allPairs(), [], 'the long-lived pods kept their addresses and routes (the leak scan left them alone)');
    });

    test('block exhaustion: the agent claims a second block, and pods on it are reachable', { timeout: 120_000 }, async () => {
      const n = c.nodes[2]!;
      const first = await blocksOf(n.name);
      assert.equal(first.length, 1);
      // 12 of 13 addresses (92 %) in use claims another block.
      while (readdirSync(storeDir(n)).filter((f) => /^\d/.test(f)).length < 12) await addPod(n);
      const two = await until('a second block', async () => { const b = await blocksOf(n.name); return b.length === 2 && b; }, 15_000, 50);
      await until('the second range in the conflist', () => JSON.parse(readFileSync(confPath(n), 'utf8')).plugins[0].ipam.ranges.flat().length === 2, 10_000, 50);
      const second = two.find((b) => b !== first[0])!;
      await until('routes to the second block everywhere', async () => (await Promise.all(c.nodes.filter((x) => x !== n).map(peerRoutes))).every((r) => r.includes(second)), 5_000, 20);
      const p1 = await addPod(n);
      const p2 = await addPod(n);
      const onSecond = [p1, p2].find((p) => p.ip.startsWith(second.split('.').slice(0, 3).join('.')) && Number(p.ip.split('.')[3]) >= Number(second.split('/')[0]!.split('.')[3]) && Number(p.ip.split('.')[3]) < Number(second.split('/')[0]!.split('.')[3]) + 16);
      assert.ok(onSecond, `a pod from the second block ${second}: got ${p1.ip}, ${p2.ip}`);
      assert.ok(await ping(pods.find((p) => p.node.index === 1)!, onSecond.ip), 'pod in the second block reachable from node 1');
    });

    test('injected leaked host-local reservations are released after the grace period; live pods keep theirs', { timeout: 60_000 }, async () => {
      const n = c.nodes[1]!;
      const [block] = await blocksOf(n.name);
      const base = block!.split('/')[0]!.split('.').map(Number);
      const held = new Set(readdirSync(storeDir(n)));
      const leaked: string[] = [];
      for (let i = 13; leaked.length < 2 && i > 1; i--) {
        const ip = [base[0], base[1], base[2], base[3]! + i].join('.');
        if (!held.has(ip)) { writeFileSync(join(storeDir(n), ip), `dead-sandbox-${i}\neth0`); leaked.push(ip); }
      }
      assert.equal(leaked.length, 2);
      const t0 = Date.now();
      await until('leaked reservations released', () => leaked.every((ip) => !existsSync(join(storeDir(n), ip))), 20_000, 50);
      const took = Date.now() - t0;
      console.log(`# ${mode}: injected leaks released after ${took} ms (grace ${GRACE_MS} ms)`);
      assert.ok(took >= GRACE_MS - 600, `released before the grace period: ${took} ms`);
      for (const p of pods.filter((x) => x.node === n)) assert.ok(existsSync(join(storeDir(n), p.ip)), `live pod ${p.ip} (no Pod object in the API) kept its address`);
      // The counter moves once the whole release batch is done, a moment after the files go.
      await until('released leaks counted', async () => (await metric(agents.get(n.name)!, 'weft_node_ipam_leaked_released_total')) === 2, 10_000, 50);
    });

    // The agent once built its BGP backend, and with it the configured peers its Node's labels
    // select, only when the backend changed: a label set later was never seen (issue 15).
    test('a Node label that selects a configured BGP peer reaches BIRD while the agent runs, and its removal too', { skip: mode !== 'bgp' && `BGP only (this suite runs ${mode})`, timeout: 60_000 }, async () => {
      const n = c.nodes[0]!;
      const birdConf = join(n.dataDir, 'bird', 'bird.conf');
      const hasTor = () => readFileSync(birdConf, 'utf8').includes(`neighbor ${TOR.address} as ${TOR.asNumber};`);
      assert.ok(!hasTor(), 'no node selects the peer yet');
      await cp.kubectl(['label', 'node', n.name, `${TOR.label}=yes`]);
      await until(`${n.name}'s BIRD configuration to peer with ${TOR.address}`, hasTor, 15_000, 50);
      await until(`${n.name} to report a BGP session with ${TOR.address}`, async () => {
        const o = JSON.parse((await cp.kubectl(['get', 'nodenetwork', n.name, '-o', 'json'])).stdout);
        return o.status.bgp?.sessions?.some((s: { peer: string }) => s.peer === TOR.address);
      }, 15_000, 100);
      for (const other of c.nodes.slice(1, 3)) assert.ok(!readFileSync(join(other.dataDir, 'bird', 'bird.conf'), 'utf8').includes(TOR.address), `${other.name} is not labelled`);
      await cp.kubectl(['label', 'node', n.name, `${TOR.label}-`]);
      await until(`${n.name}'s BIRD configuration to drop ${TOR.address}`, () => !hasTor(), 15_000, 50);
    });

    test('a node removed: its routes leave every other node within 2 s', { timeout: 120_000 }, async () => {
      const n4 = c.nodes[3]!;
      const blocks = await blocksOf('n4');
      const own = await peerRoutes(n4);
      await stopAgent(agents.get('n4')!);
      assert.equal(await peerRoutes(n4), own, 'a stopped agent leaves its kernel alone');
      const t0 = Date.now();
      await cp.kubectl(['delete', 'node', 'n4', '--wait=false']);
      let nnGone = 0;
      const others = c.nodes.slice(0, 3);
      await until('n4 routes gone everywhere', async () => {
        if (!nnGone) {
          const exists = await api('/apis/network.weft.dev/v1/nodenetworks/n4').then(() => true, () => false);
          if (!exists) nnGone = Date.now();
        }
        const r = await Promise.all(others.map(peerRoutes));
        return r.every((x) => blocks.every((b) => !x.includes(b)));
      }, 90_000, 10);
      const done = Date.now();
      console.log(`# ${mode}: node removed -> routes gone ${done - (nnGone || done)} ms after its NodeNetwork was deleted (${done - t0} ms after the Node, garbage collection included)`);
      assert.ok(done - (nnGone || t0) <= 2_000, `routes lingered ${done - nnGone} ms after the NodeNetwork was deleted`);
      for (const p of pods.filter((x) => x.node === n4)) assert.ok(!(await ping(pods[0]!, p.ip)), 'pod of the removed node unreachable');
    });
  });
}

// WEFT_DATAPLANE_MODES=vxlan,bgp runs a subset (each mode starts its own control plane and cluster).
const modes = process.env.WEFT_DATAPLANE_MODES?.split(',') ?? ['host-gw', 'vxlan', 'bgp'];
if (modes.includes('host-gw')) scenario('host-gw', 1500);
if (modes.includes('vxlan')) scenario('vxlan', 1450);
if (modes.includes('bgp')) scenario('bgp', 1500);
