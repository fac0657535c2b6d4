// npm run bench:wireguard — encrypted vs plain pod-to-pod throughput, side by side in one run.
// Root only; everything runs in per-run network namespaces.
//
// Two 2-node clusters of namespaces at once (host-gw underneath, underlay MTU 1500): one plain
// (pod MTU 1500), one with WireGuard between the nodes (pod MTU 1440; the kernel module where it
// exists, wireguard-go over TUN otherwise: the implementation is printed). Each round measures,
// back to back and in alternating order, pod->pod and node->node in both clusters with iperf3;
// medians over rounds; reported as ratios (encrypted pod / plain pod, and each pod/node), which
// is what survives the 10-35 Gbit/s swings of these shared machines.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { NodeDataplane, type NodeSyncReport, type PeerNode } from '../../components/node/backends/index.ts';
import { ensureKeyPair } from '../../components/node/backends/wireguard.ts';
import { TestCluster, type TestNode } from '../../test/dataplane/support/cluster.ts';
import { dataplaneUnavailable, must, sleep } from '../../cli/sandbox/exec.ts';
import { SECONDS, enableGro, iperf, iperfServer, median } from './iperf.ts';

const ROUNDS = Number(process.env.WEFT_BENCH_ROUNDS ?? 5);
const GRO = process.env.WEFT_BENCH_GRO !== '0';
const PORT = 51830;
const UNDERLAY_MTU = 1500;

interface Side { c: TestCluster; pods: { netns: string; ip: string }[]; reports: Map<string, NodeSyncReport> }

/** A 2-node host-gw cluster, plain or with WireGuard; returns once pod traffic flows the way asked. */
async function side(encrypted: boolean): Promise<Side> {
  const c = await TestCluster.create({ nodes: 2, topology: 'one-subnet', underlayMtu: UNDERLAY_MTU });
  const mtu = encrypted ? UNDERLAY_MTU - 60 : UNDERLAY_MTU;
  c.mode = 'host-gw';
  c.mtu = mtu;
  const keys = new Map<string, string>();
  // Per-node link prefixes: wireguard-go's UAPI socket is named after the device, machine-wide.
  const prefix = (n: TestNode) => `${c.linkPrefix}n${n.index}`;
  for (const n of c.nodes) {
    const cfg = { ...c.config(n), linkPrefix: prefix(n) };
    if (encrypted) {
      const keyFile = join(n.dataDir, 'wireguard', 'private.key');
      const { publicKey } = await ensureKeyPair(keyFile);
      keys.set(n.name, publicKey);
      Object.assign(cfg, { encryption: { port: PORT, privateKeyFile: keyFile, publicKey } });
    }
    n.agent = new NodeDataplane({ backend: 'host-gw', config: cfg, netns: n.netns, nftTable: c.nftTable });
  }
  const peersOf = (n: TestNode): PeerNode[] => c.peersOf(n).map((p) => (encrypted ? { ...p, wireguard: { publicKey: keys.get(p.name)!, endpoint: `${p.underlayAddress}:${PORT}` } } : p));
  const reports = new Map<string, NodeSyncReport>();
  const deadline = Date.now() + 60_000;
  for (;;) {
    for (const n of c.nodes) reports.set(n.name, await n.agent!.sync(n, peersOf(n)));
    if (!encrypted || [...reports.values()].every((r) => r.wireguard?.encrypted.length === 1)) break;
    if (Date.now() > deadline) throw new Error(`WireGuard handshakes did not complete in 60 s: ${JSON.stringify([...reports.values()].map((r) => r.wireguard))}`);
    await sleep(500);
  }
  const pods = [await c.addPod(c.nodes[0]!), await c.addPod(c.nodes[1]!)];
  if (GRO) await enableGro(c);
  return { c, pods, reports };
}

const why = dataplaneUnavailable();
if (why) { console.log(`bench:wireguard skipped: ${why}`); process.exit(0); }
for (const tool of ['iperf3', 'wg', ...(GRO ? ['ethtool'] : [])]) {
  if ((await must(['sh', '-c', `command -v ${tool} || true`])).trim() === '') {
    console.log(`bench:wireguard skipped: ${tool} is not installed (hack/install-deps installs it)`);
    process.exit(0);
  }
}
const kernelModule = (await must(['sh', '-c', 'ip link add wgbench$$ type wireguard 2>/dev/null && ip link del wgbench$$ && echo yes || true'])).trim() === 'yes';
if (!kernelModule && (await must(['sh', '-c', 'command -v wireguard-go || true'])).trim() === '') {
  console.log('bench:wireguard skipped: no WireGuard kernel module and wireguard-go is not installed (hack/install-deps installs it)');
  process.exit(0);
}

const sides: Side[] = [];
const servers: ChildProcess[] = [];
try {
  const plain = await side(false);
  sides.push(plain);
  const enc = await side(true);
  sides.push(enc);
  const implementation = enc.reports.get('n1')!.wireguard!.implementation;
  console.log(`# rounds=${ROUNDS} x ${SECONDS}s, underlay MTU ${UNDERLAY_MTU}, pod MTU plain ${UNDERLAY_MTU} / WireGuard ${UNDERLAY_MTU - 60}, WireGuard ${implementation}, veth GRO ${GRO ? 'on' : 'off'}; Gbit/s medians; load average ${loadavg()[0]!.toFixed(1)}`);
  for (const s of sides) {
    const [, b] = s.pods;
    servers.push(await iperfServer(b!.netns, b!.ip), await iperfServer(s.c.nodes[1]!.netns, s.c.nodes[1]!.underlayAddress));
  }
  const runs = { plainPod: [] as number[], plainNode: [] as number[], encPod: [] as number[], encNode: [] as number[] };
  const measure: Record<keyof typeof runs, () => Promise<number>> = {
    plainPod: () => iperf(plain.pods[0]!.netns, plain.pods[1]!.ip),
    plainNode: () => iperf(plain.c.nodes[0]!.netns, plain.c.nodes[1]!.underlayAddress),
    encPod: () => iperf(enc.pods[0]!.netns, enc.pods[1]!.ip),
    encNode: () => iperf(enc.c.nodes[0]!.netns, enc.c.nodes[1]!.underlayAddress),
  };
  const keys = Object.keys(runs) as (keyof typeof runs)[];
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of r % 2 ? [...keys].reverse() : keys) runs[k].push(await measure[k]());
  }
  const m = Object.fromEntries(keys.map((k) => [k, median(runs[k])])) as Record<keyof typeof runs, number>;
  const perRound = runs.encPod.map((x, i) => x / runs.plainPod[i]!);
  console.log(`wireguard encrypted/plain pod=${(m.encPod / m.plainPod).toFixed(2)} (per round ${perRound.map((x) => x.toFixed(2)).join(' ')}, median ${median(perRound).toFixed(2)})`);
  console.log(`wireguard pod/node ratio=${(m.encPod / m.encNode).toFixed(2)} pod=${m.encPod.toFixed(2)} node=${m.encNode.toFixed(2)}`);
  console.log(`plain     pod/node ratio=${(m.plainPod / m.plainNode).toFixed(2)} pod=${m.plainPod.toFixed(2)} node=${m.plainNode.toFixed(2)}`);
  console.log(`#   runs: ${keys.map((k) => `${k} ${runs[k].map((x) => x.toFixed(2)).join(' ')}`).join('; ')}`);
} finally {
  for (const s of servers) s.kill();
  for (const s of sides) s.c.destroy();
}
