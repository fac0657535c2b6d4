// Removes what a sandbox made, from its state record and by name, synchronously (it also runs
// from signal and exit handlers, where nothing can be awaited). Every process a sandbox starts
// lives in one of its namespaces (the agents in their node's, BIRD with its agent, the control
// plane and the operator in the control plane's, iperf3 in a pod's or node's), so killing each
// namespace's processes and deleting the namespace leaves nothing behind.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { HOST_LINK_RE, NETNS_RE, readState, stateDir, type SandboxState } from './state.ts';

function sh(argv: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() };
}

export function listNetns(): string[] {
  return sh(['ip', 'netns', 'list']).out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

export function listHostLinks(): string[] {
  const r = sh(['ip', '-o', 'link', 'show']);
  return r.out.split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => !!n);
}

function killNetnsProcesses(ns: string): number {
  const pids = sh(['ip', 'netns', 'pids', ns]).out.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return pids.length;
}

export interface SweepReport {
  namespaces: string[];
  hostLinks: string[];
  processes: number;
  removedDir: boolean;
  problems: string[];
}

/**
 * Removes every sandbox namespace and host link (those the state lists and any other named
 * like one: a crashed run whose state file was lost) and the state dir. Call it only when no
 * live `up` owns them.
 */
export function sweep(state: SandboxState | undefined = readState(), dir = state?.dir ?? stateDir()): SweepReport {
  const report: SweepReport = { namespaces: [], hostLinks: [], processes: 0, removedDir: false, problems: [] };
  for (const [name, pgid] of Object.entries(state?.processGroups ?? {})) {
    try {
      process.kill(-pgid, 'SIGKILL');
      report.processes++;
    } catch {
      /* already gone */ void name;
    }
  }
  const present = listNetns();
  const ours = [...new Set([...(state?.namespaces ?? []).filter((n) => present.includes(n)), ...present.filter((n) => NETNS_RE.test(n))])];
  // Pods first, the underlay (which holds the bridges and the host link's peer) last.
  ours.sort((a, b) => rank(a) - rank(b));
  for (const ns of ours) report.processes += killNetnsProcesses(ns);
  for (const ns of ours) {
    const r = sh(['ip', 'netns', 'del', ns]);
    if (r.ok) report.namespaces.push(ns);
    else report.problems.push(`ip netns del ${ns}: ${r.err}`);
  }
  const links = listHostLinks();
  for (const link of new Set([...(state?.hostLinks ?? []), ...links.filter((l) => HOST_LINK_RE.test(l))])) {
    if (!listHostLinks().includes(link)) {
      // Deleting the underlay namespace took the veth pair with it.
      if (links.includes(link)) report.hostLinks.push(link);
      continue;
    }
    const r = sh(['ip', 'link', 'del', link]);
    // The kernel tears a deleted namespace's veths down asynchronously: gone meanwhile is fine.
    if (r.ok || /Cannot find device/.test(r.err)) report.hostLinks.push(link);
    else report.problems.push(`ip link del ${link}: ${r.err}`);
  }
  if (existsSync(dir)) {
    try {
      rmSync(dir, { recursive: true, force: true });
      report.removedDir = true;
    } catch (e) {
      report.problems.push(`rm -rf ${dir}: ${(e as Error).message}`);
    }
  }
  return report;
}

function rank(ns: string): number {
  if (ns.includes('-pod-')) return 0;
  if (ns.includes('-node-')) return 1;
  if (ns.endsWith('-controlplane')) return 2;
  if (ns.endsWith('-router')) return 3;
  if (ns.endsWith('-underlay')) return 5;
  return 4;
}

/** What a sandbox left on this machine, for `down` to report and the test to assert on. */
export function leftovers(): { namespaces: string[]; hostLinks: string[]; dirExists: boolean } {
  return {
    namespaces: listNetns().filter((n) => NETNS_RE.test(n)),
    hostLinks: listHostLinks().filter((l) => HOST_LINK_RE.test(l)),
    dirExists: existsSync(stateDir()),
  };
}
