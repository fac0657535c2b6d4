// Public surface of the reconcile runtime; controllers import from here only.
export { Backoff, backoffCeiling, backoffDelay, sleep, type BackoffOptions } from './backoff.ts';
export { Store, objectKey, splitKey, byNamespace, byOwner, byOwnerUid, byLabel, byNodeName, type IndexFunc } from './cache.ts';
export { KubeClient, ApiError, isGone, isNotFound, isConflict, type KubeObject, type WatchEvent, type RequestInfo, type RequestOptions } from './client.ts';
export { makeCountedApiClient } from './apiclient.ts';
export { Informer, collectionPath, resourceName, type ResourceRef, type InformerEvent, type InformerHandler, type InformerOptions } from './informer.ts';
export { WorkQueue, RateLimiter, type WorkQueueOptions, type RateLimiterOptions } from './workqueue.ts';
export {
  Controller,
  generationChanged,
  selfKey,
  ownerKeys,
  labelKey,
  type ControllerOptions,
  type Reconciler,
  type ReconcileContext,
  type ReconcileResult,
  type MapFunc,
  type Predicate,
} from './controller.ts';
export { LeaderElector, type LeaderElectionOptions, type LeaderCallbacks, type LeaderElectionOutcome } from './leaderelection.ts';
export { createRuntimeMetrics, verbOf, WRITE_VERBS, type RuntimeMetrics, type ReconcileResult as ReconcileResultLabel, type WatchRestartReason } from './metrics.ts';
export { startHealthServer, type HealthServer, type HealthServerOptions, type Check } from './health.ts';
export { createLogger, type Logger } from './log.ts';
export { Manager, type ManagerOptions, type StopReason } from './manager.ts';
