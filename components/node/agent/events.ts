// Kubernetes Events on this agent's Node: kube's EventRecorder (the one recorder the operator
// uses too) in core v1 form — namespace "default", involvedObject the Node, like the kubelet's,
// so `kubectl describe node` shows them. Events are API writes from every node of the cluster,
// so they must never storm: callers emit on transitions only (TransitionTracker), an identical
// event is suppressed for a window, and a token bucket caps the rate of the rest.
import type { Logger } from 'pino';
import { EventRecorder, type EventInput, type EventSender, type RecordOutcome } from '../../../kube/events.ts';
import type { KubeClient } from '../../../kube/client.ts';

export type { CoreEvent, RecordOutcome } from '../../../kube/events.ts';
export type NodeEventType = EventInput['type'];
export type NodeEvent = EventInput;

export interface NodeRef { name: string; uid?: string }

export interface NodeEventRecorderOptions {
  node: () => NodeRef;
  /** Where events go: POSTed with this client, or handed to `send` (tests). */
  client?: KubeClient;
  send?: EventSender;
  component?: string;
  /** Suppress an identical event for this long. Default 10 minutes. */
  dedupeWindowMs?: number;
  /** Token bucket: at most `burst` events at once, refilled one every `refillMs`. Default 10 and 30 s. */
  burst?: number;
  refillMs?: number;
  now?: () => number;
  log?: Logger;
}

/** kube's EventRecorder bound to this node's Node object. */
export class NodeEventRecorder {
  private readonly recorder: EventRecorder;

  constructor(private readonly o: NodeEventRecorderOptions) {
    const component = o.component ?? 'weft-node';
    this.recorder = new EventRecorder({
      ...(o.client ? { client: o.client } : {}),
      ...(o.send ? { send: o.send } : {}),
      api: 'v1',
      controller: `weft.dev/${component}`,
      component,
      instance: () => o.node().name,
      host: () => o.node().name,
      rateLimit: { burst: o.burst ?? 10, refillMs: o.refillMs ?? 30_000 },
      ...(o.dedupeWindowMs !== undefined ? { dedupeWindowMs: o.dedupeWindowMs } : {}),
      ...(o.now ? { now: o.now } : {}),
      ...(o.log ? { logger: o.log } : {}),
    });
  }

  get stats(): EventRecorder['stats'] { return this.recorder.stats; }

  /** Decides now (dedupe, rate limit) and sends in the background, in order. */
  record(ev: NodeEvent): RecordOutcome {
    const node = this.o.node();
    return this.recorder.record({ apiVersion: 'v1', kind: 'Node', name: node.name, ...(node.uid ? { uid: node.uid } : {}) }, ev);
  }

  /** Resolves when every queued event has been sent (or failed). */
  flush(): Promise<void> { return this.recorder.flush(); }
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
