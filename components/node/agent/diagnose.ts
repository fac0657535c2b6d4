// /debug/diagnose: what this agent sees, as JSON, for `weft diagnose` to consume. Every section
// is read fresh; a section that fails to read says why instead of failing the whole answer.
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseBirdProtocols } from '../backends/bgp.ts';
import { execRunner, type CommandRunner } from '../kernel/exec.ts';
import { readSysctls } from '../kernel/sysctl.ts';

/** A diagnose request reads the node; a tool that takes longer than this is reported, not awaited. */
export const DIAGNOSE_EXEC_TIMEOUT_MS = 5_000;

async function json(runner: CommandRunner, argv: string[]): Promise<unknown> {
  const r = await runner.run(argv, undefined, { timeoutMs: DIAGNOSE_EXEC_TIMEOUT_MS });
  if (r.code !== 0) return { error: r.stderr.trim() || `exit ${r.code}` };
  try { return JSON.parse(r.stdout || 'null'); } catch { return { raw: r.stdout }; }
}

async function text(runner: CommandRunner, argv: string[]): Promise<unknown> {
  const r = await runner.run(argv, undefined, { timeoutMs: DIAGNOSE_EXEC_TIMEOUT_MS });
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : { error: r.stderr.trim() || `exit ${r.code}` };
}

export interface DiagnoseInputs {
  runner: CommandRunner;
  confDir: string;
  vxlanDevice: string;
  nftTable: string;
  protocol: number;
  state: unknown;
  /** Where /proc/sys of the node's network namespace is readable (the DaemonSet mounts the host's under /host). */
  procSysRoot?: string;
  /** Our conflist (path in the agent's filesystem) and the CNI bin dir next to it. */
  conflistPath?: string;
  binDir?: string;
  /** Present when the node runs BGP: BIRD's control socket. */
  bird?: { socketPath: string; birdcBinary?: string };
}

const BASE_SYSCTLS = ['net/ipv4/ip_forward', 'net/ipv4/conf/all/rp_filter', 'net/ipv4/neigh/default/gc_thresh3'];
const CONNTRACK = ['net/netfilter/nf_conntrack_count', 'net/netfilter/nf_conntrack_max'];

/** Tunnel devices (vxlan, ipip) in `ip -json -d addr show`, whose rp_filter matters. */
function tunnelDevices(interfaces: unknown): string[] {
  if (!Array.isArray(interfaces)) return [];
  return interfaces.flatMap((i) => {
    const kind = (i as { linkinfo?: { info_kind?: string } })?.linkinfo?.info_kind;
    const name = (i as { ifname?: string })?.ifname;
    return name && (kind === 'vxlan' || kind === 'ipip') ? [name] : [];
  });
}

/** Sysctls and the conntrack fill as they are now (not as the last sync left them). */
export async function readSysctlsNow(runner: CommandRunner, root: string, devices: string[]): Promise<{ sysctls: unknown; conntrack: unknown }> {
  const keys = [...BASE_SYSCTLS, ...devices.map((d) => `net/ipv4/conf/${d}/rp_filter`), ...CONNTRACK];
  const read = await readSysctls(runner, keys, root);
  if ('error' in read) return { sysctls: { error: read.error }, conntrack: { error: read.error } };
  const values = Object.fromEntries(read.values);
  const [count, max] = CONNTRACK.map((k) => values[k]);
  for (const k of CONNTRACK) delete values[k];
  return {
    sysctls: { fresh: true, root, values },
    conntrack: typeof count === 'number' && typeof max === 'number' ? { count, max } : { error: 'nf_conntrack is not loaded in this network namespace' },
  };
}

/** Our conflist parsed down to what the checks need: the plugin types it chains (IPAM types too). */
async function readConflist(path: string): Promise<unknown> {
  const name = basename(path);
  let text: string;
  try { text = await readFile(path, 'utf8'); } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return err.code === 'ENOENT' ? { name, missing: true } : { name, error: `${path}: ${err.message}` };
  }
  try {
    const conf = JSON.parse(text) as { plugins?: { type?: string; ipam?: { type?: string } }[] };
    if (!Array.isArray(conf.plugins)) return { name, error: `${path}: no plugins list` };
    return { name, plugins: [...new Set(conf.plugins.flatMap((p) => [p?.type ?? '', p?.ipam?.type ?? '']).filter(Boolean))] };
  } catch (e) {
    return { name, error: `${path}: ${(e as Error).message}` };
  }
}

/** BIRD asked now: a stopped BIRD must not look like the last sync's Established sessions. */
async function readBird(b: NonNullable<DiagnoseInputs['bird']>): Promise<{ bird: unknown; bgpSessions: unknown }> {
  const r = await execRunner().run([b.birdcBinary ?? 'birdc', '-s', b.socketPath, 'show', 'protocols', 'all'], undefined, { timeoutMs: DIAGNOSE_EXEC_TIMEOUT_MS });
  if (r.code !== 0 || /Unable to connect|Cannot connect/i.test(r.stdout)) {
    const error = `birdc -s ${b.socketPath}: ${(r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.code}`}`;
    return { bird: { running: false, error }, bgpSessions: { error } };
  }
  return { bird: { running: true }, bgpSessions: parseBirdProtocols(r.stdout) };
}

export async function diagnose(d: DiagnoseInputs): Promise<Record<string, unknown>> {
  const confDir = await (async () => {
    try {
      const names = (await readdir(d.confDir)).sort();
      return Promise.all(names.map(async (name) => {
        const st = await stat(join(d.confDir, name)).catch(() => null);
        return { name, size: st?.size ?? null, modified: st?.mtime.toISOString() ?? null };
      }));
    } catch (e) { return { error: (e as Error).message }; }
  })();
  const [interfaces, routes, weftRoutes, neighbours, fdb, nft, rules] = await Promise.all([
    json(d.runner, ['ip', '-json', '-d', 'addr', 'show']),
    json(d.runner, ['ip', '-json', 'route', 'show', 'table', 'main']),
    json(d.runner, ['ip', '-json', 'route', 'show', 'proto', String(d.protocol), 'table', 'main']),
    json(d.runner, ['ip', '-json', 'neigh', 'show']),
    json(d.runner, ['bridge', '-json', 'fdb', 'show', 'dev', d.vxlanDevice]),
    json(d.runner, ['nft', '-j', 'list', 'table', 'inet', d.nftTable]),
    text(d.runner, ['ip', 'rule', 'show']),
  ]);
  const [now, conflist, binDir, bird] = await Promise.all([
    readSysctlsNow(d.runner, d.procSysRoot ?? '/proc/sys', tunnelDevices(interfaces)),
    d.conflistPath ? readConflist(d.conflistPath) : Promise.resolve(undefined),
    d.binDir ? readdir(d.binDir).then((entries) => ({ path: d.binDir, entries: entries.sort() }), (e: Error) => ({ path: d.binDir, error: e.message })) : Promise.resolve(undefined),
    d.bird ? readBird(d.bird) : Promise.resolve({ bird: undefined, bgpSessions: [] }),
  ]);
  return {
    collectedAt: new Date().toISOString(),
    agent: d.state,
    interfaces,
    routes: { weft: weftRoutes, main: routes },
    rules,
    neighbours,
    fdb,
    nftables: nft,
    cniConfDir: { path: d.confDir, entries: confDir },
    ...(conflist ? { cniConf: conflist } : {}),
    ...(binDir ? { cniBinDir: binDir } : {}),
    sysctls: now.sysctls,
    conntrack: now.conntrack,
    ...(bird.bird ? { bird: bird.bird } : {}),
    bgpSessions: bird.bgpSessions,
  };
}
