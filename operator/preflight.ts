// Checks made once before the operator starts its loops, so a cluster it cannot work in gives
// one clear error and an exit code instead of a warning every retry period forever.
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

/** Exit codes of weft-operator (documented in its --help and docs/install.md). */
export const EXIT = {
  ok: 0,
  /** Stopped for another reason (lost lease, start failure): the pod restarts. */
  failed: 1,
  /** No kubeconfig could be loaded. */
  noKubeconfig: 2,
  /** The cluster's CRDs are newer than this operator. */
  crdDowngrade: 3,
  /** The namespace for the leader-election Lease does not exist. */
  noNamespace: 4,
} as const;

/**
 * The one-line error when `namespace` does not exist (404), else undefined. Other failures (no
 * permission to read namespaces, API server not reachable yet) are left to the operator's own
 * retries: they may pass on their own, a missing namespace does not.
 */
export async function missingNamespaceError(kc: KubeConfig, namespace: string, timeoutMs = 10_000): Promise<string | undefined> {
  const api = kc.makeApiClient(CoreV1Api);
  try {
    await Promise.race([
      api.readNamespace({ name: namespace }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return undefined;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) {
      return `namespace ${namespace} does not exist, and the operator keeps its leader-election Lease there: apply the release manifest first (kubectl apply --server-side -f weft.yaml creates it), or pass --namespace <an existing namespace> (or --leader-elect=false)`;
    }
    return undefined;
  }
}
