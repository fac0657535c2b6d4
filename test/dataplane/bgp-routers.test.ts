// BGP as data-centre networks run it, with real BIRD 2 everywhere: five nodes with the mesh off,
// two of them route reflectors (RFC 4456) for the other three; a top-of-rack router (BIRD in its
// own namespace) one routed hop away, an eBGP multihop peer with a TCP MD5 password, receiving
// every node's blocks and the Service CIDR. One reflector killed: traffic and new routes go on
// through the other. A password mismatch is diagnosed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EffectiveConfig } from '../../api/effective-config.ts';
import { renderBirdTemplate } from '../../render/bird.ts';
import { NodeDataplane, type DataplaneConfig, type PeerNode } from '../../components/node/backends/index.ts';
import { birdSessions } from '../../components/node/backends/bgp.ts';
import { bgpSessionFix } from '../../cli/diagnose/analyze.ts';
import { dataplaneUnavailable, must, nsMust, nsRun, sleep } from '../../cli/sandbox/exec.ts';
import { EXTERNAL_ADDRESS, TestCluster, type TestNode, type TestPod } from './support/cluster.ts';
import { effectiveConfig, until } from './support/agents.ts';

const TOR = { address: '198.18.9.2', gateway: '198.18.9.1', subnet: '198.18.9.0/24', asNumber: 65000 };
const SERVICES = '10.96.0.0/12';
const PASSWORD = 'weft-tor-secret';
const REFLECTORS = ['n1', 'n2'];
const skip = dataplaneUnavailable();

describe('BGP with route reflectors and a top-of-rack router one routed hop away', { skip: skip ?? false }, () => {
  let c: TestCluster;
  let torNs: string;
  let torDir: string;
  const pods: TestPod[] = [];
  const agents = new Map<string, NodeDataplane>();
  const extraBlocks = new Map<string, string[]>();

  const cfg: EffectiveConfig = effectiveConfig('bgp', 1500);
  cfg.bgp = {
    ...cfg.bgp, fullMesh: false,
    routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' },
    peers: [{ peerIP: TOR.address, asNumber: TOR.asNumber, nodeSelector: '', ebgpMultihop: 2, passwordSecretKey: 'tor' }],
    serviceCIDRs: [SERVICES],
    // Short timers: a dead session is noticed in seconds, stale routes of a dead reflector go in 3 s.
    keepaliveTime: 1, holdTime: 3, restartTime: 3,
  };
  const template = renderBirdTemplate(cfg)!;
  const birdDir = (n: TestNode) => join(n.dataDir, 'bird');
  const isReflector = (n: { name: string }) => REFLECTORS.includes(n.name);
  const blocksOf = (n: TestNode) => [...n.blocks, ...(extraBlocks.get(n.name) ?? [])];

  function config(n: TestNode, password = PASSWORD): DataplaneConfig {
    return {
      mtu: 1500, pools: [{ cidr: '10.244.0.0/16', natOutgoing: true }], linkPrefix: c.linkPrefix,
      bgp: {
        asNumber: 64512, template, fullMesh: false, routeReflectors: true, routeReflector: isReflector(n),
        peers: [{ address: TOR.address, asNumber: TOR.asNumber, multihop: 2, password }],
        configPath: join(birdDir(n), 'bird.conf'), socketPath: join(birdDir(n), 'bird.ctl'), pidFile: join(birdDir(n), 'bird.pid'),
      },
    };
  }
  // What the agents read from the other nodes' NodeNetworks: address, blocks, reflector role.
  const peersOf = (n: TestNode): PeerNode[] => c.nodes.filter((p) => p !== n)
    .map((p) => ({ name: p.name, underlayAddress: p.underlayAddress, blocks: blocksOf(p), ...(isReflector(p) ? { routeReflector: true } : {}) }));
  const sync = (n: TestNode) => agents.get(n.name)!.sync({ ...n, blocks: blocksOf(n) }, peersOf(n));
  const birdRoutes = (n: TestNode) => must(['ip', '-n', n.netns, 'route', 'show', 'proto', 'bird']);
  const torRoutes = () => must(['birdc', '-s', join(torDir, 'bird.ctl'), 'show', 'route']);

  function torConfig(passwords: Record<string, string>): string {
    const neighbors = c.nodes.map((n) => [
      `protocol bgp ${n.name} {`,
      `  local ${TOR.address} as ${TOR.asNumber};`,
      `  neighbor ${n.underlayAddress} as 64512;`,
      '  multihop 2;',
      `  password "${passwords[n.name] ?? PASSWORD}";`,
      '  hold time 3; keepalive time 1;',
      '  connect delay time 1; connect retry time 2;',
      '  ipv4 { import all; export none; gateway recursive; };',
      '}',
    ].join('\n'));
    // The nodes' subnet is behind the gateway: the static route resolves the BGP next hops.
    return [`router id ${TOR.address};`, 'protocol device { scan time 10; }', `protocol static { ipv4; route 198.18.0.0/24 via ${TOR.gateway}; }`, ...neighbors, ''].join('\n');
  }

  async function converged(): Promise<void> {
    let last = '';
    await until('every node routes every other node\'s blocks; every session Established', async () => {
      const reports = await Promise.all(c.nodes.map(sync));
      for (const [i, n] of c.nodes.entries()) {
        const r = reports[i]!;
        last = `${n.name}: ${JSON.stringify(r.daemon?.sessions)}`;
        if (!r.daemon?.sessions.every((s) => s.state === 'Established')) return false;
        const routes = await birdRoutes(n);
        last = `${n.name} routes:\n${routes}`;
        if (!c.nodes.filter((p) => p !== n).every((p) => blocksOf(p).every((b) => routes.includes(b)))) return false;
      }
      return true;
    }, 60_000, 300).catch((e: Error) => { throw new Error(`${e.message}; last: ${last}`); });
  }

  async function allPairs(among = pods): Promise<string[]> {
    const pairs = among.flatMap((a) => among.filter((b) => b !== a).map((b) => [a, b] as const));
    const res = await Promise.all(pairs.map(async ([a, b]) => ({ a, b, ok: (await nsRun(a.netns, ['ping', '-c1', '-W2', b.ip])).code === 0 })));
    return res.filter((r) => !r.ok).map((r) => `${r.a.node.name}/${r.a.ip} -> ${r.b.node.name}/${r.b.ip}`);
  }

  before(async () => {
    c = await TestCluster.create({ nodes: 5, topology: 'one-subnet' });
    // The ToR sits behind the cluster's external namespace, which routes: one hop from every node.
    torNs = `wd${c.id}-tor`;
    torDir = join(c.nodes[0]!.dataDir, '..', 'tor');
    mkdirSync(torDir, { recursive: true });
    await must(['ip', 'netns', 'add', torNs]);
    await must(['ip', '-n', torNs, 'link', 'set', 'lo', 'up']);
    await must(['ip', '-n', c.ext, 'link', 'add', `wd${c.id}t`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', torNs]);
    await must(['ip', '-n', c.ext, 'addr', 'add', `${TOR.gateway}/24`, 'dev', `wd${c.id}t`]);
    await must(['ip', '-n', c.ext, 'link', 'set', `wd${c.id}t`, 'up']);
    await must(['ip', '-n', torNs, 'addr', 'add', `${TOR.address}/24`, 'dev', 'eth0']);
    await must(['ip', '-n', torNs, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', torNs, 'route', 'add', 'default', 'via', TOR.gateway]);
    await nsMust(c.ext, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const n of c.nodes) await must(['ip', '-n', n.netns, 'route', 'add', TOR.subnet, 'via', EXTERNAL_ADDRESS]);
    writeFileSync(join(torDir, 'bird.conf'), torConfig({}));
    await nsMust(torNs, ['bird', '-c', join(torDir, 'bird.conf'), '-s', join(torDir, 'bird.ctl'), '-P', join(torDir, 'bird.pid')]);

    for (const n of c.nodes) agents.set(n.name, new NodeDataplane({ backend: 'bgp', config: config(n), netns: n.netns, nftTable: c.nftTable }));
    await converged();
    for (const n of c.nodes) pods.push(await c.addPod(n));
  });
  after(() => c?.destroy());

  test('mesh off: clients peer with the two reflectors and the ToR only; every pod reaches every pod', async () => {
    for (const n of c.nodes) {
      const sessions = (await sync(n)).daemon!.sessions;
      const expected = [...(isReflector(n) ? c.nodes.filter((p) => p !== n) : c.nodes.filter(isReflector)).map((p) => p.underlayAddress), TOR.address].sort();
      assert.deepEqual(sessions.map((s) => s.peer).sort(), expected, `${n.name}'s sessions`);
      assert.ok(sessions.every((s) => s.state === 'Established'), JSON.stringify(sessions));
    }
    assert.deepEqual(await allPairs(), []);
    // Reflected routes keep their originator as next hop: n3 reaches n4's pods directly, not through a reflector.
    const [n3, n4] = [c.nodes[2]!, c.nodes[3]!];
    assert.match(await birdRoutes(n3), new RegExp(`${n4.blocks[0]!.replace(/[./]/g, '\\$&')} via ${n4.underlayAddress.replace(/\./g, '\\.')} `));
  });

  test('the ToR (eBGP multihop, one routed hop, MD5 password) receives every node\'s blocks and the Service CIDR', async () => {
    // One routed hop: the nodes reach the ToR through a gateway, not on their segment.
    assert.match(await must(['ip', '-n', c.nodes[0]!.netns, 'route', 'get', TOR.address]), new RegExp(`via ${EXTERNAL_ADDRESS.replace(/\./g, '\\.')} `));
    const routes = await until('the ToR holding every block and the Service CIDR', async () => {
      const r = await torRoutes();
      return c.nodes.every((n) => r.includes(n.blocks[0]!)) && r.includes(SERVICES) ? r : undefined;
    }, 30_000, 300);
    for (const n of c.nodes) assert.match(routes, new RegExp(`${n.blocks[0]!.replace(/[./]/g, '\\$&')}\\s+unicast \\[${n.name} `), `${n.name}'s block comes from ${n.name} itself`);
    const protocols = await must(['birdc', '-s', join(torDir, 'bird.ctl'), 'show', 'protocols']);
    assert.equal(protocols.split('\n').filter((l) => /\sBGP\s.*Established/.test(l)).length, c.nodes.length, protocols);
    // Nothing is imported from the router: the nodes' BIRD tables hold no route from it.
    const n1 = c.nodes[0]!;
    assert.doesNotMatch(await must(['birdc', '-s', join(birdDir(n1), 'bird.ctl'), 'show', 'route', 'protocol', 'peer_198_18_9_2']), /unicast/);
  });

  test('one reflector killed: pod traffic goes on, and a block claimed afterwards reaches every node through the other reflector', async () => {
    const [rr1] = c.nodes;
    const survivors = pods.filter((p) => p.node !== rr1);
    const pairs = survivors.flatMap((a) => survivors.filter((b) => b !== a).map((b) => [a, b] as const));
    const pingers = pairs.map(([a, b]) => nsRun(a.netns, ['ping', '-q', '-i', '0.05', '-c', '160', '-W', '1', b.ip], { timeoutMs: 60_000 }).then((r) => ({ a, b, r })));
    await sleep(500);
    process.kill(Number(readFileSync(join(birdDir(rr1!), 'bird.pid'), 'utf8').trim()), 'SIGKILL');
    agents.delete(rr1!.name);
    // Past the restart time (3 s): the clients dropped rr1's stale routes and keep rr2's.
    await sleep(5_000);
    const n5 = c.nodes[4]!;
    extraBlocks.set(n5.name, ['10.244.55.0/26']);
    const others = c.nodes.filter((n) => n !== rr1);
    await until('the new block of n5 on every other live node, through n2', async () => {
      for (const n of others) await sync(n);
      return (await Promise.all(others.filter((n) => n !== n5).map(birdRoutes))).every((r) => r.includes('10.244.55.0/26'));
    }, 30_000, 300);
    const lost: string[] = [];
    for (const { a, b, r } of await Promise.all(pingers)) {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      if (m[1] !== m[2]) lost.push(`${a.node.name} -> ${b.node.name}: ${Number(m[1]) - Number(m[2])} of ${m[1]}`);
    }
    console.log(`# reflector n1 killed under ping of ${pairs.length} pod pairs: lost ${lost.length ? lost.join('; ') : 'none'}`);
    assert.deepEqual(lost, []);
    assert.deepEqual(await allPairs(survivors), []);
    for (const n of c.nodes.slice(2)) {
      const sessions = (await sync(n)).daemon!.sessions;
      assert.equal(sessions.find((s) => s.peer === c.nodes[1]!.underlayAddress)?.state, 'Established', `${n.name} keeps its session to n2`);
    }
  });

  test('a password mismatch with the ToR is diagnosed: the session is down and the fix names the Secret key', async () => {
    const n3 = c.nodes[2]!;
    writeFileSync(join(torDir, 'bird.conf'), torConfig({ [n3.name]: 'not-the-same' }));
    await must(['birdc', '-s', join(torDir, 'bird.ctl'), 'configure']);
    const down = await until(`${n3.name}'s session to the ToR down`, async () => {
      await sync(n3);
      const s = (await birdSessions(config(n3).bgp!)).find((x) => x.peer === TOR.address);
      return s && s.state !== 'Established' ? s : undefined;
    }, 30_000, 500);
    console.log(`# password mismatch: ${n3.name} -> ToR ${down.state}${down.lastError ? ` (last error: ${down.lastError})` : ''}`);
    const fix = bgpSessionFix(n3.name, down, { ...cfg.bgp.peers[0]!, configured: true });
    assert.match(fix, /password/);
    assert.match(fix, /key tor of Secret weft-system\/weft-bgp-passwords/);
    // The other nodes' sessions with the ToR are unaffected.
    const n4 = c.nodes[3]!;
    assert.equal((await birdSessions(config(n4).bgp!)).find((x) => x.peer === TOR.address)?.state, 'Established');
  });
});
