// Loading a kubeconfig the way kubectl does: an explicit file, else $KUBECONFIG, else the
// in-cluster service account, else ~/.kube/config (@kubernetes/client-node's loadFromDefault).
import { KubeConfig } from '@kubernetes/client-node';

export interface LoadKubeConfigOptions {
  /** Appended to the error when no cluster is configured: how this program's user gets one. */
  hint?: string;
}

/**
 * The kubeconfig at `path`, or the default one. Throws when it names no current cluster (a
 * request would otherwise go to a client-node default that no user configured).
 */
export function loadKubeConfig(path?: string, opts: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    const where = path ? `kubeconfig ${path} has no current cluster` : 'no Kubernetes cluster configured';
    throw new Error(`${where}: set current-context to a context whose cluster exists${opts.hint ? ` (${opts.hint})` : ''}`);
  }
  return kc;
}
