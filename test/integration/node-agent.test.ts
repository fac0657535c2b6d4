// The node agent's control loop against a real kube-apiserver (+ controller-manager for garbage
// collection), without the kernel (--no-kernel): block claiming races, the 90 % threshold with
// real host-local allocations, restart reuse, no-op steady state, leak release, and GC of a
// deleted node's objects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { EffectiveConfig } from '../../api/effective-config.ts';
import { NodeAgent } from '../../components/node/agent/agent.ts';
import { loadConfig } from '../../components/node/config/load.ts';
import { poolGeometry, startIndex } from '../../components/node/ipam/blocks.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { renderConflist } from '../../render/conflist.ts';
import { agentKubeConfigForNode, installAgentRights } from '../support/node-token.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';

const env = await testenvAvailable();
if (!env.ok) console.log(`# skipping the node agent integration tests: ${env.reason}`);
const HOST_LOCAL = '/usr/lib/cni/host-local';

function effective(pool: { cidr: string; blockSize: number; nodeSelector?: string }): EffectiveConfig {
  return {
    version: 1, mtu: 1450, mtuReason: 'test',
    pools: [{ name: 'default', cidr: pool.cidr, family: 4, blockSize: pool.blockSize, encapsulation: 'VXLAN', dataplane: 'vxlan', natOutgoing: true, nodeSelector: pool.nodeSelector ?? '' }],
    bgp: { enabled: false, fullMesh: false, asNumber: 64512, peers: [] },
    autodetection: { v4: { firstFound: true } },
    cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', confName: '10-weft.conflist' },
    hostPorts: false, bandwidth: false,
    vxlan: { vni: 4096, port: 4789, device: 'weft.vxlan' },
    ipip: { device: 'weft.ipip' },
  };
}

interface Running { agent: NodeAgent; dir: string; confPath: string; storeDir: string }

describe('node agent control loop (real API server, no kernel)', { skip: env.ok ? false : env.reason }, () => {
  let cp: ControlPlane;
  let root: string;
  const agents: NodeAgent[] = [];

  before(async () => {
    cp = await startControlPlane({ controllerManager: true });
    for (const f of readdirSync(join(repoRoot, 'crds')).filter((x) => x.endsWith('.network.weft.dev.yaml'))) await cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds', f)]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/nodenetworks.network.weft.dev', 'crd/ipamblocks.network.weft.dev']);
    root = mkdtempSync(join(tmpdir(), 'weft-node-it-'));
  });
  after(async () => {
    await Promise.allSettled(agents.map((a) => a.stop()));
    await cp?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function createNode(name: string, labels: Record<string, string> = {}): Promise<void> {
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } } }) });
  }

  function writeConfig(dir: string, cfg: EffectiveConfig): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
    writeFileSync(join(dir, 'cni-conflist'), renderConflist(cfg));
  }

  async function startAgent(node: string, configDir: string, opts: { leakGraceMs?: number; dir?: string; kubeConfig?: KubeConfig; image?: string; podUID?: string } = {}): Promise<Running> {
    const dir = opts.dir ?? join(root, node);
    mkdirSync(dir, { recursive: true });
    const agent = new NodeAgent({
      nodeName: node, configDir, kubeConfig: opts.kubeConfig ?? cp.kubeConfig, version: 'test', log: pino({ level: 'warn', base: { node } }),
      ipamDataDir: join(dir, 'ipam'), hostRoot: '/', cniConfDir: join(dir, 'net.d'),
      healthPort: 0, healthHost: '127.0.0.1', resyncMs: 60_000, debounceMs: 20,
      leakGraceMs: opts.leakGraceMs ?? 600_000, leakScanMs: 100, claimThreshold: 0.9, statusMinIntervalMs: 0,
      kernel: false, bird: { configPath: join(dir, 'bird.conf'), socketPath: join(dir, 'bird.ctl'), pidFile: join(dir, 'bird.pid') },
      ...(opts.image ? { image: opts.image } : {}), ...(opts.podUID ? { podUID: opts.podUID } : {}), configPollMs: 100,
    });
    agents.push(agent);
    await agent.start();
    return { agent, dir, confPath: join(dir, 'net.d', '10-weft.conflist'), storeDir: join(dir, 'ipam', 'weft') };
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function getJson(args: string[]): Promise<any> {
    return JSON.parse((await cp.kubectl(['get', ...args, '-o', 'json'])).stdout);
  }

  function ranges(confPath: string): string[] {
    const c = JSON.parse(readFileSync(confPath, 'utf8'));
    return c.plugins[0].ipam.ranges.flat().map((r: { subnet: string }) => r.subnet);
  }

  /** A real host-local ADD through the ipam section of the conflist the agent wrote. */
  function hostLocalAdd(confPath: string, containerId: string): string {
    const c = JSON.parse(readFileSync(confPath, 'utf8'));
    const r = spawnSync(HOST_LOCAL, [], {
      input: JSON.stringify({ cniVersion: c.cniVersion, name: c.name, ipam: c.plugins[0].ipam }),
      env: { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: '/dev/null', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`host-local ADD failed: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout).ips[0].address.split('/')[0];
  }

  test('five agents race for a pool of four blocks: four distinct blocks, one node told the pool is full', { timeout: 60_000 }, async () => {
    const cfgDir = join(root, 'cfg-race');
    writeConfig(cfgDir, effective({ cidr: '10.10.0.0/24', blockSize: 26, nodeSelector: 'race=yes' }));
    // Names whose scans all start at the same block, so every claim is a real race.
    const g = poolGeometry('10.10.0.0/24', 26);
    const names: string[] = [];
    for (let i = 0; names.length < 5; i++) if (startIndex(`race-${i}`, g) === 0n) names.push(`race-${i}`);
    await Promise.all(names.map((n) => createNode(n, { race: 'yes' })));
    const running = await Promise.all(names.map((n) => startAgent(n, cfgDir)));
    const blocks = await until('four IPAMBlocks', async () => {
      const l = await getJson(['ipamblocks', '-l', '!x']);
      const mine = l.items.filter((b: any) => names.includes(b.spec.node));
      return mine.length === 4 && mine;
    });
    await new Promise((r) => setTimeout(r, 500));
    const after = (await getJson(['ipamblocks'])).items.filter((b: any) => names.includes(b.spec.node));
    assert.equal(after.length, 4, 'no fifth block appeared');
    assert.equal(new Set(after.map((b: any) => b.spec.cidr)).size, 4, 'every block distinct');
    assert.equal(new Set(after.map((b: any) => b.spec.node)).size, 4, 'one block per node');
    for (const b of blocks) assert.equal(b.metadata.ownerReferences[0].kind, 'Node');
    const loser = names.find((n) => !after.some((b: any) => b.spec.node === n))!;
    const nn = await until('the loser\'s NodeNetwork to say NoBlocks', async () => {
      const o = await getJson(['nodenetwork', loser]);
      return o.status?.conditions?.find((c: any) => c.type === 'Ready' && c.reason === 'NoBlocks') && o;
    });
    assert.match(nn.status.conditions[0].message, /pools default have no free block/);
    assert.ok(!existsSync(running[names.indexOf(loser)]!.confPath), 'no conflist without a block');
    for (const r of running.filter((_, i) => names[i] !== loser)) {
      const b = after.find((x: any) => x.spec.node === names[running.indexOf(r)]);
      assert.deepEqual(ranges(r.confPath), [b.spec.cidr]);
    }
    await Promise.all(running.map((r) => r.agent.stop()));
  });

  test('over 90 % use claims a second block, and host-local then allocates from it', { timeout: 60_000 }, async () => {
    const cfgDir = join(root, 'cfg-fill');
    writeConfig(cfgDir, effective({ cidr: '10.20.0.0/24', blockSize: 28 }));
    await createNode('fill-1');
    const r = await startAgent('fill-1', cfgDir);
    await until('the first conflist', () => existsSync(r.confPath));
    const [first] = ranges(r.confPath);
    // /28: 13 usable addresses; 11/13 = 85 % stays, 12/13 = 92 % claims.
    const ips: string[] = [];
    for (let i = 0; i < 11; i++) ips.push(hostLocalAdd(r.confPath, `c${i}`));
    r.agent.schedule(0);
    await new Promise((res) => setTimeout(res, 500));
    assert.deepEqual(ranges(r.confPath), [first], 'no second block at 85 %');
    ips.push(hostLocalAdd(r.confPath, 'c11'));
    r.agent.schedule(0);
    const two = await until('a second range in the conflist', () => { const x = ranges(r.confPath); return x.length === 2 && x; });
    assert.equal(two[0], first, 'the first block stays first');
    ips.push(hostLocalAdd(r.confPath, 'c12'));
    const overflow = hostLocalAdd(r.confPath, 'c13');
    const [net] = two[1]!.split('/');
    assert.equal(overflow.split('.').slice(0, 3).join('.'), net!.split('.').slice(0, 3).join('.'), `address ${overflow} from the second block ${two[1]}`);
    assert.equal(new Set([...ips, overflow]).size, 14, 'no duplicate address');
    const nn = await until('status.ipam.allocated = 14', async () => { const o = await getJson(['nodenetwork', 'fill-1']); r.agent.schedule(0); return o.status?.ipam?.allocated === 14 && o; });
    assert.equal(nn.status.ipam.capacity, 26);
    assert.deepEqual(nn.status.blocks.map((b: any) => b.cidr), two);
    const blk = await until('IPAMBlock status of the first block', async () => { const b = await getJson(['ipamblock', first!.replace(/[./]/g, '-')]); return b.status?.allocated === 13 && b; });
    assert.equal(blk.status.capacity, 13);
    await r.agent.stop();
  });

  test('a restarted agent reuses its blocks, leaves the conflist alone and writes nothing', { timeout: 60_000 }, async () => {
    const cfgDir = join(root, 'cfg-restart');
    writeConfig(cfgDir, effective({ cidr: '10.30.0.0/24', blockSize: 26 }));
    await createNode('restart-1');
    const r1 = await startAgent('restart-1', cfgDir);
    await until('conflist and Ready', async () => existsSync(r1.confPath) && (await getJson(['nodenetwork', 'restart-1'])).status?.conditions?.[0]?.status === 'True');
    const before = ranges(r1.confPath);
    const mtime = statSync(r1.confPath).mtimeMs;
    const writesBefore = r1.agent.state.statusWrites;
    for (let i = 0; i < 3; i++) { r1.agent.schedule(0); await new Promise((res) => setTimeout(res, 150)); }
    assert.equal(r1.agent.state.statusWrites, writesBefore, 'steady state: no status write');
    await r1.agent.stop();

    const r2 = await startAgent('restart-1', cfgDir, { dir: r1.dir });
    await until('the restarted agent ready', () => r2.agent.ready);
    for (let i = 0; i < 3; i++) { r2.agent.schedule(0); await new Promise((res) => setTimeout(res, 150)); }
    assert.deepEqual(ranges(r2.confPath), before);
    assert.equal(statSync(r2.confPath).mtimeMs, mtime, 'conflist not rewritten');
    const blocks = (await getJson(['ipamblocks'])).items.filter((b: any) => b.spec.node === 'restart-1');
    assert.equal(blocks.length, 1, 'no new block');
    assert.equal(r2.agent.state.statusWrites, 0, 'the restarted agent found its status right and wrote nothing');
    const writes = await r2.agent.metrics.runtime.apiRequests.get();
    const byVerb = Object.fromEntries(writes.values.map((v) => [v.labels.verb, v.value]));
    assert.equal((byVerb.create ?? 0) + (byVerb.patch ?? 0) + (byVerb.update ?? 0) + (byVerb.delete ?? 0), 0, `API writes by the restarted agent: ${JSON.stringify(byVerb)}`);
    await r2.agent.stop();
  });

  // docs/adr/0010: configuration that cluster facts change reaches the running agent, gated by the
  // operator's grant on its NodeNetwork; the conflist's MTU shows what the agent runs.
  test('a configuration the operator hands the node is applied in place; a changed ConfigMap alone is not', { timeout: 60_000 }, async () => {
    const IMAGE = 'weft.invalid/weft-node:test';
    await createNode('live-1');
    const cfgDir = join(root, 'cfg-live');
    const first = effective({ cidr: '10.60.0.0/16', blockSize: 26 });
    writeConfig(cfgDir, first);
    const hashOf = async () => (await loadConfig(cfgDir, IMAGE)).hash!;
    const h1 = await hashOf();
    const r = await startAgent('live-1', cfgDir, { image: IMAGE, podUID: 'uid-live-1' });
    const mtu = () => (existsSync(r.confPath) ? JSON.parse(readFileSync(r.confPath, 'utf8')).plugins[0].mtu : undefined);
    const reported = async () => (await getJson(['nodenetwork', 'live-1'])).status;
    await until('the first report', async () => (await reported())?.configHash === h1);
    assert.equal((await reported()).podUID, 'uid-live-1');
    assert.equal(mtu(), 1450);

    // The facts changed the configuration: the ConfigMap (volume) holds it, the node was not handed it.
    writeConfig(cfgDir, { ...first, mtu: 1400, mtuReason: 'facts' });
    const h2 = await hashOf();
    assert.notEqual(h2, h1);
    await cp.kubectl(['annotate', 'nodenetwork', 'live-1', 'unrelated.example/x=1']);
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal((await reported()).configHash, h1, 'not applied without the grant');
    assert.equal(mtu(), 1450);

    await cp.kubectl(['annotate', '--overwrite', 'nodenetwork', 'live-1', `network.weft.dev/config-hash=${h2}`]);
    await until('the granted configuration applied in place', async () => (await reported())?.configHash === h2 && mtu() === 1400);

    // Handed a configuration the volume does not hold yet (the kubelet refreshes it later): it
    // says so, keeps running what it runs, and applies it when the files arrive.
    const third = { ...first, mtu: 1380, mtuReason: 'facts' };
    const cfg3 = join(root, 'cfg-live-3');
    writeConfig(cfg3, third);
    const h3 = (await loadConfig(cfg3, IMAGE)).hash!;
    await cp.kubectl(['annotate', '--overwrite', 'nodenetwork', 'live-1', `network.weft.dev/config-hash=${h3}`]);
    const pending = await until('ConfigPending', async () => (await reported())?.conditions?.find((c: { type: string }) => c.type === 'ConfigPending'));
    assert.match(pending.message, new RegExp(h3.slice(0, 12)));
    assert.equal((await reported()).configHash, h2);
    writeConfig(cfgDir, third);
    await until('applied once the volume holds it', async () => {
      const st = await reported();
      return st?.configHash === h3 && mtu() === 1380 && !st.conditions?.some((c: { type: string }) => c.type === 'ConfigPending');
    });
  });

  test('a NodeNetwork deleted by hand is created again with its status', { timeout: 60_000 }, async () => {
    const cfgDir = join(root, 'cfg-recreate');
    writeConfig(cfgDir, effective({ cidr: '10.70.0.0/24', blockSize: 26 }));
    await createNode('recreate-1');
    const r = await startAgent('recreate-1', cfgDir);
    const uid = (await until('Ready', async () => { const o = await getJson(['nodenetwork', 'recreate-1']); return o.status?.conditions?.[0]?.status === 'True' && o; })).metadata.uid;
    await cp.kubectl(['delete', 'nodenetwork', 'recreate-1']);
    const again = await until('a new NodeNetwork with status', async () => {
      r.agent.schedule(0);
      const o = await cp.kubectl(['get', 'nodenetwork', 'recreate-1', '-o', 'json'], { allowFailure: true });
      if (o.code !== 0) return undefined;
      const j = JSON.parse(o.stdout);
      return j.metadata.uid !== uid && j.status?.address && j;
    });
    assert.equal(again.metadata.ownerReferences[0].name, 'recreate-1');
    assert.equal(again.status.blocks.length, 1);
    await r.agent.stop();
  });

  test('leaked host-local addresses are released after the grace period; a pod\'s address is kept', { timeout: 60_000 }, async () => {
    const cfgDir = join(root, 'cfg-leak');
    writeConfig(cfgDir, effective({ cidr: '10.40.0.0/24', blockSize: 26 }));
    await createNode('leak-1');
    const r = await startAgent('leak-1', cfgDir, { leakGraceMs: 1_500 });
    await until('conflist', () => existsSync(r.confPath));
    const podIp = hostLocalAdd(r.confPath, 'pod-container');
    const leaked = Array.from({ length: 20 }, (_, i) => hostLocalAdd(r.confPath, `dead-${i}`));
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'holder', namespace: 'default' }, spec: { nodeName: 'leak-1', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } }) });
    await cp.kubectl(['patch', 'pod', 'holder', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Running', podIP: podIp, podIPs: [{ ip: podIp }] } })]);
    const t0 = Date.now();
    const nn = await until('leaked count 20 in status', async () => { const o = await getJson(['nodenetwork', 'leak-1']); r.agent.schedule(0); return o.status?.ipam?.leaked === 20 && o; });
    assert.equal(nn.status.ipam.released ?? 0, 0);
    await until('leaked files released', () => leaked.every((ip) => !existsSync(join(r.storeDir, ip))), 15_000);
    const took = Date.now() - t0;
    assert.ok(took >= 1_000, `released only after the grace period (took ${took} ms)`);
    assert.ok(existsSync(join(r.storeDir, podIp)), 'the pod\'s address is kept');
    const done = await until('released 20 in status', async () => { const o = await getJson(['nodenetwork', 'leak-1']); r.agent.schedule(0); return o.status?.ipam?.released === 20 && o; });
    assert.equal(done.status.ipam.leaked, 0);
    const m = await r.agent.metrics.leakedReleased.get();
    assert.equal(m.values[0]?.value, 20);
    await r.agent.stop();
  });

  test('with only the RBAC and admission policies Weft ships for the node agent (weft-node ServiceAccount, pod-bound token), the agent does all of its job', { timeout: 120_000 }, async () => {
    await installAgentRights(cp, [{ name: 'default', cidr: '10.60.0.0/24', blockSize: 28 }]);
    await createNode('rbac-1');
    const kc = await agentKubeConfigForNode(cp, 'rbac-1');
    const cfgDir = join(root, 'cfg-rbac');
    writeConfig(cfgDir, effective({ cidr: '10.60.0.0/24', blockSize: 28 }));
    const r = await startAgent('rbac-1', cfgDir, { kubeConfig: kc, leakGraceMs: 500 });
    await until('conflist', () => existsSync(r.confPath));
    for (let i = 0; i < 3; i++) hostLocalAdd(r.confPath, `rbac-c${i}`);
    r.agent.schedule(0);
    const blockName = ranges(r.confPath)[0]!.replace(/[./]/g, '-');
    await until('IPAMBlock status written by the agent', async () => { r.agent.schedule(0); return (await getJson(['ipamblock', blockName])).status?.allocated === 3; }, 10_000);
    await until('NodeNetwork Ready', async () => (await getJson(['nodenetwork', 'rbac-1'])).status?.conditions?.[0]?.status === 'True', 10_000);
    await until('leaked reservations released', () => readdirSync(r.storeDir).filter((f) => /^\d/.test(f)).length === 0, 10_000);
    const errors = await r.agent.metrics.apiErrors.get();
    assert.deepEqual(errors.values.filter((v) => v.value > 0), [], 'no API request was refused');
    await r.agent.stop();
  });

  test('a deleted Node takes its IPAMBlocks and NodeNetwork with it (garbage collector)', { timeout: 120_000 }, async () => {
    const cfgDir = join(root, 'cfg-gc');
    writeConfig(cfgDir, effective({ cidr: '10.50.0.0/24', blockSize: 26 }));
    await createNode('gc-1');
    const r = await startAgent('gc-1', cfgDir);
    await until('a block', async () => (await getJson(['ipamblocks'])).items.some((b: any) => b.spec.node === 'gc-1'));
    await r.agent.stop();
    await cp.kubectl(['delete', 'node', 'gc-1']);
    const t0 = Date.now();
    await until('IPAMBlocks and NodeNetwork of gc-1 deleted', async () => {
      const blocks = (await getJson(['ipamblocks'])).items.filter((b: any) => b.spec.node === 'gc-1');
      const nn = await cp.kubectl(['get', 'nodenetwork', 'gc-1'], { allowFailure: true });
      return blocks.length === 0 && nn.code !== 0;
    }, 90_000);
    console.log(`# garbage collection of gc-1's objects took ${Date.now() - t0} ms`);
  });
});
