// Prometheus metrics of the reconcile runtime, registered on a registry the caller owns, so
// tests and embedders (several managers in one process) never collide on the global registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type ReconcileResult = 'success' | 'error' | 'terminal_error' | 'requeue_after';
export type WatchRestartReason = 'closed' | 'error' | 'gone' | 'stale' | 'expired_list';

export interface RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileDuration: Histogram<'controller'>;
  readonly queueDepth: Gauge<'controller'>;
  readonly watchRestarts: Counter<'resource' | 'reason'>;
  readonly apiRequests: Counter<'verb'>;
  readonly leader: Gauge<'lease'>;
}

/** The runtime's metrics, named `${prefix}reconcile_total` etc. (prefix e.g. "my_operator_"), on `registry`. */
export function createRuntimeMetrics(registry: Registry, prefix: string): RuntimeMetrics {
  const registers = [registry];
  return {
    registry,
    reconcileTotal: new Counter({
      name: `${prefix}reconcile_total`,
      help: 'Reconciles finished, by controller and result.',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: `${prefix}reconcile_errors_total`,
      help: 'Reconciles that returned an error, by controller.',
      labelNames: ['controller'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: `${prefix}reconcile_duration_seconds`,
      help: 'Time spent in one reconcile, by controller.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    queueDepth: new Gauge({
      name: `${prefix}workqueue_depth`,
      help: 'Keys waiting in the work queue (not counting in-flight or delayed keys), by controller.',
      labelNames: ['controller'],
      registers,
    }),
    watchRestarts: new Counter({
      name: `${prefix}watch_restarts_total`,
      help: 'Watch restarts by resource and reason (closed, error, gone, stale, expired_list).',
      labelNames: ['resource', 'reason'],
      registers,
    }),
    apiRequests: new Counter({
      name: `${prefix}api_requests_total`,
      help: 'Requests sent to the Kubernetes API server, by verb.',
      labelNames: ['verb'],
      registers,
    }),
    leader: new Gauge({
      name: `${prefix}leader`,
      help: '1 while this process holds the named leader-election Lease.',
      labelNames: ['lease'],
      registers,
    }),
  };
}

/** Verbs that change state on the API server; invariant 2 (idempotent reconcile) counts these. */
export const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Kubernetes-style verb for an HTTP request (collection GETs cannot be told from item GETs by URL alone). */
export function verbOf(method: string, url: string): string {
  switch (method.toUpperCase()) {
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return /[?&]watch=(1|true)(&|$)/.test(url) ? 'watch' : 'get';
  }
}
