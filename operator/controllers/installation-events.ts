// Warning Events on the Installation about the health of the node agents: a rollout that stalls
// (Progressing for longer than the stall time) or halts, and agents that stop being Ready. They
// are judged on every reconcile but emitted on transitions only (a new stall, a new halt, nodes
// newly not Ready), and the EventRecorder drops identical repeats on top.
import type { InstallationStatus, NodeNetwork } from '../../api/index.ts';
import type { KubeObject } from '../../kube/index.ts';

export interface HealthEvent { type: 'Normal' | 'Warning'; reason: string; message: string }

export interface HealthInput {
  /** The status this reconcile writes (conditions carry lastTransitionTime). */
  status: InstallationStatus;
  nodeNetworks: readonly NodeNetwork[];
  nodes: readonly KubeObject[];
  halted?: { reason: string; message: string };
  now: Date;
}

export interface HealthOptions {
  /** Progressing=True for longer than this is a stall; `weft diagnose` uses the same 10 minutes. */
  stallMs?: number;
  /** An agent not Ready for less than this is starting (a rollout replaces agents). Default 2 min. */
  notReadyGraceMs?: number;
}

function listNames(names: string[], max = 10): string {
  return names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', ');
}

export class InstallationHealthEvents {
  private stallReported: string | undefined;
  private haltReported: string | undefined;
  private notReadyReported = new Set<string>();
  private readonly stallMs: number;
  private readonly graceMs: number;

  constructor(o: HealthOptions = {}) {
    this.stallMs = o.stallMs ?? 10 * 60_000;
    this.graceMs = o.notReadyGraceMs ?? 2 * 60_000;
  }

  /** The events to record now, and when to look again (a stall or a grace period ends). */
  check(i: HealthInput): { events: HealthEvent[]; recheckMs?: number } {
    const now = i.now.getTime();
    const events: HealthEvent[] = [];
    const rechecks: number[] = [];
    const n = i.status.nodes ?? {};
    const counts = `${n.ready ?? 0} ready, ${n.updated ?? 0} updated of ${n.desired ?? 0} nodes`;

    // Halted: the rollout step records the halt itself; the same reason and message here are
    // deduplicated by the recorder, and cover a step that does not.
    if (i.halted) {
      const key = `${i.halted.reason}/${i.halted.message}`;
      if (key !== this.haltReported) {
        this.haltReported = key;
        events.push({ type: 'Warning', reason: i.halted.reason, message: i.halted.message });
      }
    } else {
      this.haltReported = undefined;
    }

    const progressing = i.status.conditions?.find((c) => c.type === 'Progressing');
    const since = Date.parse(progressing?.lastTransitionTime ?? '');
    if (progressing?.status === 'True' && Number.isFinite(since)) {
      const age = now - since;
      if (age >= this.stallMs) {
        if (this.stallReported !== progressing.lastTransitionTime) {
          this.stallReported = progressing.lastTransitionTime;
          const behind = i.nodeNetworks.filter((x) => i.status.configHash && x.status?.configHash !== i.status.configHash).map((x) => x.metadata?.name ?? '?').sort();
          events.push({
            type: 'Warning', reason: 'RolloutStalled',
            message: `the node-agent rollout has been in progress for ${Math.round(age / 60_000)} minutes (${counts})${behind.length ? `; not on configuration ${i.status.configHash!.slice(0, 12)}: ${listNames(behind)}` : ''}; look at those agents' pods and logs, or run weft diagnose`,
          });
        }
      } else {
        rechecks.push(this.stallMs - age);
      }
    } else {
      this.stallReported = undefined;
    }

    // Agents not Ready, past a grace period (a replaced agent is briefly not Ready).
    const live = new Set(i.nodes.filter((x) => !x.metadata?.deletionTimestamp).map((x) => x.metadata?.name));
    const notReady: { name: string; why: string }[] = [];
    for (const nn of i.nodeNetworks) {
      const name = nn.metadata?.name ?? nn.spec?.nodeName;
      if (!name || !live.has(name)) continue;
      const ready = nn.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') continue;
      const t = Date.parse(ready?.lastTransitionTime ?? (nn.metadata as { creationTimestamp?: string } | undefined)?.creationTimestamp ?? '');
      const age = Number.isFinite(t) ? now - t : Infinity;
      if (age < this.graceMs) { rechecks.push(this.graceMs - age); continue; }
      notReady.push({ name, why: ready ? `${ready.reason ?? ready.status}${ready.message ? `: ${ready.message}` : ''}` : 'no Ready condition reported' });
    }
    notReady.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const fresh = notReady.filter((x) => !this.notReadyReported.has(x.name));
    if (fresh.length) {
      events.push({
        type: 'Warning', reason: 'AgentsNotReady',
        message: `node agents not Ready on ${fresh.length} node(s): ${fresh.slice(0, 5).map((x) => `${x.name} (${x.why.slice(0, 200)})`).join('; ')}${fresh.length > 5 ? ` and ${fresh.length - 5} more` : ''}; see kubectl get nodenetworks and weft diagnose`,
      });
    }
    if (!notReady.length && this.notReadyReported.size) {
      events.push({ type: 'Normal', reason: 'AgentsReady', message: `node agents Ready again on ${listNames([...this.notReadyReported].sort())}` });
    }
    this.notReadyReported = new Set(notReady.map((x) => x.name));

    return { events, ...(rechecks.length ? { recheckMs: Math.max(1_000, Math.ceil(Math.min(...rechecks))) } : {}) };
  }
}
