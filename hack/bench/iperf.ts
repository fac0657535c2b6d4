// iperf3 between namespaces, for the dataplane benchmarks (bench:dataplane, bench:wireguard).
import type { ChildProcess } from 'node:child_process';
import type { TestCluster } from '../../test/dataplane/support/cluster.ts';
import { nsRun, nsSpawn, sleep } from '../../cli/sandbox/exec.ts';

/** Seconds per iperf3 run (WEFT_BENCH_SECONDS, default 2). */
export const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? 2);

export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };

/** Gbit/s received by an iperf3 client in clientNs sending to server for SECONDS. */
export async function iperf(clientNs: string, server: string): Promise<number> {
  const r = await nsRun(clientNs, ['iperf3', '-c', server, '-t', String(SECONDS), '-J'], { timeoutMs: (SECONDS + 20) * 1000 });
  if (r.code !== 0) throw new Error(`iperf3 ${clientNs} -> ${server} failed: ${r.stdout.slice(0, 400)} ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

export async function iperfServer(ns: string, bind: string): Promise<ChildProcess> {
  const p = nsSpawn(ns, ['iperf3', '-s', '-B', bind]);
  await sleep(300);
  return p;
}

/** GRO on every veth of the path lets the receiving side coalesce segments before routing and
 *  decapsulation instead of handling 1500-byte packets one by one. */
export async function enableGro(c: TestCluster): Promise<void> {
  const all = [...c.nodes.map((n) => n.netns), ...c.pods.map((p) => p.netns), c.ul, `wd${c.id}-rt`];
  await Promise.all(all.map(async (ns) => {
    const links = JSON.parse((await nsRun(ns, ['ip', '-json', 'link', 'show', 'type', 'veth'])).stdout || '[]') as { ifname: string }[];
    for (const l of links) await nsRun(ns, ['ethtool', '-K', l.ifname.split('@')[0]!, 'gro', 'on']);
  }));
}

