// The host-local IPAM plugin's on-disk store, read and (for leaked addresses) released by the
// agent. Layout (containernetworking/plugins, backend/disk): DATADIR/NETWORK/<ip> holds
// "<containerID>\n<ifname>" for every reserved address, last_reserved_ip.<i> the allocation
// cursor, and DATADIR/NETWORK/lock the flock(2) every plugin call holds while it allocates or
// releases. The agent takes the same lock before it removes anything, so it never races a
// concurrent CNI ADD/DEL.
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { syncDir } from '../cni/conflist.ts';

export interface HostLocalEntry { ip: string; containerId: string; ifname?: string }

export function storeDir(dataDir: string, network: string): string {
  return join(dataDir, network);
}

/** Parses one reservation file's content. */
export function parseReservation(ip: string, content: string): HostLocalEntry {
  const [id = '', ifname] = content.split(/\r?\n/);
  return { ip, containerId: id.trim(), ...(ifname?.trim() ? { ifname: ifname.trim() } : {}) };
}

/** Every reservation in the store; an absent store is empty. Reads files in bounded parallel
 *  batches: the seed case is tens of thousands of files. */
export async function readStore(dir: string): Promise<HostLocalEntry[]> {
  let names: string[];
  try {
    // Only regular files are reservations: a directory or symlink named like an address (left
    // by hand or by a hostile process) must not stop the leak scan, nor be followed.
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const ips = names.filter((n) => ipaddr.isValid(n));
  const out: HostLocalEntry[] = [];
  for (let i = 0; i < ips.length; i += 512) {
    const batch = await Promise.all(ips.slice(i, i + 512).map(async (ip) => {
      try { return parseReservation(ip, await readFile(join(dir, ip), 'utf8')); } catch (e) {
        // Released by a CNI DEL between readdir and readFile, or replaced by a non-file since.
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR') return null;
        throw e;
      }
    }));
    for (const e of batch) if (e) out.push(e);
  }
  return out;
}

/** How long the agent waits for host-local's lock. A CNI ADD or DEL holds it for milliseconds;
 *  a lock held longer belongs to a stuck plugin, and the leak scan must give up (and retry on
 *  the next pass) instead of hanging the agent's pass forever. */
export const STORE_LOCK_TIMEOUT_MS = 10_000;

/**
 * Runs fn while holding host-local's lock on dir. The lock is held by a `flock` child process
 * (Node has no flock(2)); it is released when fn settles and the child's stdin closes. Waiting
 * for the lock is bounded by timeoutMs (flock -w, and a kill of the child as a backstop);
 * throws an Error naming the lock file when it is not acquired in time.
 */
export async function withStoreLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = STORE_LOCK_TIMEOUT_MS): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lockFile = join(dir, 'lock');
  const waitSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const child = spawn('flock', ['-x', '-w', String(waitSeconds), lockFile, '-c', 'echo locked; cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run flock(1) to lock the host-local store ${dir}: ${e.message}; install util-linux`)));
      child.stdout.once('data', () => resolve());
      void exited.then((code) => reject(new Error(
        code === 1 && !stderr.trim()
          ? `the host-local store lock ${lockFile} is held by another process for more than ${waitSeconds} s (a stuck CNI plugin?); retrying on the next pass`
          : `flock on ${lockFile} exited (${code}) before locking: ${stderr.trim()}`)));
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the host-local store lock ${lockFile} was not acquired within ${timeoutMs + 2000} ms; retrying on the next pass`));
      }, timeoutMs + 2000);
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  try {
    return await fn();
  } finally {
    child.stdin.end();
    await exited;
  }
}

/** Reservations released per lock acquisition: a CNI ADD waits at most one chunk. */
export const RELEASE_CHUNK = 2048;

/**
 * Removes reservations still held by the container ID they were judged with. Under the store
 * lock, each file is re-read: a file whose owner changed (released and re-allocated since the
 * scan) is left alone. The lock is taken per chunk of RELEASE_CHUNK, so releasing the seed
 * case's tens of thousands of leaks never holds up the node's pod creations for long.
 * Returns the addresses released.
 */
export async function releaseReservations(dir: string, entries: HostLocalEntry[]): Promise<string[]> {
  const released: string[] = [];
  for (let i = 0; i < entries.length; i += RELEASE_CHUNK) {
    const chunk = entries.slice(i, i + RELEASE_CHUNK);
    const done = await withStoreLock(dir, () => Promise.all(chunk.map(async (e) => {
      const path = join(dir, e.ip);
      let now: HostLocalEntry;
      try { now = parseReservation(e.ip, await readFile(path, 'utf8')); } catch { return null; }
      if (now.containerId !== e.containerId) return null;
      await unlink(path);
      return e.ip;
    })));
    for (const ip of done) if (ip) released.push(ip);
    // The unlinks must be durable before the next CNI ADD may hand the addresses out again.
    if (done.some(Boolean)) await syncDir(dir);
  }
  return released;
}
