/** Kubernetes client set-up shared by the CLI commands that talk to a cluster. */
import { CustomObjectsApi, CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig or set KUBECONFIG (weft sandbox up prints one)');
  }
  return kc;
}

export function clients(kc: KubeConfig) {
  return { custom: kc.makeApiClient(CustomObjectsApi), core: kc.makeApiClient(CoreV1Api) };
}

/** True for the client's "not found" errors, whatever shape the 1.x client gives them. */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; statusCode?: number; body?: unknown };
  return e?.code === 404 || e?.statusCode === 404;
}
