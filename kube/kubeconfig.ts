// Loading a kubeconfig the way kubectl does: an explicit file, else $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account (@kubernetes/client-node's loadFromDefault).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** Where the kubelet mounts a pod's service account token (Kubernetes convention). */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface LoadKubeConfigOptions {
  /** Appended to the error when no cluster is configured: how this program's user gets one. */
  hint?: string;
  /** What is consulted for the default kubeconfig (tests); default: this process's. */
  env?: NodeJS.ProcessEnv;
  home?: string;
  tokenPath?: string;
}

/**
 * The kubeconfig at `path`, or the default one. Throws a one-line error when there is no default
 * at all — $KUBECONFIG unset, no ~/.kube/config, not a pod with a service account token — where
 * client-node would fall back to http://localhost:8080 and fail at the first request with a
 * misleading TLS message; and when the kubeconfig names no current cluster.
 */
export function loadKubeConfig(path?: string, opts: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  const hint = opts.hint ? ` (${opts.hint})` : '';
  if (path) {
    kc.loadFromFile(path);
  } else {
    const home = opts.home ?? homedir();
    const tokenPath = opts.tokenPath ?? SERVICE_ACCOUNT_TOKEN_PATH;
    if (!(opts.env ?? process.env).KUBECONFIG && !existsSync(join(home, '.kube', 'config')) && !existsSync(tokenPath)) {
      throw new Error(`no Kubernetes credentials: $KUBECONFIG is unset, ${join(home, '.kube', 'config')} does not exist and this is not a pod with a service account token (${tokenPath}); pass --kubeconfig${hint}`);
    }
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) {
    const where = path ? `kubeconfig ${path} has no current cluster` : 'no Kubernetes cluster configured';
    throw new Error(`${where}: set current-context to a context whose cluster exists${hint}`);
  }
  return kc;
}
