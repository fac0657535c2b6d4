// Kubernetes Events: the decisions a controller made and the failures it hit, attached to the
// object they are about. Events are API writes, so a recorder must never storm: callers emit on
// a change of decision (not per reconcile), an identical event (same object, type, reason,
// message) is suppressed for a window, and an optional token bucket caps the rest (for a
// DaemonSet, where every node of the cluster records). Recording never throws and never blocks
// the caller's loop: the decision is made at once, sends go out in order in the background.
//
// Two wire formats, one recorder: events.k8s.io/v1 (what controllers should write), and core v1
// with involvedObject/source, the kubelet's form, which `kubectl describe node` shows. The API
// server serves each through both APIs.
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';

export type EventType = 'Normal' | 'Warning';

/** The object an event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventInput {
  type: EventType;
  reason: string;
  message: string;
  /** What was done or failed (events.k8s.io `action`), e.g. "Apply". */
  action?: string;
}

/** A core v1 Event as the recorder sends it (api: 'v1'). */
export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: EventType;
  action?: string;
  source: { component: string; host?: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

/** An events.k8s.io/v1 Event as the recorder sends it (api: 'events.k8s.io/v1'). */
export interface EventsV1Event {
  apiVersion: 'events.k8s.io/v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  type: EventType;
  note: string;
  regarding: EventTarget;
}

export type EventBody = CoreEvent | EventsV1Event;
export type EventSender = (e: EventBody) => Promise<unknown>;

export interface EventRecorderOptions {
  /** Where events go: POSTed with this client, or handed to `send` (one of the two). */
  client?: KubeClient;
  send?: EventSender;
  /** Wire format. Default 'events.k8s.io/v1'. */
  api?: 'events.k8s.io/v1' | 'v1';
  /** events.k8s.io reportingController / core reportingComponent, e.g. "weft.dev/operator". */
  controller: string;
  /** reportingInstance (the pod or node name); a function when it is known only later. */
  instance: string | (() => string);
  /** Core v1 only: source.component and source.host (the kubelet sets the node name there). */
  component?: string;
  host?: string | (() => string);
  /** Suppress an identical event for this long. Default 10 minutes. */
  dedupeWindowMs?: number;
  /** Token bucket over all events: at most `burst` at once, one more every `refillMs`. Default: none. */
  rateLimit?: { burst: number; refillMs: number };
  logger?: Logger;
  now?: () => number;
}

export type RecordOutcome = 'queued' | 'duplicate' | 'rate-limited';

/** Cluster-scoped objects have their events in "default", like the kubelet's Node events. */
const CLUSTER_EVENT_NAMESPACE = 'default';

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private tokens: number;
  private lastRefill: number;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Outcomes so far: sent and failed sends, and events not sent as duplicates or over the rate. */
  readonly stats = { sent: 0, failed: 0, duplicate: 0, rateLimited: 0 };

  constructor(private readonly o: EventRecorderOptions) {
    if (!o.client && !o.send) throw new Error('EventRecorder needs a client or a send function');
    this.tokens = o.rateLimit?.burst ?? Infinity;
    this.lastRefill = this.now();
  }

  private now(): number { return (this.o.now ?? Date.now)(); }

  /** Decides now (dedupe, rate limit) and sends in the background, in order. */
  record(target: EventTarget, ev: EventInput): RecordOutcome {
    return this.enqueue(target, ev).outcome;
  }

  /** Like record, and resolves once this event was sent (true) or not (false: suppressed or failed). */
  recordAndWait(target: EventTarget, ev: EventInput): Promise<boolean> {
    return this.enqueue(target, ev).sent;
  }

  /** Resolves when every queued event has been sent (or failed). */
  async flush(): Promise<void> { await this.queue; }

  private enqueue(target: EventTarget, ev: EventInput): { outcome: RecordOutcome; sent: Promise<boolean> } {
    const now = this.now();
    const window = this.o.dedupeWindowMs ?? 600_000;
    const key = `${target.kind}/${target.namespace ?? ''}/${target.name}/${ev.type}/${ev.reason}/${ev.message}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < window) {
      this.stats.duplicate++;
      return { outcome: 'duplicate', sent: Promise.resolve(false) };
    }
    const limit = this.o.rateLimit;
    if (limit) {
      const earned = Math.floor((now - this.lastRefill) / limit.refillMs);
      if (earned > 0) { this.tokens = Math.min(limit.burst, this.tokens + earned); this.lastRefill += earned * limit.refillMs; }
      if (this.tokens >= limit.burst) this.lastRefill = now;
      if (this.tokens < 1) {
        this.stats.rateLimited++;
        this.o.logger?.info({ reason: ev.reason, message: ev.message }, 'event not recorded: rate limit');
        return { outcome: 'rate-limited', sent: Promise.resolve(false) };
      }
      this.tokens--;
    }
    this.recent.set(key, now);
    if (this.recent.size > 1000) for (const [k, t] of this.recent) if (now - t >= window) this.recent.delete(k);
    const body = this.body(target, ev, now);
    const sent = this.queue.then(async () => {
      try {
        await this.send(body);
        this.stats.sent++;
        return true;
      } catch (err) {
        this.stats.failed++;
        this.o.logger?.warn({ err: (err as Error).message, reason: ev.reason }, `recording an event on ${target.kind} ${target.name} failed`);
        return false;
      }
    });
    this.queue = sent;
    return { outcome: 'queued', sent };
  }

  private send(body: EventBody): Promise<unknown> {
    if (this.o.send) return this.o.send(body);
    const path = body.apiVersion === 'v1'
      ? `/api/v1/namespaces/${body.metadata.namespace}/events`
      : `/apis/events.k8s.io/v1/namespaces/${body.metadata.namespace}/events`;
    return this.o.client!.request(path, { verb: 'create', method: 'POST', body });
  }

  private body(target: EventTarget, ev: EventInput, now: number): EventBody {
    const namespace = target.namespace ?? CLUSTER_EVENT_NAMESPACE;
    const name = `${target.name}.${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
    const instance = (typeof this.o.instance === 'function' ? this.o.instance() : this.o.instance).slice(0, 128);
    if (this.o.api === 'v1') {
      // metav1.Time: RFC 3339 with whole seconds.
      const time = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const host = typeof this.o.host === 'function' ? this.o.host() : this.o.host;
      return {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, ...(target.namespace ? { namespace: target.namespace } : {}), ...(target.uid ? { uid: target.uid } : {}) },
        reason: ev.reason.slice(0, 128),
        message: ev.message.slice(0, 1024),
        type: ev.type,
        ...(ev.action ? { action: ev.action.slice(0, 128) } : {}),
        source: { component: this.o.component ?? this.o.controller, ...(host ? { host } : {}) },
        reportingComponent: this.o.controller,
        reportingInstance: instance,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      };
    }
    // metav1.MicroTime: RFC 3339 with microseconds.
    const eventTime = new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime,
      reportingController: this.o.controller,
      reportingInstance: instance,
      action: (ev.action ?? ev.reason).slice(0, 128),
      reason: ev.reason.slice(0, 128),
      type: ev.type,
      note: ev.message.slice(0, 1024),
      regarding: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
    };
  }
}
