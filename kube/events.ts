// Kubernetes Events (events.k8s.io/v1) about the Installation: the decisions the operator made
// and the failures it hit. Events are writes too, so they are emitted on a change of decision,
// never per reconcile, and the same reason+message is not repeated within a window (no storms
// when a failing reconcile is retried with backoff).
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** events.k8s.io reportingController, e.g. weft.dev/operator. */
  controller: string;
  /** reportingInstance: the pod name. */
  instance: string;
  /** Suppress an identical event (same object, type, reason, message) for this long. Default 10 min. */
  dedupeWindowMs?: number;
  logger?: Logger;
  now?: () => number;
}

export type EventType = 'Normal' | 'Warning';

/** Cluster-scoped objects have their events in "default", like the kubelet's Node events. */
const CLUSTER_EVENT_NAMESPACE = 'default';

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private seq = 0;
  /** Events sent (after dedupe), for tests and the events metric. */
  sent = 0;
  suppressed = 0;

  constructor(private readonly opts: EventRecorderOptions) {}

  /**
   * Records an event unless an identical one was recorded within the window. Never throws:
   * failing to record an event must not fail the reconcile that made the decision.
   */
  async record(target: EventTarget, type: EventType, reason: string, action: string, message: string): Promise<boolean> {
    const now = (this.opts.now ?? Date.now)();
    const window = this.opts.dedupeWindowMs ?? 600_000;
    const key = `${target.kind}/${target.namespace ?? ''}/${target.name}/${type}/${reason}/${message}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < window) {
      this.suppressed++;
      return false;
    }
    this.recent.set(key, now);
    if (this.recent.size > 1000) {
      for (const [k, t] of this.recent) if (now - t >= window) this.recent.delete(k);
    }
    const namespace = target.namespace ?? CLUSTER_EVENT_NAMESPACE;
    const eventTime = new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const name = `${target.name}.${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime,
      reportingController: this.opts.controller,
      reportingInstance: this.opts.instance.slice(0, 128),
      action: action.slice(0, 128),
      reason: reason.slice(0, 128),
      type,
      note: message.slice(0, 1024),
      regarding: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
    };
    try {
      await this.opts.client.request(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, { verb: 'create', method: 'POST', body });
      this.sent++;
      return true;
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message, reason }, 'recording an event failed');
      return false;
    }
  }
}
