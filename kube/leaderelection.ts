// Leader election on a coordination.k8s.io/v1 Lease, following client-go's algorithm: a lease
// is held while its holder renews it; another candidate takes it only after observing no
// renewal for leaseDuration on its own monotonic clock (so clock skew between nodes does not
// matter), and writes go through resourceVersion preconditions so two candidates cannot both win.
import type { Logger } from 'pino';
import { sleep } from './backoff.ts';
import type { KubeClient } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import type { RuntimeMetrics } from './metrics.ts';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per candidate, e.g. the pod name. */
  identity: string;
  /** How long a lease stays valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** A leader that cannot renew for this long gives up (must be < leaseDuration). Default 10 s. */
  renewDeadlineMs?: number;
  /** Interval between acquire/renew attempts. Default 2 s. */
  retryPeriodMs?: number;
  /** Hand the lease back on graceful stop so a standby takes over at once. Default true. */
  releaseOnCancel?: boolean;
  logger?: Logger;
  metrics?: RuntimeMetrics;
}

export interface LeaderCallbacks {
  /** Runs while leading; leaderSignal aborts when leadership ends. Awaited before release. */
  onStartedLeading: (leaderSignal: AbortSignal) => Promise<void> | void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string | undefined) => void;
}

/** Why run() returned: stop requested (lease released or left to expire) or leadership lost. */
export type LeaderElectionOutcome = 'stopped' | 'lost';

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** metav1.MicroTime wants exactly six fractional digits. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private observedSpec: string | undefined;
  private observedAt = 0;
  private observedHolder: string | undefined;
  private observedOnce = false;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly log: Logger | undefined;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.renewMs < this.leaseMs)) throw new Error(`leader election: renewDeadline (${this.renewMs} ms) must be shorter than leaseDuration (${this.leaseMs} ms)`);
    if (!(this.retryMs < this.renewMs)) throw new Error(`leader election: retryPeriod (${this.retryMs} ms) must be shorter than renewDeadline (${this.renewMs} ms)`);
    this.log = opts.logger?.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }
  /** True once the lease was read at least once: a standby that knows who leads is healthy. */
  hasObserved(): boolean {
    return this.observedOnce;
  }
  get leader(): string | undefined {
    return this.observedHolder;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
  }

  /**
   * Campaigns until leading, runs onStartedLeading, renews; returns when the signal aborts
   * ('stopped', after releasing the lease) or when renewal failed past renewDeadline ('lost').
   */
  async run(signal: AbortSignal, cb: LeaderCallbacks): Promise<LeaderElectionOutcome> {
    // A standby exports 0, so "no leader" alerts see every replica, not only the leader.
    this.setLeading(false);
    // Acquire.
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew(signal, cb)) break;
      await sleep(this.retryMs * (1 + Math.random() * 0.2), signal);
    }
    if (signal.aborted) return 'stopped';
    this.setLeading(true);
    this.log?.info('became leader');
    const leader = new AbortController();
    const stopLeading = () => leader.abort();
    signal.addEventListener('abort', stopLeading, { once: true });
    const work = Promise.resolve()
      .then(() => cb.onStartedLeading(leader.signal))
      .catch((err) => this.log?.error({ err }, 'onStartedLeading failed'));

    // Renew until the outer signal aborts or a renewal deadline passes.
    let outcome: LeaderElectionOutcome = 'stopped';
    let lastRenew = performance.now();
    while (!signal.aborted) {
      await sleep(this.retryMs, signal);
      if (signal.aborted) break;
      const left = this.renewMs - (performance.now() - lastRenew);
      const attempt = AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, Math.ceil(left)))]);
      const ok = await this.tryAcquireOrRenew(attempt, cb).catch(() => false);
      if (ok) lastRenew = performance.now();
      else if (performance.now() - lastRenew >= this.renewMs) {
        outcome = 'lost';
        this.log?.error({ renewDeadlineMs: this.renewMs }, 'could not renew the lease in time; leadership lost');
        break;
      }
    }
    signal.removeEventListener('abort', stopLeading);
    leader.abort();
    this.setLeading(false);
    await work;
    cb.onStoppedLeading?.();
    if (outcome === 'stopped' && (this.opts.releaseOnCancel ?? true)) await this.release();
    return outcome;
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.opts.metrics?.leader.set({ lease: `${this.opts.namespace}/${this.opts.name}` }, v ? 1 : 0);
  }

  private observe(spec: LeaseSpec | undefined, cb: LeaderCallbacks | undefined): void {
    const s = JSON.stringify(spec ?? {});
    this.observedOnce = true;
    if (s !== this.observedSpec) {
      this.observedSpec = s;
      this.observedAt = performance.now();
    }
    const holder = spec?.holderIdentity || undefined;
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      this.log?.info({ leader: holder ?? null }, 'leader changed');
      cb?.onNewLeader?.(holder);
    }
  }

  /** One attempt; true when we hold the lease afterwards. */
  async tryAcquireOrRenew(signal: AbortSignal, cb?: LeaderCallbacks): Promise<boolean> {
    const c = this.opts.client;
    const now = microTime();
    const durationS = Math.ceil(this.leaseMs / 1000);
    let lease: Lease;
    try {
      lease = await c.request<Lease>(this.path, { verb: 'get', signal });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log?.warn({ err: (err as Error).message }, 'reading the lease failed');
        return false;
      }
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: durationS, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      };
      try {
        const created = await c.request<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`, { verb: 'create', method: 'POST', body: fresh, signal });
        this.observe(created.spec, cb);
        return true;
      } catch (e) {
        if (!isConflict(e)) this.log?.warn({ err: (e as Error).message }, 'creating the lease failed');
        return false;
      }
    }
    const spec = lease.spec ?? {};
    this.observe(spec, cb);
    const holder = spec.holderIdentity || undefined;
    const mine = holder === this.opts.identity;
    const validMs = (spec.leaseDurationSeconds ?? durationS) * 1000;
    if (holder && !mine && performance.now() - this.observedAt < validMs) return false;

    const next: Lease = {
      ...lease,
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: durationS,
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      const updated = await c.request<Lease>(this.path, { verb: 'update', method: 'PUT', body: next, signal });
      this.observe(updated.spec, cb);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log?.warn({ err: (err as Error).message }, 'updating the lease failed');
      return false;
    }
  }

  /** Gives the lease up (holder cleared, 1 s duration) if we still hold it. */
  private async release(): Promise<void> {
    const c = this.opts.client;
    try {
      const lease = await c.request<Lease>(this.path, { verb: 'get', timeoutMs: this.renewMs });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      const now = microTime();
      await c.request(this.path, {
        verb: 'update',
        method: 'PUT',
        timeoutMs: this.renewMs,
        body: { ...lease, spec: { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec?.leaseTransitions ?? 0 } },
      });
      this.log?.info('released the lease');
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'releasing the lease failed; a successor waits for it to expire');
    }
  }
}
