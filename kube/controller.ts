// Controller: a work queue of object keys fed by informer events, drained by N workers calling
// one plain async reconcile function. Level-triggered: the reconciler gets a key, never an
// event, and reads current state from the informers' caches.
import type { Logger } from 'pino';
import { objectKey, splitKey } from './cache.ts';
import type { KubeObject } from './client.ts';
import { isTerminal } from './errors.ts';
import type { Informer, InformerEvent } from './informer.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { RateLimiter, type RateLimiterOptions, WorkQueue } from './workqueue.ts';

export interface ReconcileContext {
  /** Aborted when the controller stops (shutdown, lost leadership): stop early, the key comes back. */
  signal: AbortSignal;
  log: Logger | undefined;
  controller: string;
  /** Failed attempts of this key since it last succeeded. */
  retries: number;
  namespace: string | undefined;
  name: string;
}

/**
 * What a reconcile asks for besides "done". There is no boolean requeue: a reconcile that wants
 * to run again names when (requeueAfter), fails (throw: retried with the rate limiter's backoff),
 * or fails for good (throw a TerminalError: not retried until a watched object changes).
 */
export interface ReconcileResult {
  /** Reconcile this key again after so many ms (resets its failure backoff). */
  requeueAfter?: number;
}

export type Reconciler = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** Maps an event on a watched object to the key(s) of the object(s) to reconcile. */
export type MapFunc<T extends KubeObject = KubeObject> = (obj: T, ev: InformerEvent<T>) => string | string[] | undefined | null;
export type Predicate<T extends KubeObject = KubeObject> = (ev: InformerEvent<T>) => boolean;

/**
 * Passes adds, deletes and resyncs, and updates that changed metadata.generation — i.e. drops
 * status-only (and metadata-only) updates. Objects without a generation (ConfigMaps) never pass
 * an update: do not use it on them.
 */
export const generationChanged: Predicate = (ev) =>
  ev.type !== 'update' || ev.obj.metadata?.generation !== ev.old.metadata?.generation;

/** The object's own key. */
export const selfKey: MapFunc = (obj) => objectKey(obj);

/**
 * Keys of the owners of the given kind (optionally only the managing controller) from
 * metadata.ownerReferences. Owners are in the object's namespace, or cluster-scoped when
 * clusterScoped is set (a namespaced object owned by a cluster-scoped Installation).
 */
export function ownerKeys(kind: string, opts: { controllerOnly?: boolean; clusterScoped?: boolean } = {}): MapFunc {
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === kind && (!opts.controllerOnly || r.controller))
      .map((r) => (opts.clusterScoped || !obj.metadata?.namespace ? r.name : `${obj.metadata.namespace}/${r.name}`));
}

/** Key named by a label (e.g. the label naming the owner Installation, cluster-scoped). */
export function labelKey(label: string): MapFunc {
  return (obj) => obj.metadata?.labels?.[label];
}

export interface ControllerOptions {
  name: string;
  /** Concurrent reconciles (of different keys). Default 1. */
  workers?: number;
  logger?: Logger;
  metrics?: RuntimeMetrics;
  rateLimiter?: RateLimiterOptions;
  /** On stop, reconcile keys already queued before exiting (default false: drop them, finish in-flight only). */
  drainOnStop?: boolean;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private reconciler: Reconciler | undefined;
  private readonly informers: Informer<any>[] = [];
  private readonly log: Logger | undefined;
  private running = false;

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.log = opts.logger?.child({ controller: opts.name });
    const depth = opts.metrics?.queueDepth.labels({ controller: opts.name });
    this.queue = new WorkQueue({ rateLimiter: new RateLimiter(opts.rateLimiter), onDepth: (d) => depth?.set(d) });
    depth?.set(0);
  }

  /** Sets the reconcile function (one per controller). */
  reconcile(fn: Reconciler): this {
    if (this.reconciler) throw new Error(`controller ${this.name} already has a reconcile function`);
    this.reconciler = fn;
    return this;
  }

  /**
   * Enqueues keys for events of an informer. Without a map the object's own key is used; the
   * predicates (all must pass) filter events first, e.g. [generationChanged].
   */
  watches<T extends KubeObject>(informer: Informer<T>, opts: MapFunc<T> | { map?: MapFunc<T>; predicates?: Predicate<T>[] } = {}): this {
    const { map, predicates } = typeof opts === 'function' ? { map: opts, predicates: [] } : opts;
    const mapFn = (map ?? (selfKey as MapFunc<T>)) as MapFunc<T>;
    this.informers.push(informer);
    informer.subscribe((ev) => {
      if (predicates && !predicates.every((p) => p(ev))) return;
      const keys = mapFn(ev.obj, ev);
      if (keys === undefined || keys === null) return;
      for (const k of Array.isArray(keys) ? keys : [keys]) if (k) this.queue.add(k);
    });
    return this;
  }

  enqueue(key: string, afterMs = 0): void {
    this.queue.addAfter(key, afterMs);
  }

  /** True once every watched informer has synced. */
  hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced());
  }

  /**
   * Waits for the watched informers to sync, then runs the workers until the signal aborts;
   * then stops taking keys and resolves after in-flight reconciles finished.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.reconciler) throw new Error(`controller ${this.name} has no reconcile function: call .reconcile(fn) before run()`);
    if (this.running) throw new Error(`controller ${this.name} is already running`);
    this.running = true;
    await Promise.all(this.informers.map((i) => i.waitForSync(signal)));
    const workers: Promise<void>[] = [];
    if (!signal.aborted) {
      this.log?.info({ workers: this.opts.workers ?? 1 }, 'controller started');
      for (let i = 0; i < (this.opts.workers ?? 1); i++) workers.push(this.worker(signal));
    }
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    await this.queue.shutdown({ drain: this.opts.drainOnStop ?? false });
    await Promise.all(workers);
    this.log?.info('controller stopped');
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string, signal: AbortSignal): Promise<void> {
    const m = this.opts.metrics;
    const { namespace, name } = splitKey(key);
    const retries = this.queue.retries(key);
    const ctx: ReconcileContext = { signal, log: this.log?.child({ key }), controller: this.name, retries, namespace, name };
    const end = m?.reconcileDuration.startTimer({ controller: this.name });
    try {
      const res = (await this.reconciler!(key, ctx)) ?? {};
      if (res.requeueAfter !== undefined && res.requeueAfter > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfter);
        m?.reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
      } else {
        this.queue.forget(key);
        m?.reconcileTotal.inc({ controller: this.name, result: 'success' });
      }
    } catch (err) {
      m?.reconcileTotal.inc({ controller: this.name, result: isTerminal(err) ? 'terminal_error' : 'error' });
      m?.reconcileErrors.inc({ controller: this.name });
      if (signal.aborted) return; // stopping: the next leader/start reconciles it
      if (isTerminal(err)) {
        // Retrying cannot help; the next change of a watched object enqueues the key again.
        this.queue.forget(key);
        this.log?.error({ key, err, terminal: true }, 'reconcile failed; not retried until a watched object changes');
        return;
      }
      const delay = this.queue.addRateLimited(key);
      this.log?.error({ key, err, retries: retries + 1, retryInMs: Math.round(delay) }, 'reconcile failed');
    } finally {
      end?.();
    }
  }
}
