// npm run bench:dataplane — pod-to-pod vs node-to-node throughput per dataplane mode, and the
// cost of route sync at scale. Root only; everything runs in per-run network namespaces.
//
// Throughput: iperf3 across two nodes, pod->pod and node->node measured in the same cluster,
// interleaved (order alternates per round), medians over rounds; the ratio is what matters on
// shared machines whose absolute numbers swing 10-25 Gbit/s between runs.
// Route sync: one node namespace, 5000 simulated peers, full sync (read + diff + one batch),
// then the number of kernel operations one peer change costs.
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { NodeDataplane, type BackendName, type PeerNode } from '../../components/node/backends/index.ts';
import { TestCluster } from '../../test/dataplane/support/cluster.ts';
import { beginRun, endRun } from '../../test/dataplane/support/cleanup.ts';
import { dataplaneUnavailable, must } from '../../cli/sandbox/exec.ts';
import { SECONDS, enableGro, iperf, iperfServer, median } from './iperf.ts';

const ROUNDS = Number(process.env.WEFT_BENCH_ROUNDS ?? 5);

const PEERS = Number(process.env.WEFT_BENCH_PEERS ?? 5000);
const UNDERLAY_MTU = Number(process.env.WEFT_BENCH_UNDERLAY_MTU ?? 1500);
const MODES = (process.env.WEFT_BENCH_MODES?.split(',') ?? ['host-gw', 'vxlan', 'vxlan-crosssubnet', 'bgp']) as BackendName[];
// Offload levers, on by default; WEFT_BENCH_GRO=0 measures without them.
const GRO = process.env.WEFT_BENCH_GRO !== '0';

async function throughput(mode: BackendName): Promise<string> {
  const overhead = mode.startsWith('vxlan') ? 50 : 0;
  const c = await TestCluster.create({ nodes: 2, topology: mode === 'vxlan-crosssubnet' ? 'two-subnets' : 'one-subnet', underlayMtu: UNDERLAY_MTU });
  const servers: ChildProcess[] = [];
  try {
    c.startAgents(mode, UNDERLAY_MTU - overhead);
    await c.syncAll();
    if (mode === 'bgp') await c.waitForBgp();
    const [a, b] = [await c.addPod(c.nodes[0]!), await c.addPod(c.nodes[1]!)];
    if (GRO) await enableGro(c);
    const [n1, n2] = [c.nodes[0]!, c.nodes[1]!];
    servers.push(await iperfServer(b.netns, b.ip), await iperfServer(n2.netns, n2.underlayAddress));
    const pod: number[] = [];
    const node: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? ['node', 'pod'] : ['pod', 'node'];
      for (const which of order) {
        if (which === 'pod') pod.push(await iperf(a.netns, b.ip));
        else node.push(await iperf(n1.netns, n2.underlayAddress));
      }
    }
    const p = median(pod), n = median(node);
    // Per-round ratios of back-to-back runs cancel slow drift in machine load; shown for judging noise.
    const rounds = pod.map((x, i) => x / node[i]!);
    return `${mode} ratio=${(p / n).toFixed(2)} pod=${p.toFixed(2)} node=${n.toFixed(2)}\n`
      + `#   ${mode} per-round pod/node ${rounds.map((r) => r.toFixed(2)).join(' ')} (median ${median(rounds).toFixed(2)}); pod ${pod.map((x) => x.toFixed(1)).join(' ')}; node ${node.map((x) => x.toFixed(1)).join(' ')}`;
  } finally {
    for (const s of servers) s.kill();
    c.destroy();
  }
}

function ipv4(n: number): string { return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.'); }

async function routeSync(mode: 'host-gw' | 'vxlan'): Promise<string> {
  const id = beginRun();
  const ns = `wd${id}-n1`;
  try {
    await must(['ip', 'netns', 'add', ns]);
    // A veth pair stands in for the underlay NIC; a /15 makes every simulated peer on-link.
    await must(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    await must(['ip', '-n', ns, 'addr', 'add', '198.18.0.1/15', 'dev', 'eth0']);
    await must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', ns, 'link', 'set', 'eth1', 'up']);
    const local = { name: 'n0', underlayAddress: '198.18.0.1', underlaySubnet: '198.18.0.0/15', underlayInterface: 'eth0', blocks: ['10.0.0.0/26'] };
    const peers: PeerNode[] = [];
    for (let i = 1; i <= PEERS; i++) {
      peers.push({ name: `p${i}`, underlayAddress: ipv4(((198 << 24) >>> 0) + (18 << 16) + 10 + i), blocks: [`${ipv4(((10 << 24) >>> 0) + i * 64)}/26`] });
    }
    const cfg = { mtu: 1450, pools: [{ cidr: '10.0.0.0/8', natOutgoing: true }], linkPrefix: `weft${id}` };
    const agent = new NodeDataplane({ backend: mode, config: cfg, netns: ns, nftTable: `weft_${id}` });
    let t = performance.now();
    const full = await agent.sync(local, peers);
    const fullMs = performance.now() - t;
    t = performance.now();
    const again = await new NodeDataplane({ backend: mode, config: cfg, netns: ns, nftTable: `weft_${id}` }).sync(local, peers);
    const resyncMs = performance.now() - t;
    const oneLess = await agent.sync(local, peers.slice(1));
    const oneMore = await agent.sync(local, peers);
    const routes = (await must(['ip', '-n', ns, 'route', 'show', 'proto', '87'])).trim().split('\n').length;
    return `route-sync ${mode} peers=${PEERS} full=${fullMs.toFixed(0)}ms ops=${full.kernel.ops} batches=ip:1,bridge:${full.kernel.plan.bridge.length ? 1 : 0},nft:1 routes=${routes} `
      + `restart-resync=${resyncMs.toFixed(0)}ms ops=${again.kernel.ops} peer-remove-ops=${oneLess.kernel.ops} peer-add-ops=${oneMore.kernel.ops}`;
  } finally { endRun(id); }
}

const why = dataplaneUnavailable();
if (why) { console.log(`bench:dataplane skipped: ${why}`); process.exit(0); }
for (const tool of ['iperf3', ...(GRO ? ['ethtool'] : [])]) {
  if ((await must(['sh', '-c', `command -v ${tool} || true`])).trim() === '') {
    console.log(`bench:dataplane skipped: ${tool} is not installed (apt-get install ${tool})`);
    process.exit(0);
  }
}
console.log(`# rounds=${ROUNDS} x ${SECONDS}s, underlay MTU ${UNDERLAY_MTU}, veth GRO ${GRO ? 'on' : 'off'}; Gbit/s medians; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
for (const mode of MODES) console.log(await throughput(mode));
for (const mode of ['host-gw', 'vxlan'] as const) console.log(await routeSync(mode));
