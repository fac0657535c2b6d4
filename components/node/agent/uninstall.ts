// Node cleanup on uninstall: returns a node to its state before Weft. Removes only what carries
// Weft's ownership markers (kernel/protocol.ts): links named <prefix>* of a kind Weft creates,
// routes with Weft's protocol number, BIRD's imported routes (proto bird, Weft's metric), the
// agent's nftables table; plus BIRD itself (by its pid file), the conflist and the host-local
// store of Weft's network. Idempotent: a second run finds nothing and changes nothing.
// Used by the agent when the operator marks its NodeNetwork for uninstall, and by
// `weft-node cleanup` (a node whose agent never ran the handshake).
import { readFile, rm, stat } from 'node:fs/promises';
import { routeDeleteCommand, diffKernel } from '../kernel/diff.ts';
import { runChecked, type CommandRunner } from '../kernel/exec.ts';
import { WEFT_BGP_KERNEL_METRIC, WEFT_ROUTE_PROTOCOL } from '../kernel/protocol.ts';
import { parseRoutes, readKernelState } from '../kernel/read.ts';
import type { RouteSpec } from '../kernel/types.ts';

/** Kernel route protocol number BIRD 2 writes (RTPROT_BIRD). */
const RTPROT_BIRD = 12;

export interface BirdFiles { configPath: string; socketPath: string; pidFile: string }

export interface NodeCleanupOptions {
  runner: CommandRunner;
  linkPrefix: string;
  nftTable: string;
  protocol?: number;
  /** Metric of the routes BIRD imports for Weft (BGP mode). */
  birdMetric?: number;
  /** Conflist files to remove (Weft's only: the agent passes the one it writes). */
  conflistPaths: string[];
  /** host-local stores of Weft's network to remove. */
  ipamStoreDirs: string[];
  bird?: BirdFiles;
  /** false: files and BIRD only (an agent run with --no-kernel never touched the kernel). */
  kernel?: boolean;
  /** Report what would be removed, change nothing. */
  dryRun?: boolean;
  /** How long BIRD gets to exit after SIGTERM before SIGKILL. Default 5 s. */
  birdStopTimeoutMs?: number;
}

export interface NodeCleanupReport {
  links: string[];
  /** Weft routes (proto weft) and BIRD routes of Weft (proto bird, Weft's metric), as destinations. */
  routes: string[];
  nftTable: boolean;
  files: string[];
  /** pid of the BIRD that was stopped. */
  birdStopped?: number;
  dryRun: boolean;
  /** What still exists after cleaning (empty when the node is clean). */
  remaining: string[];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** The pid in BIRD's pid file, only when that process really is a bird (pids are reused). */
async function birdPid(pidFile: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!(pid > 0) || !alive(pid)) return undefined;
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
  return /^bird/.test(comm) ? pid : undefined;
}

async function stopBirdAndWait(pid: number, timeoutMs: number): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

async function birdRoutes(runner: CommandRunner, metric: number): Promise<RouteSpec[]> {
  const json = await runChecked(runner, ['ip', '-json', 'route', 'show', 'proto', String(RTPROT_BIRD), 'table', 'main']);
  return parseRoutes(json).filter((r) => (r.metric ?? 0) === metric);
}

/** What the node holds of Weft right now (links, routes, nft table, files). */
export async function inventoryNode(o: NodeCleanupOptions): Promise<Omit<NodeCleanupReport, 'remaining' | 'dryRun'> & { birdPid?: number }> {
  const protocol = o.protocol ?? WEFT_ROUTE_PROTOCOL;
  const kernel = o.kernel ?? true;
  const observed = kernel ? await readKernelState(o.runner, { linkPrefix: o.linkPrefix, nftTable: o.nftTable, protocol }) : { links: [], routes: [], nft: null };
  const bird = kernel ? await birdRoutes(o.runner, o.birdMetric ?? WEFT_BGP_KERNEL_METRIC) : [];
  const files: string[] = [];
  for (const f of [...o.conflistPaths, ...o.ipamStoreDirs, ...(o.bird ? [o.bird.configPath, o.bird.socketPath, o.bird.pidFile] : [])]) {
    if (await exists(f)) files.push(f);
  }
  const pid = o.bird ? await birdPid(o.bird.pidFile) : undefined;
  return {
    links: observed.links.map((l) => l.name),
    routes: [...observed.routes.map((r) => r.dst), ...bird.map((r) => `${r.dst} (bird)`)],
    nftTable: observed.nft !== null,
    files,
    ...(pid ? { birdPid: pid } : {}),
  };
}

function remainingOf(inv: Awaited<ReturnType<typeof inventoryNode>>): string[] {
  return [
    ...inv.links.map((l) => `interface ${l}`),
    ...inv.routes.map((r) => `route ${r}`),
    ...(inv.nftTable ? ['nftables table'] : []),
    ...inv.files.map((f) => `file ${f}`),
    ...(inv.birdPid ? [`bird pid ${inv.birdPid}`] : []),
  ];
}

export async function cleanupNode(o: NodeCleanupOptions): Promise<NodeCleanupReport> {
  const before = await inventoryNode(o);
  if (o.dryRun) {
    return { links: before.links, routes: before.routes, nftTable: before.nftTable, files: before.files, ...(before.birdPid ? { birdStopped: before.birdPid } : {}), dryRun: true, remaining: remainingOf(before) };
  }
  // BIRD first: it would re-install the routes removed below (and `persist` keeps them after it exits).
  let birdStopped: number | undefined;
  if (before.birdPid) {
    await stopBirdAndWait(before.birdPid, o.birdStopTimeoutMs ?? 5_000);
    birdStopped = before.birdPid;
  }
  const protocol = o.protocol ?? WEFT_ROUTE_PROTOCOL;
  if (o.kernel ?? true) await cleanKernel(o, protocol);
  const files: string[] = [];
  for (const f of before.files) {
    await rm(f, { recursive: true, force: true });
    files.push(f);
  }
  const after = await inventoryNode(o);
  return {
    links: before.links,
    routes: before.routes,
    nftTable: before.nftTable,
    files,
    ...(birdStopped ? { birdStopped } : {}),
    dryRun: false,
    remaining: remainingOf(after),
  };
}

async function cleanKernel(o: NodeCleanupOptions, protocol: number): Promise<void> {
  const observed = await readKernelState(o.runner, { linkPrefix: o.linkPrefix, nftTable: o.nftTable, protocol });
  // The diff against "nothing desired" deletes exactly what the agent would own: links (with
  // their neighbours and FDB entries), Weft routes, the nft table. Never a flush.
  const plan = diffKernel({ links: [], routes: [], neighbors: [], fdb: [], nat: null }, observed, { nftTable: o.nftTable, protocol });
  const ip = [...plan.ip, ...(await birdRoutes(o.runner, o.birdMetric ?? WEFT_BGP_KERNEL_METRIC)).map((r) => routeDeleteCommand(r, RTPROT_BIRD))];
  if (ip.length) await runChecked(o.runner, ['ip', '-batch', '-'], ip.join('\n') + '\n');
  if (plan.nft !== null) await runChecked(o.runner, ['nft', '-f', '-'], plan.nft);
}

/** One line for logs, Events and the Uninstalled condition. */
export function describeCleanup(r: NodeCleanupReport): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const parts = [
    `${r.links.length} interface(s)${r.links.length ? ` (${r.links.join(', ')})` : ''}`,
    `${r.routes.length} route(s)`,
    r.nftTable ? 'the nftables table' : 'no nftables table',
    `${r.files.length} file(s)${r.files.length ? ` (${r.files.join(', ')})` : ''}`,
    r.birdStopped ? `stopped BIRD (pid ${r.birdStopped})` : 'no BIRD running',
  ];
  const tail = r.dryRun || r.remaining.length === 0 ? '' : `; still present: ${r.remaining.join(', ')}`;
  return `${verb} ${parts.join(', ')}${tail}`;
}
