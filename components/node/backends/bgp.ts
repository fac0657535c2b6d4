// bgp: no encapsulation; routes are exchanged by BIRD 2 running next to the agent.
//  - kernel (agent): a blackhole for each owned block, proto weft (like every mode);
//  - BIRD: the configuration is render's (render/bird.ts): render's cluster-wide template,
//    completed here with this node's router id, blocks and peers — every other node when
//    fullMesh, plus the configured peers that select this node (they add to the mesh).
// The config is written atomically (temp file, `bird -p` parse check, rename); BIRD is started
// when not running, reloaded with `birdc configure` when the file changed, and left alone
// otherwise, so an agent restart does not disturb sessions. A BIRD that died (killed with its
// agent's pod, upgraded) left its routes in the kernel (`persist`) and its peers keep this node's
// routes (RFC 4724): the next one is started with -R (graceful-restart recovery), so it keeps
// the kernel as it is until its peers resent their routes, and no packet is lost meanwhile.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { birdPeers, completeBirdTemplate, type BgpTopology } from './bird-config.ts';
import { execRunner, runChecked } from '../kernel/exec.ts';
import { checkPeers, emptyState } from './common.ts';
import type {
  BackendContext, BgpConfig, BgpSession, DaemonReport, DataplaneBackend, DataplaneConfig, LocalNode,
  PeerNode,
} from './types.ts';
import { DATAPLANES } from '../../../api/encapsulation.ts';
import { BGP_KERNEL_METRIC } from '../../../api/effective-config.ts';

function requireBgp(cfg: DataplaneConfig, local: LocalNode): BgpConfig {
  if (!cfg.bgp) throw new Error(`node ${local.name}: dataplane mode bgp needs cfg.bgp (asNumber, template, configPath, socketPath, pidFile)`);
  return cfg.bgp;
}

/** The node-to-node topology of a node whose pools BGP routes ('bgp' backend). */
export function topologyOf(bgp: BgpConfig): BgpTopology {
  return {
    mode: bgp.fullMesh ? 'mesh' : bgp.routeReflectors ? 'reflectors' : 'none',
    asNumber: bgp.nodeAsNumber ?? bgp.asNumber,
    clusterAsNumber: bgp.asNumber,
    ...(bgp.routeReflector ? { routeReflector: true } : {}),
  };
}

/** Pure: this node's BIRD configuration — render's template completed with its router id,
 *  blocks and peers (render/bird.ts, the one BIRD renderer). */
export function birdConfigFor(local: LocalNode, peers: PeerNode[], bgp: BgpConfig): string {
  return completeBirdTemplate(bgp.template, local, birdPeers(peers, topologyOf(bgp), bgp.peers));
}

/**
 * Pure: the BIRD configuration of a node whose pools are not routed by BGP (VXLAN, host-gw) while
 * BGP is enabled: no node-to-node sessions (the agent routes between nodes), the configured
 * peers (routers) only, to which it advertises its blocks (and the Service CIDRs), importing nothing.
 */
export function advertiseOnlyConfigFor(local: LocalNode, bgp: BgpConfig): string {
  const topo: BgpTopology = { ...topologyOf(bgp), mode: 'none', importNone: true };
  return completeBirdTemplate(bgp.template, local, birdPeers([], topo, bgp.peers));
}

/** Parses `birdc show protocols all` into one entry per BGP protocol. */
export function parseBirdProtocols(text: string): BgpSession[] {
  const sessions: BgpSession[] = [];
  let current: (BgpSession & { isBgp: boolean }) | null = null;
  const flush = () => { if (current?.isBgp) sessions.push({ peer: current.peer, name: current.name, state: current.state, info: current.info, ...(current.lastError ? { lastError: current.lastError } : {}) }); };
  for (const raw of text.split('\n')) {
    const line = raw;
    const head = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d(?: [\d:.]+)?|[\d:.]+)\s*(.*)$/.exec(line);
    if (head && !line.startsWith(' ') && head[1] !== 'Name') {
      flush();
      current = { name: head[1]!, peer: head[1]!, state: head[4]!, info: head[6]!.trim(), isBgp: head[2] === 'BGP' };
      continue;
    }
    if (!current) continue;
    const kv = /^\s+(BGP state|Neighbor address):\s+(\S+)/.exec(line);
    if (kv?.[1] === 'BGP state') current.state = kv[2]!;
    if (kv?.[1] === 'Neighbor address') current.peer = kv[2]!;
    const err = /^\s+Last error:\s+(.*\S)\s*$/.exec(line);
    if (err) current.lastError = err[1]!;
  }
  flush();
  return sessions;
}

async function birdRunning(bgp: BgpConfig): Promise<boolean> {
  const r = await execRunner().run([bgp.birdcBinary ?? 'birdc', '-s', bgp.socketPath, 'show', 'status']);
  return r.code === 0 && /Daemon is up and running/.test(r.stdout);
}

/**
 * True when the node's main table holds routes a BIRD of Weft wrote (protocol bird, metric
 * BGP_KERNEL_METRIC) while no BIRD runs: an earlier BIRD exited and `persist` left them. BIRD
 * must then start in graceful-restart recovery, or its first kernel scan deletes them before its
 * sessions are up again.
 */
export async function kernelHoldsBirdRoutes(ctx: BackendContext): Promise<boolean> {
  const out = await runChecked(ctx.runner, ['ip', '-4', '-json', 'route', 'show', 'proto', 'bird']);
  const routes = JSON.parse(out.trim() || '[]') as { metric?: number }[];
  return routes.some((r) => r.metric === BGP_KERNEL_METRIC);
}

/** The argv that starts BIRD; with recovery, -R (graceful-restart recovery after start). */
export function birdStartArgv(bgp: BgpConfig, recovery: boolean): string[] {
  return [bgp.birdBinary ?? 'bird', '-c', bgp.configPath, '-s', bgp.socketPath, '-P', bgp.pidFile, ...(recovery ? ['-R'] : [])];
}

/** Writes the config atomically after BIRD's own parse check; starts or reloads BIRD as needed. */
export async function reconcileBird(text: string, bgp: BgpConfig, ctx: BackendContext): Promise<DaemonReport['action']> {
  const current = await readFile(bgp.configPath, 'utf8').catch(() => null);
  const running = await birdRunning(bgp);
  if (current === text && running) return 'none';
  if (current !== text) {
    await mkdir(dirname(bgp.configPath), { recursive: true });
    const tmp = `${bgp.configPath}.tmp-${process.pid}`;
    await writeFile(tmp, text);
    const check = await execRunner().run([bgp.birdBinary ?? 'bird', '-p', '-c', tmp]);
    if (check.code !== 0) {
      await rm(tmp, { force: true });
      throw new Error(`generated BIRD config rejected by bird -p (kept the running one at ${bgp.configPath}): ${check.stderr.trim()}`);
    }
    await rename(tmp, bgp.configPath);
  }
  if (!running) {
    await mkdir(dirname(bgp.socketPath), { recursive: true });
    const recovery = await kernelHoldsBirdRoutes(ctx);
    await runChecked(ctx.runner, birdStartArgv(bgp, recovery));
    for (let i = 0; i < 50 && !(await birdRunning(bgp)); i++) await new Promise((r) => setTimeout(r, 100));
    return recovery ? 'recovered' : 'started';
  }
  const out = await runChecked(execRunner(), [bgp.birdcBinary ?? 'birdc', '-s', bgp.socketPath, 'configure']);
  if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`birdc configure did not reconfigure BIRD: ${out.trim()}`);
  return 'reconfigured';
}

export async function birdSessions(bgp: BgpConfig): Promise<BgpSession[]> {
  const out = await runChecked(execRunner(), [bgp.birdcBinary ?? 'birdc', '-s', bgp.socketPath, 'show', 'protocols', 'all']);
  return parseBirdProtocols(out);
}

/** Stops a BIRD started by reconcileBird (tests, node teardown) by the pid in its pid file. */
export async function stopBird(bgp: BgpConfig): Promise<void> {
  const pid = Number((await readFile(bgp.pidFile, 'utf8').catch(() => '')).trim());
  if (pid > 0) { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } }
}

export const bgpBackend: DataplaneBackend = {
  name: 'bgp',
  overhead: DATAPLANES.bgp.overhead,
  desired(local, peers, cfg) {
    checkPeers(local, peers);
    requireBgp(cfg, local);
    return emptyState(local, cfg);
  },
  tunnelDevices: () => [],
  async reconcileDaemon(local, peers, cfg, ctx) {
    const bgp = requireBgp(cfg, local);
    const action = await reconcileBird(birdConfigFor(local, peers, bgp), bgp, ctx);
    return { action, sessions: await birdSessions(bgp) };
  },
};
