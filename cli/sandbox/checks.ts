// What the sandbox proves about the pod network it built: every pod reaches every other pod,
// the path MTU is exactly the MTU Weft chose (DF ping), and what pod-to-pod traffic costs
// against the underlay (iperf3, pod pair vs node pair, medians of interleaved rounds).
import { spawn, type ChildProcess } from 'node:child_process';
import { nsRun, sleep } from './exec.ts';

export interface Endpoint {
  /** Display name, e.g. "node-1/demo-a". */
  name: string;
  netns: string;
  ip: string;
  node: string;
  subnet: string;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  lines: string[];
}

async function ping(from: Endpoint, to: string, extra: string[] = [], attempts = 2): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if ((await nsRun(from.netns, ['ping', '-n', '-q', '-c1', '-W2', ...extra, to], { timeoutMs: 10_000 })).code === 0) return true;
  }
  return false;
}

/** Every pod pings every other pod; a table with ✓/✗ per pair. */
export async function connectivityMatrix(pods: Endpoint[]): Promise<CheckResult> {
  const results = new Map<string, boolean>();
  await Promise.all(pods.flatMap((a) => pods.filter((b) => b !== a).map(async (b) => {
    results.set(`${a.name}>${b.name}`, await ping(a, b.ip));
  })));
  const width = Math.max(...pods.map((p) => p.name.length));
  const col = Math.max(4, ...pods.map((p) => p.name.length));
  const header = `${'from \\ to'.padEnd(width)}  ${pods.map((p) => p.name.padEnd(col)).join(' ')}`.trimEnd();
  const rows = pods.map((a) => `${a.name.padEnd(width)}  ${pods.map((b) => (a === b ? '·' : results.get(`${a.name}>${b.name}`) ? '✓' : '✗').padEnd(col)).join(' ')}`.trimEnd());
  const failed = [...results.entries()].filter(([, ok]) => !ok).map(([k]) => k.replace('>', ' -> '));
  const ok = failed.length === 0;
  return {
    name: 'pod-to-pod connectivity (ping)',
    ok,
    lines: [
      `${results.size - failed.length}/${results.size} pod pairs reach each other`,
      header,
      ...rows,
      ...(ok ? [] : [`unreachable: ${failed.join(', ')}`]),
    ],
  };
}

/** `ping -M do -s MTU-28` must pass and `-s MTU-27` must fail, on a same-subnet and a cross-subnet pair. */
export async function pathMtu(pairs: [Endpoint, Endpoint][], mtu: number): Promise<CheckResult> {
  const lines: string[] = [];
  let ok = true;
  for (const [a, b] of pairs) {
    const fits = await ping(a, b.ip, ['-M', 'do', '-s', String(mtu - 28)]);
    const tooBig = await ping(a, b.ip, ['-M', 'do', '-s', String(mtu - 27)], 1);
    const pass = fits && !tooBig;
    ok &&= pass;
    const where = a.subnet === b.subnet ? 'same subnet' : 'across subnets';
    lines.push(`${pass ? '✓' : '✗'} ${a.name} -> ${b.name} (${where}): ${mtu - 28} bytes + DF ${fits ? 'pass' : 'FAIL'}, ${mtu - 27} bytes + DF ${tooBig ? 'PASS (the path carries more than the pod MTU)' : 'rejected'}`);
  }
  return { name: `DF ping at the pod MTU ${mtu}`, ok, lines };
}

function startIperfServer(ns: string, bind: string, port: number): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-B', bind, '-p', String(port)], { stdio: 'ignore' });
}

async function iperf(from: Endpoint, to: Endpoint, port: number, seconds: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const r = await nsRun(from.netns, ['iperf3', '-c', to.ip, '-p', String(port), '-t', String(seconds), '-J'], { timeoutMs: (seconds + 15) * 1000 });
    try {
      const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
      const bps = j.end?.sum_received?.bits_per_second;
      if (bps && bps > 0) return bps;
      if (attempt >= 5) throw new Error(j.error ?? 'no result');
    } catch (e) {
      if (attempt >= 5) throw new Error(`iperf3 ${from.name} -> ${to.name}: ${(e as Error).message} ${r.stderr.trim()}`);
    }
    // The server may not listen yet.
    await sleep(300);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gbit = (bps: number) => `${(bps / 1e9).toFixed(1)} Gbit/s`;

export interface ThroughputPath {
  label: string;
  pods: [Endpoint, Endpoint];
  nodes: [Endpoint, Endpoint];
}

/**
 * Pod pair vs node pair over the same underlay path, interleaved round by round (throughput on
 * shared machines swings between runs, so only the ratio of medians means something). Fails
 * only when a run fails: the ratio is reported, not judged.
 */
export async function throughput(paths: ThroughputPath[], rounds = 3, seconds = 1): Promise<CheckResult> {
  const servers: ChildProcess[] = [];
  const lines: string[] = [];
  try {
    let port = 15201;
    const plan = paths.map((p) => ({ ...p, podPort: port++, nodePort: port++, pod: [] as number[], node: [] as number[] }));
    for (const p of plan) {
      servers.push(startIperfServer(p.pods[1].netns, p.pods[1].ip, p.podPort), startIperfServer(p.nodes[1].netns, p.nodes[1].ip, p.nodePort));
    }
    await sleep(300);
    for (let r = 0; r < rounds; r++) {
      for (const p of plan) {
        p.pod.push(await iperf(p.pods[0], p.pods[1], p.podPort, seconds));
        p.node.push(await iperf(p.nodes[0], p.nodes[1], p.nodePort, seconds));
      }
    }
    for (const p of plan) {
      const pod = median(p.pod);
      const node = median(p.node);
      lines.push(`${p.label}: pod-to-pod ${gbit(pod)}, node-to-node ${gbit(node)}, ratio ${(pod / node).toFixed(2)} (median of ${rounds} interleaved ${seconds}s runs)`);
    }
    return { name: 'throughput (iperf3)', ok: true, lines };
  } catch (e) {
    return { name: 'throughput (iperf3)', ok: false, lines: [...lines, (e as Error).message] };
  } finally {
    for (const s of servers) s.kill('SIGKILL');
  }
}
