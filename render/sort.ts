/** The fixed order of rendered objects: dependencies first (kube/kinds.ts, the one install
 *  order), then kind, namespace, name. */
import type { KubernetesObject } from './types.ts';
import { compareForInstall } from '../kube/kinds.ts';

/** The one kind order (kube/kinds.ts: Helm's install order), re-exported for render's callers. */
export { INSTALL_ORDER as kindOrder } from '../kube/kinds.ts';

export function compareObjects(a: KubernetesObject, b: KubernetesObject): number {
  return compareForInstall(a, b);
}

export function sortObjects(objects: readonly KubernetesObject[]): KubernetesObject[] {
  return [...objects].sort(compareObjects);
}
