// The dataplane scenarios every mode must pass; each mode's *.test.ts calls dataplaneSuite.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { BackendName } from '../../../components/node/backends/index.ts';
import { EXTERNAL_ADDRESS, TestCluster, type TestPod } from './cluster.ts';
import { dataplaneUnavailable, must, nsRun, nsSpawn, sleep } from '../../../cli/sandbox/exec.ts';

export interface SuiteOptions { topology: 'one-subnet' | 'two-subnets'; mtu: number; nodes?: number }

// Prints the peer address of every TCP connection back to the client.
const ECHO_PEER_SERVER = `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(Number(process.argv[2]), process.argv[1], () => console.log('listening'))`;
const CONNECT_CLIENT = `const s = require('net').connect(Number(process.argv[2]), process.argv[1]); let d = ''; s.on('data', (b) => d += b); s.on('end', () => { console.log(d.trim()); process.exit(0); }); s.on('error', (e) => { console.error(e.message); process.exit(1); }); setTimeout(() => { console.error('timeout'); process.exit(2); }, 5000)`;

async function startPeerServer(ns: string, address: string, port: number): Promise<ChildProcess> {
  const child = nsSpawn(ns, [process.execPath, '-e', ECHO_PEER_SERVER, address, String(port)]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`peer-address server in ${ns} exited with ${code}`)));
  });
  return child;
}

async function peerAddressSeenBy(clientNs: string, address: string, port: number): Promise<string> {
  const r = await nsRun(clientNs, [process.execPath, '-e', CONNECT_CLIENT, address, String(port)]);
  assert.equal(r.code, 0, `TCP connect from ${clientNs} to ${address}:${port} failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function waitFor(cond: () => Promise<boolean>, message: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(message);
    await sleep(200);
  }
}

async function ping(from: TestPod, to: string, extra: string[] = []): Promise<boolean> {
  return (await nsRun(from.netns, ['ping', '-c1', '-W2', ...extra, to])).code === 0;
}

export function dataplaneSuite(mode: BackendName, opts: SuiteOptions): void {
  const skip = dataplaneUnavailable();
  describe(`dataplane ${mode} (${opts.topology}, pod MTU ${opts.mtu})`, { skip: skip ?? false }, () => {
    let c: TestCluster;
    const pods: TestPod[] = [];
    const pod = (node: number, i = 0) => pods.filter((p) => p.node.index === node)[i]!;

    before(async () => {
      c = await TestCluster.create({ nodes: opts.nodes ?? 3, topology: opts.topology });
      c.startAgents(mode, opts.mtu);
      await c.syncAll();
      if (mode === 'bgp') await c.waitForBgp();
      for (const n of c.nodes) pods.push(await c.addPod(n));
      pods.push(await c.addPod(c.nodes[0]!));
    });
    after(() => c?.destroy());

    test('every pod reaches every other pod', async () => {
      const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
      const results = await Promise.all(pairs.map(async ([a, b]) => ({ a, b, ok: await ping(a, b.ip) })));
      const failed = results.filter((r) => !r.ok).map((r) => `${r.a.name}(${r.a.ip}) -> ${r.b.name}(${r.b.ip})`);
      assert.deepEqual(failed, [], `unreachable pod pairs in ${mode}`);
    });

    test('path MTU: MTU-28 bytes of ICMP payload pass with DF set, MTU-27 do not', async () => {
      const last = c.nodes.length;
      for (const [a, b] of [[pod(1), pod(2)], [pod(1), pod(last)]] as const) {
        assert.ok(await ping(a, b.ip, ['-M', 'do', '-s', String(opts.mtu - 28)]), `${a.ip} -> ${b.ip} with ${opts.mtu - 28} bytes and DF failed`);
        assert.ok(!(await ping(a, b.ip, ['-M', 'do', '-s', String(opts.mtu - 27)])), `${a.ip} -> ${b.ip} with ${opts.mtu - 27} bytes and DF passed: pod MTU larger than ${opts.mtu}?`);
      }
    });

    test('natOutgoing: leaving the pools the pod appears as its node; inside them as itself', async () => {
      const ext = await startPeerServer(c.ext, EXTERNAL_ADDRESS, 18080);
      try {
        for (const p of [pod(1), pod(c.nodes.length)]) {
          assert.equal(await peerAddressSeenBy(p.netns, EXTERNAL_ADDRESS, 18080), p.node.underlayAddress,
            `external namespace should see ${p.name} as its node ${p.node.name}`);
        }
      } finally { ext.kill(); }
      const inPool = await startPeerServer(pod(2).netns, pod(2).ip, 18081);
      try {
        assert.equal(await peerAddressSeenBy(pod(1).netns, pod(2).ip, 18081), pod(1).ip, 'pod-to-pod traffic must not be masqueraded');
      } finally { inPool.kill(); }
    });

    test('re-applying the same desired state changes nothing, also from a restarted agent', async () => {
      assert.deepEqual(await c.syncAll(), c.nodes.map(() => 0));
      for (const n of c.nodes) {
        const restarted = c.newAgent(n);
        const r = await c.syncNode(n, { agent: restarted });
        assert.equal(r.kernel.ops, 0, `restarted agent on ${n.name} changed the kernel: ${JSON.stringify(r.kernel.plan)}`);
        assert.equal(restarted.opsApplied, 0);
        if (r.daemon) assert.equal(r.daemon.action, 'none', 'BIRD must be left alone when its config did not change');
        assert.ok(r.sysctls.every((s) => !s.set), `sysctls rewritten on ${n.name}`);
      }
    });

    test('drift is repaired: a Weft route deleted by hand comes back in one operation', async () => {
      const n1 = c.nodes[0]!;
      const before = await must(['ip', '-n', n1.netns, 'route', 'show', 'proto', '87']);
      await must(['ip', '-n', n1.netns, 'route', 'del', n1.blocks[0]!, 'proto', '87']);
      const r = await c.syncNode(n1);
      assert.equal(r.kernel.ops, 1, JSON.stringify(r.kernel.plan));
      assert.equal(await must(['ip', '-n', n1.netns, 'route', 'show', 'proto', '87']), before);
      // A route that is not Weft's is left alone, even for a pod block's address space.
      await must(['ip', '-n', n1.netns, 'route', 'add', 'blackhole', '10.244.200.0/24', 'proto', 'static']);
      assert.equal((await c.syncNode(n1)).kernel.ops, 0);
      assert.match(await must(['ip', '-n', n1.netns, 'route', 'show', '10.244.200.0/24']), /proto static/);
      await must(['ip', '-n', n1.netns, 'route', 'del', 'blackhole', '10.244.200.0/24', 'proto', 'static']);
    });

    test('removing a peer removes its routes in O(1) operations; adding it back restores reach', async () => {
      const [n1, n2] = [c.nodes[0]!, c.nodes[1]!];
      const removed = await c.syncNode(n1, { exclude: [n2.name] });
      if (mode === 'bgp') {
        // BGP peers are BIRD's business: the agent only reconfigures it, BIRD withdraws the route.
        assert.equal(removed.kernel.ops, 0, JSON.stringify(removed.kernel.plan));
        assert.equal(removed.daemon?.action, 'reconfigured');
        await waitFor(async () => !(await must(['ip', '-n', n1.netns, 'route', 'show', 'proto', 'bird'])).includes(n2.blocks[0]!),
          `BIRD on ${n1.name} kept the route to ${n2.blocks[0]} after the peer was removed`);
      } else {
        assert.ok(removed.kernel.ops >= 1 && removed.kernel.ops <= 3, `one peer removal took ${removed.kernel.ops} ops: ${JSON.stringify(removed.kernel.plan)}`);
        const weftRoutes = await must(['ip', '-n', n1.netns, 'route', 'show', 'proto', '87']);
        assert.ok(!weftRoutes.includes(n2.blocks[0]!), `route to ${n2.blocks[0]} still on ${n1.name}:\n${weftRoutes}`);
      }
      assert.ok(!(await ping(pod(1), pod(2).ip)), 'pod on removed peer still reachable');
      const added = await c.syncNode(n1);
      if (mode === 'bgp') {
        assert.equal(added.daemon?.action, 'reconfigured');
        await c.waitForBgp();
      } else {
        assert.equal(added.kernel.ops, removed.kernel.ops, 'adding the peer back should cost what removing it did');
      }
      assert.ok(await ping(pod(1), pod(2).ip), 'pod on re-added peer unreachable');
    });

    // An agent pod replaced takes BIRD with it (SIGKILL, no NOTIFICATION): the peers keep the
    // node's routes (RFC 4724 graceful restart), the kernel keeps the node's own (persist), and
    // the new agent's BIRD starts in recovery (-R) instead of pruning them.
    test('BIRD SIGKILLed with its agent and started by a new one under ping between every pod pair: zero lost', { skip: mode !== 'bgp' && `BGP only (this suite runs ${mode})` }, async () => {
      const victim = c.nodes[1]!;
      const pidFile = c.config(victim).bgp!.pidFile;
      const birdPid = Number(readFileSync(pidFile, 'utf8').trim());
      const routes = () => Promise.all(c.nodes.map((n) => must(['ip', '-n', n.netns, 'route', 'show', 'proto', 'bird'])));
      const before = await routes();
      const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
      const count = 500; // every 20 ms: 10 s per pair
      const pingers = pairs.map(([a, b]) => nsRun(a.netns, ['ping', '-q', '-i', '0.02', '-c', String(count), '-W', '1', b.ip], { timeoutMs: 60_000 }).then((r) => ({ a, b, r })));
      await sleep(1_000);
      process.kill(birdPid, 'SIGKILL');
      victim.agent = undefined;
      await waitFor(async () => { try { process.kill(birdPid, 0); return false; } catch { return true; } }, 'the killed BIRD is gone');
      await sleep(1_000);
      assert.deepEqual(await routes(), before, 'routes kept everywhere while the node has no BIRD');
      victim.agent = c.newAgent(victim);
      const r = await c.syncNode(victim);
      assert.equal(r.daemon?.action, 'recovered', 'the new BIRD starts in graceful-restart recovery (-R)');
      await c.waitForBgp();
      const socket = c.config(victim).bgp!.socketPath;
      await waitFor(async () => !/Graceful restart recovery in progress/.test(await must(['birdc', '-s', socket, 'show', 'status'])), 'the recovery ends', 30_000);
      const lost: string[] = [];
      for (const { a, b, r: p } of await Promise.all(pingers)) {
        const m = /(\d+) packets transmitted, (\d+) received/.exec(p.stdout);
        assert.ok(m, `ping ${a.ip} -> ${b.ip}: ${p.stdout}${p.stderr}`);
        if (m[1] !== m[2]) lost.push(`${a.name} -> ${b.name}: ${Number(m[1]) - Number(m[2])} of ${m[1]}`);
      }
      console.log(`# bgp: BIRD SIGKILLed on ${victim.name} and restarted under ping of ${pairs.length} pod pairs x ${count}: lost ${lost.length ? lost.join('; ') : 'none'}`);
      assert.deepEqual(lost, []);
      assert.deepEqual(await routes(), before, 'the same routes after the recovery');
      assert.equal((await c.syncNode(victim)).daemon?.action, 'none', 'the next pass leaves BIRD alone');
    });

    test('agent re-sync and restart under continuous ping lose zero packets', async () => {
      const count = 300;
      const pinger = nsRun(pod(1).netns, ['ping', '-q', '-i', '0.01', '-c', String(count), '-W', '1', pod(2).ip], { timeoutMs: 60_000 });
      for (let i = 0; i < 6; i++) {
        for (const n of c.nodes) n.agent = c.newAgent(n);
        await c.syncAll();
        await sleep(150);
      }
      const r = await pinger;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      assert.ok(m, `unexpected ping output: ${r.stdout}${r.stderr}`);
      assert.equal(Number(m[1]), count);
      assert.equal(Number(m[2]), count, `lost ${count - Number(m[2])} of ${count} packets during re-sync`);
    });
  });
}
