// Manager: owns the client, the shared informers, the controllers, leader election, the
// health/metrics server and signal handling — the one object an operator's main() builds.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { IndexFunc } from './cache.ts';
import { KubeClient, type KubeObject } from './client.ts';
import { Controller, type ControllerOptions } from './controller.ts';
import { startHealthServer, type Check, type HealthServer } from './health.ts';
import { Informer, resourceName, type InformerOptions, type ResourceRef, type TransformFunc } from './informer.ts';
import { LeaderElector, type LeaderElectionOptions } from './leaderelection.ts';
import { createRuntimeMetrics, type RuntimeMetrics } from './metrics.ts';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  /** User-Agent of every request, e.g. "my-operator/1.2" (shows in the API server's audit log). */
  userAgent: string;
  /** Prefix of the runtime's metric names, e.g. "my_operator_". */
  metricPrefix: string;
  /** Registry for the runtime's metrics (and yours); a fresh one when omitted. */
  registry?: Registry;
  logger?: Logger;
  /** Lease-based leader election; omit to run the controllers unconditionally. */
  leaderElection?: Omit<LeaderElectionOptions, 'client' | 'logger' | 'metrics'>;
  /** Serve /metrics, /healthz, /readyz on this port (0 = any free port); omit for no server. */
  healthPort?: number;
  healthHost?: string;
  /** Stop gracefully on SIGTERM/SIGINT. Default true. */
  handleSignals?: boolean;
  /** Defaults for every informer (resync, stale deadline, backoff, watch timeout). */
  informerDefaults?: Partial<Omit<InformerOptions, 'client' | 'resource' | 'indexers' | 'logger' | 'metrics' | 'transform'>>;
  /**
   * The transform of each shared informer (see TransformFunc), chosen by resource, so every
   * controller sharing an informer gets the same cached shape: the policy must keep what any of
   * them reads. Undefined for a resource: objects are cached as the API server sends them.
   */
  informerTransform?: (resource: ResourceRef) => TransformFunc | undefined;
}

export type StopReason = 'signal' | 'leader-lost' | 'stopped' | 'error';

function informerKey(r: ResourceRef): string {
  return [resourceName(r), r.version, r.namespace ?? '', r.labelSelector ?? '', r.fieldSelector ?? ''].join('|');
}

export class Manager {
  readonly client: KubeClient;
  readonly metrics: RuntimeMetrics;
  readonly registry: Registry;
  readonly elector: LeaderElector | undefined;
  private readonly log: Logger | undefined;
  private readonly informers = new Map<string, Informer<any>>();
  private readonly controllers: Controller[] = [];
  private readonly stopper = new AbortController();
  private stopReason: StopReason = 'stopped';
  private server: HealthServer | undefined;
  private started = false;

  constructor(private readonly opts: ManagerOptions) {
    this.registry = opts.registry ?? new Registry();
    this.metrics = createRuntimeMetrics(this.registry, opts.metricPrefix);
    this.log = opts.logger;
    this.client = new KubeClient(opts.kubeConfig, { metrics: this.metrics, userAgent: opts.userAgent });
    if (opts.leaderElection) {
      this.elector = new LeaderElector({ ...opts.leaderElection, client: this.client, logger: opts.logger, metrics: this.metrics });
    }
  }

  /**
   * The shared informer for a resource (same group/version/plural/namespace/selectors = same
   * informer, one watch). Indexers given by several callers are merged.
   */
  informer<T extends KubeObject = KubeObject>(resource: ResourceRef, o: { indexers?: Record<string, IndexFunc<T>> } = {}): Informer<T> {
    const key = informerKey(resource);
    let inf = this.informers.get(key) as Informer<T> | undefined;
    if (!inf) {
      if (this.started) throw new Error(`informer for ${resourceName(resource)} requested after the manager started; create informers before start()`);
      const transform = this.opts.informerTransform?.(resource);
      inf = new Informer<T>({ ...this.opts.informerDefaults, client: this.client, resource, logger: this.log, metrics: this.metrics, ...(transform ? { transform } : {}) });
      this.informers.set(key, inf);
    }
    for (const [name, fn] of Object.entries(o.indexers ?? {})) {
      try {
        inf.store.addIndex(name, fn);
      } catch {
        // same index registered by another controller: first definition wins
      }
    }
    return inf;
  }

  controller(o: Omit<ControllerOptions, 'logger' | 'metrics'> & { logger?: Logger }): Controller {
    const c = new Controller({ ...o, logger: o.logger ?? this.log, metrics: this.metrics });
    this.controllers.push(c);
    return c;
  }

  /** Every informer has listed once. */
  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : true;
  }

  readyz(): Check {
    const notSynced = [...this.informers.values()].filter((i) => !i.hasSynced()).map((i) => i.name);
    if (notSynced.length) return { ok: false, detail: `informers not synced: ${notSynced.join(', ')}` };
    if (this.elector && !this.elector.isLeader() && !this.elector.hasObserved()) return { ok: false, detail: 'leader election lease not read yet' };
    return { ok: true };
  }

  get healthPort(): number | undefined {
    return this.server?.port;
  }

  /** Requests a graceful stop; run() resolves once everything has shut down. */
  stop(reason: StopReason = 'stopped'): void {
    if (this.stopper.signal.aborted) return;
    this.stopReason = reason;
    this.stopper.abort();
  }

  /**
   * Starts informers, the health server and (when leading) the controllers; resolves with the
   * reason once stopped. On SIGTERM/SIGINT: controllers finish in-flight reconciles, the lease
   * is released, watches are closed. A lost lease stops everything: the process should exit
   * and be restarted rather than keep acting on a stale view.
   */
  async run(): Promise<StopReason> {
    if (this.started) throw new Error('manager already started');
    this.started = true;
    const signal = this.stopper.signal;
    const onSignal = (sig: NodeJS.Signals) => {
      this.log?.info({ signal: sig }, 'shutting down');
      this.stop('signal');
    };
    if (this.opts.handleSignals ?? true) {
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    }
    const informerStop = new AbortController();
    try {
      if (this.opts.healthPort !== undefined) {
        this.server = await startHealthServer({ registry: this.registry, port: this.opts.healthPort, host: this.opts.healthHost, readyz: () => this.readyz() });
        this.log?.info({ port: this.server.port }, 'serving /metrics, /healthz, /readyz');
      }
      const informerRuns = [...this.informers.values()].map((i) => i.start(informerStop.signal));
      const runControllers = (s: AbortSignal) => Promise.all(this.controllers.map((c) => c.run(s))).then(() => undefined);
      if (this.elector) {
        const outcome = await this.elector.run(signal, { onStartedLeading: runControllers });
        if (outcome === 'lost') this.stop('leader-lost');
      } else {
        await runControllers(signal);
      }
      informerStop.abort();
      await Promise.all(informerRuns);
    } catch (err) {
      this.log?.error({ err }, 'manager failed');
      this.stopReason = 'error';
    } finally {
      informerStop.abort();
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await this.server?.close();
      this.client.close();
    }
    return this.stopReason;
  }
}
