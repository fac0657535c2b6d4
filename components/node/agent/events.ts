// Kubernetes Events on this agent's Node (core v1 Events, namespace "default" like the kubelet's,
// involvedObject the Node). Events are API writes from every node of the cluster, so they must
// never storm: callers emit on transitions only (TransitionTracker), an identical event
// (reason + message) is suppressed for a window, and a token bucket caps the rate of the rest.
// Recording never throws and never blocks the control loop: sends are queued in order.
import type { Logger } from 'pino';
import type { KubeClient } from '../../../kube/index.ts';

export type NodeEventType = 'Normal' | 'Warning';

export interface NodeEvent { type: NodeEventType; reason: string; message: string; action?: string }

export interface NodeRef { name: string; uid?: string }

/** The core v1 Event body the recorder sends. */
export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion: 'v1'; kind: 'Node'; name: string; uid?: string };
  reason: string;
  message: string;
  type: NodeEventType;
  action?: string;
  source: { component: string; host: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

export type EventSender = (e: CoreEvent) => Promise<unknown>;

/** Node events live in "default", where kubectl describe node looks for them. */
export const NODE_EVENT_NAMESPACE = 'default';

export function kubeEventSender(client: KubeClient): EventSender {
  return (e) => client.request(`/api/v1/namespaces/${e.metadata.namespace}/events`, { verb: 'create', method: 'POST', body: e });
}

export interface NodeEventRecorderOptions {
  node: () => NodeRef;
  send: EventSender;
  component?: string;
  /** Suppress an identical event for this long. Default 10 minutes. */
  dedupeWindowMs?: number;
  /** Token bucket: at most `burst` events at once, refilled one every `refillMs`. Default 10 and 30 s. */
  burst?: number;
  refillMs?: number;
  now?: () => number;
  log?: Logger;
}

export type RecordOutcome = 'queued' | 'duplicate' | 'rate-limited';

export class NodeEventRecorder {
  private readonly recent = new Map<string, number>();
  private tokens: number;
  private lastRefill: number;
  private seq = 0;
  private queue: Promise<void> = Promise.resolve();
  readonly stats = { sent: 0, failed: 0, duplicate: 0, rateLimited: 0 };

  constructor(private readonly o: NodeEventRecorderOptions) {
    this.tokens = o.burst ?? 10;
    this.lastRefill = this.now();
  }

  private now(): number { return (this.o.now ?? Date.now)(); }

  /** Decides now (dedupe, rate limit) and sends in the background, in order. */
  record(ev: NodeEvent): RecordOutcome {
    const now = this.now();
    const window = this.o.dedupeWindowMs ?? 600_000;
    const key = `${ev.type}/${ev.reason}/${ev.message}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < window) { this.stats.duplicate++; return 'duplicate'; }
    const burst = this.o.burst ?? 10;
    const refill = this.o.refillMs ?? 30_000;
    const earned = Math.floor((now - this.lastRefill) / refill);
    if (earned > 0) { this.tokens = Math.min(burst, this.tokens + earned); this.lastRefill += earned * refill; }
    if (this.tokens >= burst) this.lastRefill = now;
    if (this.tokens < 1) {
      this.stats.rateLimited++;
      this.o.log?.info({ reason: ev.reason, message: ev.message }, 'event not recorded: rate limit');
      return 'rate-limited';
    }
    this.tokens--;
    this.recent.set(key, now);
    if (this.recent.size > 500) for (const [k, t] of this.recent) if (now - t >= window) this.recent.delete(k);
    const body = this.body(ev, now);
    this.queue = this.queue.then(async () => {
      try {
        await this.o.send(body);
        this.stats.sent++;
      } catch (e) {
        this.stats.failed++;
        this.o.log?.warn({ err: (e as Error).message, reason: ev.reason }, 'recording an event on the Node failed');
      }
    });
    return 'queued';
  }

  /** Resolves when every queued event has been sent (or failed). */
  flush(): Promise<void> { return this.queue; }

  private body(ev: NodeEvent, now: number): CoreEvent {
    const node = this.o.node();
    const time = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const component = this.o.component ?? 'weft-node';
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${node.name}.${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`, namespace: NODE_EVENT_NAMESPACE },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: node.name, ...(node.uid ? { uid: node.uid } : {}) },
      reason: ev.reason.slice(0, 128),
      message: ev.message.slice(0, 1024),
      type: ev.type,
      ...(ev.action ? { action: ev.action.slice(0, 128) } : {}),
      source: { component, host: node.name },
      reportingComponent: `weft.dev/${component}`,
      reportingInstance: node.name.slice(0, 128),
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
  }
}

/** The last state seen per key, so a caller emits on a change, not on every pass. */
export class TransitionTracker<S> {
  private readonly states = new Map<string, S>();

  /** 'first' for a key never seen, 'changed' when it differs from the last state, else 'same'. */
  observe(key: string, state: S): 'first' | 'changed' | 'same' {
    const had = this.states.has(key);
    const prev = this.states.get(key);
    this.states.set(key, state);
    if (!had) return 'first';
    return prev === state ? 'same' : 'changed';
  }

  get(key: string): S | undefined { return this.states.get(key); }
  set(key: string, state: S): void { this.states.set(key, state); }

  /** Forgets keys with this prefix that are not in keep (a peer that left). */
  prune(prefix: string, keep: Set<string>): void {
    for (const k of [...this.states.keys()]) if (k.startsWith(prefix) && !keep.has(k)) this.states.delete(k);
  }
}
