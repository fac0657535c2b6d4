// Informer: list, then watch from the list's resourceVersion, keeping a Store current and
// telling subscribers what changed. The watch is supervised here rather than by client-node:
// reconnect with backoff + jitter, relist on 410 Gone, restart a watch that went silent (no
// event and no bookmark within staleAfterMs), and periodically re-deliver the cache (resync).
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions, sleep } from './backoff.ts';
import { Store, objectKey, type IndexFunc } from './cache.ts';
import type { KubeClient, KubeObject, WatchEvent } from './client.ts';
import { ApiError, isGone } from './errors.ts';
import type { RuntimeMetrics, WatchRestartReason } from './metrics.ts';

export interface ResourceRef {
  /** API group; '' or undefined for the core group. */
  group?: string;
  version: string;
  /** Plural resource name, e.g. 'configmaps'. */
  plural: string;
  /** Restrict to one namespace; undefined = all namespaces (or a cluster-scoped resource). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export function collectionPath(r: ResourceRef, namespace = r.namespace): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

/** Stable name for logs and metric labels: "configmaps" or "leases.coordination.k8s.io". */
export function resourceName(r: ResourceRef): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export type InformerEvent<T extends KubeObject = KubeObject> =
  | { type: 'add'; obj: T }
  | { type: 'update'; obj: T; old: T }
  | { type: 'delete'; obj: T }
  /** Periodic re-delivery of a cached object that did not change. */
  | { type: 'resync'; obj: T };

export type InformerHandler<T extends KubeObject = KubeObject> = (ev: InformerEvent<T>) => void;

/**
 * Reshapes every object from a list or a watch event before it is cached or delivered, as
 * client-go's SharedIndexInformer.SetTransform does: drop what no reader of the cache uses
 * (metadata.managedFields, unread status) so a large cluster's cache holds only what is read.
 * It must keep metadata.name, namespace and resourceVersion (the store's key and change
 * detection) and whatever the indexers read; it may return a new object or modify its argument
 * (the parsed response is not used again). It runs once per object per event.
 */
export type TransformFunc = (obj: KubeObject) => KubeObject;

/** A TransformFunc that drops only metadata.managedFields (server-side apply bookkeeping, often the largest part of an object). */
export const dropManagedFields: TransformFunc = (obj) => {
  if (obj.metadata && 'managedFields' in obj.metadata) delete (obj.metadata as { managedFields?: unknown }).managedFields;
  return obj;
};

export interface InformerOptions<T extends KubeObject = KubeObject> {
  client: KubeClient;
  resource: ResourceRef;
  indexers?: Record<string, IndexFunc<T>>;
  logger?: Logger;
  metrics?: RuntimeMetrics;
  /** Re-deliver every cached object this often; 0 = never. Default 0. */
  resyncMs?: number;
  /**
   * Restart the watch when neither an event nor a bookmark arrived for this long. The API
   * server sends a bookmark about once a minute to watchers that ask for them. Default 120 s.
   */
  staleAfterMs?: number;
  /** Server-side watch timeout, drawn uniformly from [min, max] seconds per watch. Default [300, 600]. */
  watchTimeoutSeconds?: [number, number];
  /** Reconnect backoff. Default 200 ms doubling to 30 s, 50 % jitter. */
  backoff?: BackoffOptions;
  /** Page size of the initial and 410 lists. Default 500. */
  listPageSize?: number;
  /** Applied to every listed or watched object before it is stored or delivered (see TransformFunc). */
  transform?: TransformFunc;
}

interface ListResponse<T> {
  kind?: string;
  apiVersion?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly store: Store<T>;
  readonly resource: ResourceRef;
  readonly name: string;
  private readonly handlers = new Set<InformerHandler<T>>();
  private readonly log: Logger | undefined;
  private readonly backoff: Backoff;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private running: Promise<void> | undefined;
  private lastRv: string | undefined;
  /** Counts of what the supervisor did; handy in tests and diagnostics. */
  readonly stats = { lists: 0, watches: 0, restarts: {} as Partial<Record<WatchRestartReason, number>> };

  constructor(private readonly opts: InformerOptions<T>) {
    this.resource = opts.resource;
    this.name = resourceName(opts.resource);
    this.store = new Store<T>(opts.indexers ?? {});
    this.log = opts.logger?.child({ informer: this.name });
    this.backoff = new Backoff(opts.backoff ?? { initialMs: 200, maxMs: 30_000, jitter: 0.5 });
  }

  /** Subscribe to changes; returns an unsubscribe function. Late subscribers get an 'add' per cached object. */
  subscribe(handler: InformerHandler<T>): () => void {
    this.handlers.add(handler);
    if (this.synced) for (const obj of this.store.list()) this.deliver(handler, { type: 'add', obj });
    return () => this.handlers.delete(handler);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been loaded into the store (or when the signal aborts). */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      // The listener must go once synced: a long-lived signal shared by many informers would
      // otherwise collect one per wait (MaxListenersExceededWarning).
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve(this.synced);
      };
      this.syncWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** The resourceVersion the next watch would start from. */
  get resourceVersion(): string | undefined {
    return this.lastRv;
  }

  /** Starts the list/watch loop; the returned promise settles after the signal aborts. */
  start(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`informer ${this.name} already started`);
    this.running = this.run(signal);
    return this.running;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const resyncMs = this.opts.resyncMs ?? 0;
    const resync = resyncMs > 0 ? setInterval(() => this.resync(), resyncMs) : undefined;
    let needList = true;
    try {
      while (!signal.aborted) {
        let reason: WatchRestartReason;
        let delay = 0;
        try {
          if (needList) {
            await this.listAndReplace(signal);
            needList = false;
          }
          const r = await this.watchOnce(signal);
          if (signal.aborted) break;
          reason = r.reason;
          // A watch that delivered something was healthy: reconnect at once. One that ended
          // without a single event or bookmark may be a server in trouble: back off.
          if (r.reason === 'closed' && r.events > 0) this.backoff.reset();
          else delay = this.backoff.next();
        } catch (err) {
          if (signal.aborted) break;
          if (isGone(err)) {
            // A 410 while listing means a continue token expired mid-pagination.
            reason = needList ? 'expired_list' : 'gone';
            needList = true;
            this.log?.info({ rv: this.lastRv, err: (err as Error).message }, 'resourceVersion too old; relisting');
            if (reason === 'expired_list') delay = this.backoff.next();
          } else {
            reason = 'error';
            delay = this.backoff.next();
            this.log?.warn({ err: (err as Error).message, retryInMs: Math.round(delay) }, 'list/watch failed; retrying');
          }
        }
        this.stats.restarts[reason] = (this.stats.restarts[reason] ?? 0) + 1;
        this.opts.metrics?.watchRestarts.inc({ resource: this.name, reason });
        if (delay > 0) await sleep(delay, signal);
      }
    } finally {
      if (resync) clearInterval(resync);
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  /** Lists everything, diffs it into the store, and sets the resourceVersion to watch from. */
  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const r = this.resource;
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.opts.client.request<ListResponse<T>>(collectionPath(r), {
        verb: 'list',
        signal,
        query: { limit: this.opts.listPageSize ?? 500, continue: cont, labelSelector: r.labelSelector, fieldSelector: r.fieldSelector },
      });
      // List items carry no apiVersion/kind; restore them so handlers see complete objects.
      const kind = page.kind?.replace(/List$/, '');
      for (const it of page.items ?? []) items.push(this.reshape({ apiVersion: page.apiVersion, kind, ...it }));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont);
    this.stats.lists++;

    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.store.upsert(obj);
      if (!old) this.emit({ type: 'add', obj });
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit({ type: 'update', obj, old });
    }
    for (const key of this.store.keys()) {
      if (seen.has(key)) continue;
      const old = this.store.delete(key);
      if (old) this.emit({ type: 'delete', obj: old });
    }
    this.log?.debug({ rv, count: items.length }, 'listed');
    // Before announcing the sync: whoever awaited it may read resourceVersion at once.
    this.lastRv = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  private async watchOnce(outer: AbortSignal): Promise<{ reason: WatchRestartReason; events: number }> {
    const r = this.resource;
    const ac = new AbortController();
    const onOuter = () => ac.abort();
    outer.addEventListener('abort', onOuter, { once: true });
    const staleAfterMs = this.opts.staleAfterMs ?? 120_000;
    let stale = false;
    let staleTimer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(staleTimer);
      staleTimer = setTimeout(() => {
        stale = true;
        this.log?.warn({ staleAfterMs, rv: this.lastRv }, 'watch silent past its deadline; restarting it');
        ac.abort();
      }, staleAfterMs);
    };
    const [tmin, tmax] = this.opts.watchTimeoutSeconds ?? [300, 600];
    let events = 0;
    let inStreamError: Error | undefined;
    this.stats.watches++;
    arm();
    try {
      await this.opts.client.watch(collectionPath(r), {
        signal: ac.signal,
        query: {
          resourceVersion: this.lastRv,
          allowWatchBookmarks: true,
          timeoutSeconds: Math.round(tmin + Math.random() * (tmax - tmin)),
          labelSelector: r.labelSelector,
          fieldSelector: r.fieldSelector,
        },
        onEvent: (ev) => {
          arm();
          events++;
          if (ev.type === 'ERROR') {
            const st = ev.object as unknown as { code?: number; reason?: string; message?: string };
            inStreamError = new ApiError(`watch ${this.name}: ${st.message ?? 'error event'}`, st.code ?? 500, st.reason, st);
            ac.abort();
            return;
          }
          this.apply(ev as WatchEvent<T>);
        },
      });
    } finally {
      clearTimeout(staleTimer);
      outer.removeEventListener('abort', onOuter);
    }
    if (inStreamError) throw inStreamError;
    if (stale) return { reason: 'stale', events };
    return { reason: 'closed', events };
  }

  private apply(ev: WatchEvent<T>): void {
    const rv = ev.object.metadata?.resourceVersion;
    if (rv) this.lastRv = rv;
    if (ev.type === 'BOOKMARK') return;
    const obj = this.reshape(ev.object);
    if (ev.type === 'DELETED') {
      this.store.delete(objectKey(obj));
      this.emit({ type: 'delete', obj });
      return;
    }
    const old = this.store.upsert(obj);
    if (!old) this.emit({ type: 'add', obj });
    else if (old.metadata?.resourceVersion !== rv) this.emit({ type: 'update', obj, old });
  }

  private reshape(obj: T): T {
    return this.opts.transform ? (this.opts.transform(obj) as T) : obj;
  }

  private resync(): void {
    if (!this.synced) return;
    for (const obj of this.store.list()) this.emit({ type: 'resync', obj });
  }

  private emit(ev: InformerEvent<T>): void {
    for (const h of this.handlers) this.deliver(h, ev);
  }

  private deliver(h: InformerHandler<T>, ev: InformerEvent<T>): void {
    try {
      h(ev);
    } catch (err) {
      this.log?.error({ err, event: ev.type }, 'informer handler threw');
    }
  }
}
