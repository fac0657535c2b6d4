/** The fixed order of rendered objects: dependencies first (what kubectl apply would need),
 *  then namespace, then name. */
import type { KubernetesObject } from './types.ts';
import { compareStrings } from './underlay.ts';

export const kindOrder = [
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'DaemonSet',
] as const;

function kindRank(kind: string): number {
  const i = (kindOrder as readonly string[]).indexOf(kind);
  return i < 0 ? kindOrder.length : i;
}

export function compareObjects(a: KubernetesObject, b: KubernetesObject): number {
  return (
    kindRank(a.kind) - kindRank(b.kind) ||
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.metadata.namespace ?? '', b.metadata.namespace ?? '') ||
    compareStrings(a.metadata.name, b.metadata.name)
  );
}

export function sortObjects(objects: readonly KubernetesObject[]): KubernetesObject[] {
  return [...objects].sort(compareObjects);
}
