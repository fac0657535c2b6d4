// The agent's liveness: what /healthz (and /livez) answer, so that the kubelet restarts an agent
// whose control loop is stuck — a pass that never ends (an API call or a command that hangs past
// every timeout) would otherwise leave the node unmanaged behind a green probe. A failed pass is
// not a stuck one: it is retried with backoff and shows in /readyz and the NodeNetwork status.
import type { Check } from '../health/server.ts';
import { DEFAULT_EXEC_TIMEOUT_MS } from '../kernel/exec.ts';

/**
 * How long one control-loop pass may run before the agent reports itself not alive: five times
 * the exec timeout (a pass runs a handful of commands, each killed after DEFAULT_EXEC_TIMEOUT_MS),
 * so only a hang no timeout covers reaches it. Milliseconds.
 */
export const DEFAULT_STUCK_PASS_MS = 5 * DEFAULT_EXEC_TIMEOUT_MS;

/** What the liveness check reads from the control loop. Times are performance.now() milliseconds. */
export interface LoopClock {
  stopped: boolean;
  /** When the pass in flight started; undefined when none runs. */
  passStartedAt: number | undefined;
  /** The step the pass in flight is at (ipam, conflist, kernel, status), for the message. */
  passStep: string | undefined;
  now: number;
  /** DEFAULT_STUCK_PASS_MS unless configured. */
  stuckPassMs: number;
}

/**
 * ok unless the agent stopped or its pass in flight has run longer than stuckPassMs; the detail
 * names the step it hangs in, which the kubelet records in the container's last state.
 */
export function liveness(c: LoopClock): Check {
  if (c.stopped) return { ok: false, detail: 'the agent is stopping' };
  if (c.passStartedAt === undefined) return { ok: true };
  const ms = c.now - c.passStartedAt;
  if (ms <= c.stuckPassMs) return { ok: true };
  return { ok: false, detail: `a control-loop pass has run for ${Math.round(ms / 1000)} s (limit ${Math.round(c.stuckPassMs / 1000)} s), stuck in step ${c.passStep ?? 'unknown'}; restarting the agent resumes from the kernel and API state` };
}
