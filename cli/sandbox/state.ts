// Where a sandbox keeps everything it made, and the record `down` (or the next `up`) uses to
// remove it all even when the `up` that made it was killed. One sandbox per machine: its
// underlay addresses are fixed (198.18.0.0/23) and the host gets a link into them.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Root-only runtime state: gone after a reboot, like the namespaces it describes. */
export const DEFAULT_STATE_DIR = '/run/weft-sandbox';

export function stateDir(): string {
  return process.env.WEFT_SANDBOX_DIR || DEFAULT_STATE_DIR;
}

/** Every name a sandbox gives a kernel object starts with this, then its 4-hex-digit run id. */
export const NAME_PREFIX = 'wsb';
/** Matches the namespaces of any sandbox run: `wsb<id>-<role>`. */
export const NETNS_RE = /^wsb([0-9a-f]{4})-/;
/** Matches the host-side link of any sandbox run: `wsb<id>`. */
export const HOST_LINK_RE = /^wsb([0-9a-f]{4})$/;

export function newRunId(): string {
  return randomBytes(2).toString('hex');
}

export interface SandboxState {
  version: 1;
  id: string;
  /** The `weft sandbox up` process that owns the sandbox. */
  pid: number;
  startedAt: string;
  /** Set once everything is up and checked; `down` prints it. */
  phase: 'starting' | 'up' | 'stopping';
  dir: string;
  /** Namespaces in the order they were made (removed in reverse). */
  namespaces: string[];
  /** Links in the host's own namespace. */
  hostLinks: string[];
  /** Routes added to the host's own namespace, as `ip route` arguments. */
  hostRoutes: string[][];
  /** Process groups started outside the namespaces (none normally; recorded to be sure). */
  processGroups: Record<string, number>;
  kubeconfig?: string;
  kubectl?: string;
  server?: string;
}

export function statePath(dir = stateDir()): string {
  return join(dir, 'state.json');
}

export function readState(dir = stateDir()): SandboxState | undefined {
  const p = statePath(dir);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as SandboxState;
  } catch {
    // A half-written file of a killed run: the sweep by name still finds its leftovers.
    return undefined;
  }
}

/** Written before each resource is made, so a crash never leaves one unrecorded. */
export function writeState(s: SandboxState): void {
  mkdirSync(s.dir, { recursive: true });
  const p = statePath(s.dir);
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${p}.tmp`, p);
}

export function alive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the `up` that wrote state still runs (and its pid was not reused by another program). */
export function ownerAlive(s: SandboxState | undefined): boolean {
  if (!s || !alive(s.pid)) return false;
  try {
    return readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes('sandbox');
  } catch {
    return true;
  }
}

/** Paths inside the state dir. */
export function layout(dir: string) {
  return {
    dir,
    controlPlane: join(dir, 'controlplane'),
    logs: join(dir, 'logs'),
    nodes: join(dir, 'nodes'),
    pods: join(dir, 'pods'),
    /** The admin kubeconfig users point kubectl at (a copy of the control plane's). */
    kubeconfig: join(dir, 'kubeconfig'),
    installation: join(dir, 'installation.yaml'),
  };
}
