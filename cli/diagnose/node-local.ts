// The node-local sections read directly in a node's network namespace, and DF/VXLAN pings from
// it. Only possible when `weft diagnose` runs as root on the machine that holds the node (the
// sandbox names it in the Node annotation sandbox.weft.dev/netns; --node-netns for others).
// Current agents serve the same sections at request time and probe through /debug/probe
// (remote-probe.ts); this path still covers agents of an older version.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBirdProtocols } from '../../components/node/backends/bgp.ts';
import { execRunner, type CommandRunner } from '../../components/node/kernel/exec.ts';
import type { AgentReport, DfProbe, InterfaceFacts, TunnelProbe } from './snapshot.ts';
import { isUnavailable } from './snapshot.ts';
import { mapLimit } from '../../kube/concurrency.ts';

export interface LocalNode {
  name: string;
  netns: string;
  /** Underlay address. */
  address: string;
}

/** Flags of the agent process running in the namespace, e.g. --cni-conf-dir, --bird-socket. */
async function agentFlags(netns: string): Promise<Record<string, string>> {
  const host = execRunner();
  const r = await host.run(['ip', 'netns', 'pids', netns]);
  for (const pid of r.stdout.split(/\s+/).filter(Boolean)) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!argv.includes('agent') || !argv.some((a) => a.endsWith('components/node/main.ts') || a.endsWith('weft-node'))) continue;
    const flags: Record<string, string> = {};
    for (let i = 0; i < argv.length; i++) if (argv[i]!.startsWith('--') && argv[i + 1] !== undefined) flags[argv[i]!] = argv[i + 1]!;
    return flags;
  }
  return {};
}

const SYSCTL_READ = 'for k; do if [ -r "/proc/sys/$k" ]; then printf "%s\\t%s\\n" "$k" "$(cat "/proc/sys/$k")"; fi; done';

export interface LocalOptions {
  /** The agent config's cni.confDir and cni.binDir (ConfigMap weft-config), to find the bin dir next to the conf dir. */
  confDir: string;
  binDir: string;
  confName: string;
}

/** Fills the sections the agent does not serve, and replaces its last-sync sysctls with fresh values. */
export async function collectLocal(node: LocalNode, report: AgentReport, o: LocalOptions): Promise<void> {
  const ns: CommandRunner = execRunner(node.netns);
  const flags = await agentFlags(node.netns);
  const ifaces: InterfaceFacts[] = report.interfaces && !isUnavailable(report.interfaces) ? report.interfaces : [];
  const keys = [
    'net/ipv4/ip_forward', 'net/ipv4/conf/all/rp_filter', 'net/ipv4/neigh/default/gc_thresh3',
    'net/netfilter/nf_conntrack_count', 'net/netfilter/nf_conntrack_max',
    ...ifaces.filter((i) => i.kind === 'vxlan' || i.kind === 'ipip').map((i) => `net/ipv4/conf/${i.name}/rp_filter`),
  ];
  const r = await ns.run(['sh', '-c', SYSCTL_READ, 'sh', ...keys]);
  if (r.code === 0) {
    const values: Record<string, number | null> = {};
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const [k, v] = line.split('\t');
      const n = Number(v?.trim());
      values[k!] = Number.isFinite(n) ? n : null;
    }
    const count = values['net/netfilter/nf_conntrack_count'];
    const max = values['net/netfilter/nf_conntrack_max'];
    delete values['net/netfilter/nf_conntrack_count'];
    delete values['net/netfilter/nf_conntrack_max'];
    report.sysctls = { values, fresh: true };
    report.conntrack = typeof count === 'number' && typeof max === 'number' ? { count, max } : { unavailable: 'conntrack: nf_conntrack is not loaded in this namespace' };
  }
  const confDir = flags['--cni-conf-dir'];
  if (confDir) {
    const name = flags['--cni-conf-name'] ?? o.confName;
    try {
      const conf = JSON.parse(await readFile(join(confDir, name), 'utf8')) as { plugins?: { type?: string; ipam?: { type?: string } }[] };
      // IPAM plugins (host-local) are binaries in the bin dir too.
      report.conflist = { name, plugins: [...new Set((conf.plugins ?? []).flatMap((p) => [p.type ?? '', p.ipam?.type ?? '']).filter(Boolean))] };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      report.conflist = err.code === 'ENOENT' ? { unavailable: `${name}: missing` } : { name, error: `${join(confDir, name)}: ${err.message}` };
    }
    if (confDir.endsWith(o.confDir)) {
      const binDir = join(confDir.slice(0, confDir.length - o.confDir.length) || '/', o.binDir);
      report.cniBinDir = await readdir(binDir).then((entries) => ({ path: binDir, entries }), (e: Error) => ({ unavailable: `CNI bin dir ${binDir}: ${e.message}` }));
    }
  }
  const socket = flags['--bird-socket'];
  if (socket && report.backend === 'bgp') {
    const b = await execRunner().run(['birdc', '-s', socket, 'show', 'protocols', 'all']);
    report.bgp = b.code === 0 && !/Unable to connect|Cannot connect/i.test(b.stdout)
      ? parseBirdProtocols(b.stdout).map((x) => ({ peer: x.peer, name: x.name, state: x.state, ...(x.info ? { info: x.info } : {}) }))
      : { unavailable: `birdc -s ${socket}: ${(b.stderr || b.stdout).trim().split('\n')[0] || `exit ${b.code}`}` };
  }
}

async function ping(ns: CommandRunner, to: string, extra: string[] = []): Promise<{ ok: boolean; detail: string }> {
  const r = await ns.run(['ping', '-n', '-q', '-c', '2', '-i', '0.2', '-W', '1', ...extra, to]);
  return { ok: r.code === 0, detail: (r.stderr.trim() || r.stdout.trim().split('\n').slice(-2, -1)[0] || '').slice(0, 200) };
}

/** DF pings over the given pairs of local nodes' underlay addresses at size (payload bytes), at
 *  most `concurrency` pairs at once. */
export async function dfProbes(pairs: [LocalNode, LocalNode][], size: number, concurrency: number): Promise<DfProbe[]> {
  return mapLimit(pairs, concurrency, async ([a, b]) => {
    const ns = execRunner(a.netns);
    const [small, big] = [await ping(ns, b.address), await ping(ns, b.address, ['-M', 'do', '-s', String(size)])];
    return { from: a.name, to: b.name, size, ok: big.ok, smallOk: small.ok, ...(big.ok ? {} : { detail: big.detail }) };
  });
}

/** Pings of each VXLAN peer's tunnel address (the packets travel on the VXLAN UDP port) next to an underlay ping. */
export async function tunnelProbes(pairs: { from: LocalNode; to: LocalNode; tunnelAddress: string }[], concurrency: number): Promise<TunnelProbe[]> {
  return mapLimit(pairs, concurrency, async (p) => {
    const ns = execRunner(p.from.netns);
    const [underlay, tunnel] = [await ping(ns, p.to.address), await ping(ns, p.tunnelAddress)];
    return { from: p.from.name, to: p.to.name, tunnelAddress: p.tunnelAddress, underlayOk: underlay.ok, tunnelOk: tunnel.ok };
  });
}
