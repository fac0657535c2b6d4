// Per-run naming and cleanup. Every namespace a run creates is named wd<id>-*, interfaces in the
// underlay namespace wd<id>*, managed links weft<id>.*, nft tables weft_<id>; a marker file
// /run/weft-dataplane/<id>.pid records the owning process so a later run can sweep what a
// crashed one left behind.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mustSync } from '../../../cli/sandbox/exec.ts';

export const STATE_DIR = '/run/weft-dataplane';
const NS_RE = /^wd([0-9a-f]{4})-/;

function listNetns(): string[] {
  try {
    return mustSync(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  } catch { return []; }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Removes every namespace of run id (killing the processes left in them, by pid) and its files. */
export function destroyRun(id: string): void {
  const names = listNetns().filter((n) => n.startsWith(`wd${id}-`));
  for (const ns of names) {
    let pids: number[] = [];
    try { pids = mustSync(['ip', 'netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number); } catch { /* gone */ }
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  for (const ns of names) { try { mustSync(['ip', 'netns', 'del', ns]); } catch { /* gone */ } }
  rmSync(`${STATE_DIR}/${id}`, { recursive: true, force: true });
  rmSync(`${STATE_DIR}/${id}.pid`, { force: true });
  // wireguard-go's UAPI sockets live outside the namespaces (/var/run/wireguard/DEV.sock).
  try {
    for (const f of readdirSync(WIREGUARD_SOCKET_DIR)) if (f.startsWith(`weft${id}`) && f.endsWith('.sock')) rmSync(`${WIREGUARD_SOCKET_DIR}/${f}`, { force: true });
  } catch { /* no wireguard-go ran */ }
}

const WIREGUARD_SOCKET_DIR = '/var/run/wireguard';

/** Deletes leftovers of runs whose owning process is gone. */
export function sweepStaleRuns(): string[] {
  const ids = new Set<string>();
  for (const ns of listNetns()) { const m = NS_RE.exec(ns); if (m) ids.add(m[1]!); }
  try { for (const f of readdirSync(STATE_DIR)) { const m = /^([0-9a-f]{4})(\.pid)?$/.exec(f); if (m) ids.add(m[1]!); } } catch { /* none */ }
  const swept: string[] = [];
  for (const id of ids) {
    let owner = 0;
    try { owner = Number(readFileSync(`${STATE_DIR}/${id}.pid`, 'utf8').trim()); } catch { /* no marker */ }
    if (owner > 0 && alive(owner)) continue;
    destroyRun(id);
    swept.push(id);
  }
  return swept;
}

const active = new Set<string>();
let handlersInstalled = false;

function cleanupAll(): void { for (const id of active) destroyRun(id); active.clear(); }

/** Starts a run: sweeps stale runs, picks a fresh id, registers exit/signal cleanup. */
export function beginRun(): string {
  sweepStaleRuns();
  mkdirSync(STATE_DIR, { recursive: true });
  let id: string;
  do { id = randomBytes(2).toString('hex'); } while (listNetns().some((n) => n.startsWith(`wd${id}-`)));
  writeFileSync(`${STATE_DIR}/${id}.pid`, String(process.pid));
  mkdirSync(`${STATE_DIR}/${id}`, { recursive: true });
  active.add(id);
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', cleanupAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => { cleanupAll(); process.exit(130); });
    }
    process.on('uncaughtException', (err) => { cleanupAll(); console.error(err); process.exit(1); });
  }
  return id;
}

export function endRun(id: string): void { destroyRun(id); active.delete(id); }
