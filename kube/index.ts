// Public surface of kube/, the Kubernetes runtime the operator and the node agent run on. It
// imports no Weft module (test/unit/layers.test.ts holds that); names such as the user agent,
// logger name and metric prefix are the caller's options.
export { Backoff, backoffCeiling, backoffDelay, sleep, type BackoffOptions } from './backoff.ts';
export { Store, objectKey, splitKey, byNamespace, byOwner, byOwnerUid, byLabel, byNodeName, type IndexFunc } from './cache.ts';
export { KubeClient, type KubeObject, type WatchEvent, type RequestInfo, type RequestOptions } from './client.ts';
export { ApiError, TerminalError, isTerminal, isGone, isNotFound, isConflict, isAlreadyExists, statusOf } from './errors.ts';
export { makeCountedApiClient } from './apiclient.ts';
export { Informer, collectionPath, resourceName, dropManagedFields, type ResourceRef, type InformerEvent, type InformerHandler, type InformerOptions, type TransformFunc } from './informer.ts';
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
export { EventRecorder, type EventRecorderOptions, type EventTarget, type EventType } from './events.ts';
export { mergeConditions, rfc3339Seconds, type Condition, type ConditionInput, type ConditionStatus, type MergeAt } from './conditions.ts';
export { canonicalJson } from './json.ts';
export { mapLimit } from './concurrency.ts';
export { loadKubeConfig, type LoadKubeConfigOptions } from './kubeconfig.ts';
// kube/envtest.ts (the test control-plane launcher) is imported by path: it spawns processes and
// is for tests and developer tools, not for what runs in a cluster.
export { INSTALL_ORDER, installRank, compareForInstall } from './kinds.ts';
