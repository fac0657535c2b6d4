/** Kubernetes client set-up shared by the CLI commands that talk to a cluster. */
import { CustomObjectsApi, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig as loadFrom } from '../kube/kubeconfig.ts';

/** The kubeconfig a command was pointed at (--kubeconfig, else the default chain). */
export function loadKubeConfig(path?: string): KubeConfig {
  return loadFrom(path, { hint: 'pass --kubeconfig or set KUBECONFIG (weft sandbox up prints one)' });
}

export function clients(kc: KubeConfig) {
  return { custom: kc.makeApiClient(CustomObjectsApi), core: kc.makeApiClient(CoreV1Api) };
}
