/** The weft-system namespace. The node agent needs host networking and host paths, which only
 *  the "privileged" Pod Security level admits. */
import { names } from '../api/index.ts';
import { objectMeta } from './metadata.ts';
import type { KubernetesObject } from './types.ts';

export function renderNamespace(installationName: string): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: objectMeta(installationName, names.namespace, {
      extraLabels: {
        'pod-security.kubernetes.io/enforce': 'privileged',
        'pod-security.kubernetes.io/audit': 'privileged',
        'pod-security.kubernetes.io/warn': 'privileged',
      },
    }),
  };
}
