// Sysctls the dataplane depends on. Each is set only when the observed value differs, and every
// value read or written is returned so the agent can report it in NodeNetwork.status.
import { runChecked, type CommandRunner } from './exec.ts';

export interface SysctlWant {
  /** Path under /proc/sys, e.g. "net/ipv4/conf/weft.vxlan/rp_filter" (slashes, so device names
   *  with dots stay unambiguous). */
  key: string;
  value: number;
  /** exact: must equal value; atLeast: raised to value when lower, never lowered. */
  mode: 'exact' | 'atLeast';
  /** Absent in this namespace (e.g. neigh gc_thresh outside the initial netns) is fine. */
  optional?: boolean;
}

export interface SysctlResult { key: string; wanted: number; observed: number | null; set: boolean; note?: string }

/** What the dataplane needs: forwarding, loose reverse-path filtering (asymmetric paths through
 *  tunnels), and a neighbour table big enough for one entry per node plus pods. */
export function dataplaneSysctls(nodeCount: number, tunnelDevices: string[]): SysctlWant[] {
  const n = Math.max(1, nodeCount);
  const wants: SysctlWant[] = [
    { key: 'net/ipv4/ip_forward', value: 1, mode: 'exact' },
    { key: 'net/ipv4/conf/all/rp_filter', value: 2, mode: 'exact' },
    ...tunnelDevices.map((d): SysctlWant => ({ key: `net/ipv4/conf/${d}/rp_filter`, value: 2, mode: 'exact' })),
    // Kernel defaults are 128/512/1024: plenty for small clusters, too few beyond ~500 nodes.
    { key: 'net/ipv4/neigh/default/gc_thresh1', value: Math.max(128, 2 * n), mode: 'atLeast', optional: true },
    { key: 'net/ipv4/neigh/default/gc_thresh2', value: Math.max(512, 4 * n), mode: 'atLeast', optional: true },
    { key: 'net/ipv4/neigh/default/gc_thresh3', value: Math.max(1024, 8 * n), mode: 'atLeast', optional: true },
  ];
  return wants;
}

export function needsWrite(w: SysctlWant, observed: number | null): boolean {
  if (observed === null) return false;
  return w.mode === 'exact' ? observed !== w.value : observed < w.value;
}

/** Parses "key\tvalue" lines; an empty value means the file is absent. */
export function parseSysctlDump(text: string): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [k, v] = line.split('\t');
    out.set(k!, v === undefined || v.trim() === '' ? null : Number(v.trim()));
  }
  return out;
}

// $1 is the sysctl root; the rest are keys (read) or key/value pairs (write).
const READ_SCRIPT = 'root=$1; shift; for k; do if [ -r "$root/$k" ]; then printf "%s\\t%s\\n" "$k" "$(cat "$root/$k")"; else printf "%s\\t\\n" "$k"; fi; done';
const WRITE_SCRIPT = 'root=$1; shift; while [ $# -gt 1 ]; do printf "%s" "$2" > "$root/$1" || exit 1; shift 2; done';

/** Current values of `keys` under `root` in one process; an absent key reads as null. Never throws on exit codes. */
export async function readSysctls(runner: CommandRunner, keys: string[], root = '/proc/sys'): Promise<{ values: Map<string, number | null> } | { error: string }> {
  const r = await runner.run(['sh', '-c', READ_SCRIPT, 'sh', root, ...keys]);
  if (r.code !== 0) return { error: `reading ${root}: ${r.stderr.trim() || `exit ${r.code}`}` };
  return { values: parseSysctlDump(r.stdout) };
}

/**
 * Reads every sysctl in one process and writes the differing ones in one more. `root` is where
 * /proc/sys is writable: in the unprivileged DaemonSet container /proc/sys is read-only and the
 * host's /proc/sys/net is mounted under /host/proc/sys/net (render/daemonset.ts).
 */
export async function ensureSysctls(runner: CommandRunner, wants: SysctlWant[], root = '/proc/sys'): Promise<SysctlResult[]> {
  if (!wants.length) return [];
  const observed = parseSysctlDump(await runChecked(runner, ['sh', '-c', READ_SCRIPT, 'sh', root, ...wants.map((w) => w.key)]));
  const results: SysctlResult[] = wants.map((w) => {
    const o = observed.get(w.key) ?? null;
    const r: SysctlResult = { key: w.key, wanted: w.value, observed: o, set: needsWrite(w, o) };
    if (o === null) r.note = w.optional ? 'not available in this network namespace' : 'missing';
    return r;
  });
  const missing = results.filter((r, i) => r.observed === null && !wants[i]!.optional);
  if (missing.length) {
    throw new Error(`sysctl ${missing.map((m) => m.key).join(', ')} not found under ${root}${runner.netns ? ` in netns ${runner.netns}` : ''}: is the device created and the kernel module loaded?`);
  }
  const writes = results.filter((r) => r.set);
  if (writes.length) {
    await runChecked(runner, ['sh', '-c', WRITE_SCRIPT, 'sh', root, ...writes.flatMap((r) => [r.key, String(r.wanted)])]);
  }
  return results;
}
