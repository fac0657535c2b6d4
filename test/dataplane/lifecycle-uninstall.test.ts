// Uninstall on the real kernel (issue 12): real weft-node agents (one process per node, --netns
// into the node's namespace) against a real kube-apiserver, pods made by real CNI ADD through the
// conflists the agents wrote. Then:
//  - SIGTERM (what an upgrade sends) leaves the node exactly as it is;
//  - the uninstall marker on a NodeNetwork (what the operator sets when the Installation is
//    deleted; the operator side runs in test/integration/lifecycle-uninstall.test.ts) makes the
//    agent clean its node and report Uninstalled=True: no weft* interface, no route with Weft's
//    protocol (nor BIRD's routes of Weft), no nft table, no conflist, no host-local store, BIRD
//    stopped — and it stays clean (the agent programs nothing after, even when its NodeNetwork
//    is deleted);
//  - a node whose agent died without the handshake is cleaned by `weft-node cleanup`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UNINSTALL_ANNOTATION } from '../../api/lifecycle.ts';
import type { BackendName } from '../../components/node/backends/index.ts';
import { KubeClient } from '../../kube/index.ts';
import { renderBirdTemplate } from '../../render/bird.ts';
import { renderConflist } from '../../render/conflist.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { POOL, TestCluster, type TestNode } from './support/cluster.ts';
import { cniAdd, type CniConflist } from '../../cli/sandbox/cni-runtime.ts';
import { dataplaneUnavailable, must, nsRun, run, sleep } from '../../cli/sandbox/exec.ts';
import { agentProcesses, effectiveConfig, freePort, until } from './support/agents.ts';

const skipReason = dataplaneUnavailable() ?? await testenvAvailable().then((e) => (e.ok ? null : e.reason));
const MAIN = join(repoRoot, 'components/node/main.ts');

interface Agent { node: TestNode; proc: ChildProcess; port: number; log: string; exited: Promise<number | null> }

function scenario(mode: BackendName, mtu: number): void {
  describe(`uninstall with real weft-node agents, ${mode}`, { skip: skipReason ?? false }, () => {
    let cp: ControlPlane;
    let c: TestCluster;
    let client: KubeClient;
    let cfgDir: string;
    let logDir: string;
    const agents = new Map<string, Agent>();
    const podNs: string[] = [];

    const confDir = (n: TestNode) => join(n.dataDir, 'net.d');
    const confPath = (n: TestNode) => join(confDir(n), '10-weft.conflist');
    const storeDir = (n: TestNode) => join(n.dataDir, 'ipam', 'weft');
    const birdDir = (n: TestNode) => join(n.dataDir, 'bird');

    function pathFlags(n: TestNode): string[] {
      return ['--netns', n.netns, '--host-root', '/', '--cni-conf-dir', confDir(n), '--ipam-data-dir', join(n.dataDir, 'ipam'),
        '--link-prefix', c.linkPrefix, '--nft-table', c.nftTable,
        '--bird-config', join(birdDir(n), 'bird.conf'), '--bird-socket', join(birdDir(n), 'bird.ctl'), '--bird-pid-file', join(birdDir(n), 'bird.pid')];
    }

    function startAgent(n: TestNode, port: number): Agent {
      const log = join(logDir, `${n.name}.${Date.now()}.log`);
      const fd = openSync(log, 'a');
      const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'agent', '--node-name', n.name, '--kubeconfig', cp.kubeconfigPath, '--config-dir', cfgDir,
        ...pathFlags(n), '--health-port', String(port), '--health-host', '127.0.0.1', '--resync-interval', '2s', '--debounce', '20ms',
        '--leak-grace-period', '10m', '--leak-scan-interval', '2s', '--status-min-interval', '1s'], { cwd: repoRoot, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      agentProcesses.add(proc);
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => { agentProcesses.delete(proc); r(code); }));
      const a: Agent = { node: n, proc, port, log, exited };
      agents.set(n.name, a);
      return a;
    }

    async function waitReady(a: Agent): Promise<void> {
      await until(`agent ${a.node.name} ready (log ${a.log})`, async () => {
        if (a.proc.exitCode !== null) throw new Error(`agent ${a.node.name} exited ${a.proc.exitCode}:\n${readFileSync(a.log, 'utf8').slice(-3000)}`);
        try { return (await fetch(`http://127.0.0.1:${a.port}/readyz`)).status === 200; } catch { return false; }
      }, 60_000, 100);
    }

    /** Everything of Weft on node n, as readable lines; [] when the node is clean. */
    async function weftState(n: TestNode): Promise<string[]> {
      const out: string[] = [];
      const links = JSON.parse(await must(['ip', '-n', n.netns, '-json', 'link', 'show'])) as { ifname: string }[];
      out.push(...links.filter((l) => l.ifname.startsWith(c.linkPrefix)).map((l) => `interface ${l.ifname}`));
      const routes = (await must(['ip', '-n', n.netns, 'route', 'show', 'proto', '87', 'table', 'all'])).trim();
      if (routes) out.push(...routes.split('\n').map((r) => `weft route ${r}`));
      const birdRoutes = (await must(['ip', '-n', n.netns, 'route', 'show', 'proto', 'bird', 'table', 'all'])).trim();
      if (birdRoutes) out.push(...birdRoutes.split('\n').map((r) => `bird route ${r}`));
      if ((await nsRun(n.netns, ['nft', 'list', 'table', 'inet', c.nftTable])).code === 0) out.push(`nft table inet ${c.nftTable}`);
      if (existsSync(confPath(n))) out.push(`conflist ${confPath(n)}`);
      if (existsSync(storeDir(n))) out.push(`host-local store ${storeDir(n)}`);
      const pidFile = join(birdDir(n), 'bird.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim() || 0) || 0 : 0;
      if (pid && existsSync(`/proc/${pid}`) && /bird/.test(readFileSync(`/proc/${pid}/comm`, 'utf8'))) out.push(`bird pid ${pid}`);
      return out;
    }

    before(async () => {
      cp = await startControlPlane({ controllerManager: true });
      for (const f of readdirSync(join(repoRoot, 'crds')).filter((x) => x.endsWith('.network.weft.dev.yaml'))) await cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds', f)]);
      await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/nodenetworks.network.weft.dev', 'crd/ipamblocks.network.weft.dev']);
      client = new KubeClient(cp.kubeConfig);
      c = await TestCluster.create({ nodes: 3, topology: 'one-subnet' });
      logDir = mkdtempSync(join(tmpdir(), `weft-lifecycle-${c.id}-`));
      cfgDir = join(logDir, 'config');
      mkdirSync(cfgDir);
      const cfg = effectiveConfig(mode, mtu);
      writeFileSync(join(cfgDir, 'config.json'), JSON.stringify(cfg, null, 2));
      writeFileSync(join(cfgDir, 'cni-conflist'), renderConflist(cfg));
      if (mode === 'bgp') writeFileSync(join(cfgDir, 'bird.conf'), renderBirdTemplate(cfg)!);
      for (const n of c.nodes) {
        mkdirSync(birdDir(n), { recursive: true });
        writeFileSync(join(birdDir(n), 'bird.pid'), '');
        await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.underlayAddress }] } }) });
      }
      const started = await Promise.all(c.nodes.map(async (n) => startAgent(n, await freePort())));
      for (const a of started) await waitReady(a);
      // Pods through real CNI ADD with each node's conflist.
      for (const n of c.nodes) {
        const name = `wd${c.id}-${n.name}-u1`;
        await must(['ip', 'netns', 'add', name]);
        podNs.push(name);
        await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
        const conflist = JSON.parse(readFileSync(confPath(n), 'utf8')) as CniConflist;
        const r = await cniAdd(conflist, { containerId: name, netnsPath: `/var/run/netns/${name}`, ifName: 'eth0', hostNetns: n.netns });
        assert.ok(r.ips?.[0]?.address, `CNI ADD on ${n.name} returned no address`);
      }
    });

    after(async () => {
      for (const a of agents.values()) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
      client?.close();
      c?.destroy();
      await cp?.stop();
      if (logDir && !process.env.WEFT_KEEP_AGENT_LOGS) rmSync(logDir, { recursive: true, force: true });
    });

    test('installed: every node holds Weft state (the checks below can see it)', async () => {
      for (const n of c.nodes) {
        const s = await until(`${n.name} fully programmed`, async () => {
          const st = await weftState(n);
          const wantBird = mode === 'bgp' ? st.some((x) => x.startsWith('bird pid')) && st.some((x) => x.startsWith('bird route')) : true;
          return st.some((x) => x.startsWith('weft route')) && st.some((x) => x.startsWith('conflist')) && st.some((x) => x.startsWith('nft')) && wantBird ? st : undefined;
        }, 30_000, 200);
        if (mode === 'vxlan') assert.ok(s.includes(`interface ${c.linkPrefix}.vxlan`), s.join('\n'));
      }
    });

    test('SIGTERM (an upgrade) is not an uninstall: the node keeps everything', async () => {
      const n = c.nodes[0]!;
      const a = agents.get(n.name)!;
      const before = await weftState(n);
      a.proc.kill('SIGTERM');
      assert.equal(await a.exited, 0);
      assert.deepEqual(await weftState(n), before);
      const again = startAgent(n, a.port);
      await waitReady(again);
    });

    test('the uninstall marker: each agent cleans its node, reports Uninstalled, and stays clean', { timeout: 90_000 }, async () => {
      const cleaned = c.nodes.slice(0, 2);
      const t0 = Date.now();
      for (const n of cleaned) {
        await client.request(`/apis/network.weft.dev/v1/nodenetworks/${n.name}`, {
          verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { metadata: { annotations: { [UNINSTALL_ANNOTATION]: 'test' } } },
        });
      }
      for (const n of cleaned) {
        const cond = await until(`${n.name} reports Uninstalled=True`, async () => {
          const nn = await client.request<{ status?: { conditions?: { type: string; status: string; message?: string }[] } }>(`/apis/network.weft.dev/v1/nodenetworks/${n.name}`, { verb: 'get' });
          return nn.status?.conditions?.find((x) => x.type === 'Uninstalled' && x.status === 'True');
        }, 20_000, 50);
        assert.match(cond.message ?? '', /removed/);
        assert.deepEqual(await weftState(n), [], `${n.name} still holds Weft state`);
      }
      console.log(`# ${mode}: marker -> ${cleaned.length} nodes clean and reported in ${Date.now() - t0} ms`);
      // Deleting the NodeNetworks (as the operator does last) and further resyncs change nothing.
      for (const n of cleaned) await client.request(`/apis/network.weft.dev/v1/nodenetworks/${n.name}`, { verb: 'delete', method: 'DELETE' });
      await sleep(3_000);
      for (const n of cleaned) {
        assert.deepEqual(await weftState(n), [], `${n.name} was re-programmed after the uninstall`);
        const nn = await client.request(`/apis/network.weft.dev/v1/nodenetworks/${n.name}`, { verb: 'get' }).catch(() => undefined);
        assert.equal(nn, undefined, `the agent on ${n.name} re-created its NodeNetwork after the uninstall`);
      }
      // The node not marked still runs Weft.
      assert.ok((await weftState(c.nodes[2]!)).length > 0);
    });

    test('a node whose agent died without the handshake: `weft-node cleanup` (dry run first) leaves nothing', { timeout: 60_000 }, async () => {
      const n = c.nodes[2]!;
      const a = agents.get(n.name)!;
      a.proc.kill('SIGKILL');
      await a.exited;
      const left = await weftState(n);
      assert.ok(left.length > 0);
      const dry = await run([process.execPath, '--import', 'tsx', MAIN, 'cleanup', '--config-dir', cfgDir, ...pathFlags(n), '--dry-run', '--json'], { timeoutMs: 60_000 });
      assert.equal(dry.code, 0, dry.stderr);
      const plan = JSON.parse(dry.stdout);
      assert.equal(plan.dryRun, true);
      assert.ok(plan.routes.length > 0 && plan.nftTable && plan.files.includes(confPath(n)), dry.stdout);
      assert.deepEqual(await weftState(n), left, 'the dry run changed the node');
      const real = await run([process.execPath, '--import', 'tsx', MAIN, 'cleanup', '--config-dir', cfgDir, ...pathFlags(n)], { timeoutMs: 60_000 });
      assert.equal(real.code, 0, `${real.stdout}${real.stderr}`);
      assert.match(real.stdout, /^removed /);
      assert.deepEqual(await weftState(n), []);
      const again = await run([process.execPath, '--import', 'tsx', MAIN, 'cleanup', '--config-dir', cfgDir, ...pathFlags(n), '--json'], { timeoutMs: 60_000 });
      const second = JSON.parse(again.stdout);
      assert.deepEqual([second.links, second.routes, second.nftTable, second.files], [[], [], false, []], 'a second cleanup finds nothing');
    });
  });
}

// WEFT_DATAPLANE_MODES=vxlan,bgp runs a subset.
const modes = process.env.WEFT_DATAPLANE_MODES?.split(',') ?? ['host-gw', 'vxlan', 'bgp'];
if (modes.includes('vxlan')) scenario('vxlan', 1450);
if (modes.includes('bgp')) scenario('bgp', 1500);
if (modes.includes('host-gw')) scenario('host-gw', 1500);
