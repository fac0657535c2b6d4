// A small CNI runtime: runs a conflist's plugins in order for ADD (each gets the previous
// plugin's result as prevResult) and in reverse for DEL (each gets the cached ADD result), per
// the CNI 1.0 spec. Plugins run inside the node's namespace, which is their "host" side.
import { existsSync } from 'node:fs';
import { nsRun } from './exec.ts';

export interface CniConflist { cniVersion: string; name: string; plugins: Record<string, unknown>[] }
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  [k: string]: unknown;
}
export interface CniRuntime {
  containerId: string;
  /** Path of the pod's netns, e.g. /var/run/netns/NAME. */
  netnsPath: string;
  ifName: string;
  /** Namespace the plugins run in (the node). */
  hostNetns: string;
  cniPath?: string[];
}

export class CniError extends Error {
  constructor(readonly plugin: string, readonly command: string, readonly code: number | undefined, msg: string) {
    super(`CNI ${command} failed in plugin ${plugin}${code !== undefined ? ` (code ${code})` : ''}: ${msg}`);
  }
}

function findPlugin(type: string, paths: string[]): string {
  for (const dir of paths) if (existsSync(`${dir}/${type}`)) return `${dir}/${type}`;
  throw new CniError(type, 'lookup', undefined, `plugin binary "${type}" not found in CNI_PATH ${paths.join(':')}`);
}

async function invoke(command: 'ADD' | 'DEL', conflist: CniConflist, plugin: Record<string, unknown>, rt: CniRuntime, prevResult?: CniResult): Promise<CniResult | null> {
  const paths = rt.cniPath ?? ['/usr/lib/cni', '/opt/cni/bin'];
  const type = String(plugin.type);
  const conf: Record<string, unknown> = { ...plugin, cniVersion: conflist.cniVersion, name: conflist.name };
  if (prevResult) conf.prevResult = prevResult;
  const env = {
    ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: rt.containerId, CNI_NETNS: rt.netnsPath,
    CNI_IFNAME: rt.ifName, CNI_PATH: paths.join(':'),
  };
  const out = await nsRun(rt.hostNetns, [findPlugin(type, paths)], { input: JSON.stringify(conf), env });
  if (out.code !== 0) {
    let msg = out.stderr.trim() || out.stdout.trim();
    let code: number | undefined;
    try { const e = JSON.parse(out.stdout) as { code?: number; msg?: string; details?: string }; code = e.code; msg = `${e.msg ?? ''}${e.details ? `: ${e.details}` : ''}`; } catch { /* not JSON */ }
    throw new CniError(type, command, code, msg);
  }
  return command === 'ADD' ? JSON.parse(out.stdout) as CniResult : null;
}

export async function cniAdd(conflist: CniConflist, rt: CniRuntime): Promise<CniResult> {
  let result: CniResult | undefined;
  for (const plugin of conflist.plugins) result = (await invoke('ADD', conflist, plugin, rt, result))!;
  if (!result) throw new CniError('-', 'ADD', undefined, `conflist ${conflist.name} has no plugins`);
  return result;
}

export async function cniDel(conflist: CniConflist, rt: CniRuntime, cached?: CniResult): Promise<void> {
  for (const plugin of [...conflist.plugins].reverse()) await invoke('DEL', conflist, plugin, rt, cached);
}

/** The conflist shape the render layer produces, with the agent's ranges filled in. */
export function ptpConflist(opts: { mtu: number; blocks: string[]; dataDir: string; bandwidth?: boolean }): CniConflist {
  const plugins: Record<string, unknown>[] = [{
    type: 'ptp',
    mtu: opts.mtu,
    ipam: {
      type: 'host-local',
      // One range set: a pod gets one IPv4 address, from the blocks in order.
      ranges: [opts.blocks.map((subnet) => ({ subnet }))],
      // ptp only installs routes IPAM hands it; pods need one default route via the host.
      routes: [{ dst: '0.0.0.0/0' }],
      dataDir: opts.dataDir,
    },
  }];
  if (opts.bandwidth) plugins.push({ type: 'bandwidth', capabilities: { bandwidth: true } });
  return { cniVersion: '1.0.0', name: 'weft', plugins };
}
