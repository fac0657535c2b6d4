// The kinds of object the Installation controller may render, apply, watch and prune. Pruning
// only ever looks at these kinds (and only at objects carrying the owner label), and the
// operator's ClusterRole must grant exactly these (test/unit/operator/rbac.test.ts checks it).
import type { ResourceRef } from '../kube/index.ts';
import { installRank } from '../kube/kinds.ts';

export interface ManagedKind {
  apiVersion: string;
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

function mk(apiVersion: string, kind: string, plural: string, namespaced: boolean): ManagedKind {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  return { apiVersion, kind, group, version, plural, namespaced };
}

/** In the one install order (kube/kinds.ts), so listings and watches go dependencies first. */
export const managedKinds: readonly ManagedKind[] = [
  mk('v1', 'Namespace', 'namespaces', false),
  mk('v1', 'ConfigMap', 'configmaps', true),
  mk('apps/v1', 'DaemonSet', 'daemonsets', true),
].sort((a, b) => installRank(a.kind) - installRank(b.kind));

export function kindOf(apiVersion: string, kind: string): ManagedKind | undefined {
  return managedKinds.find((k) => k.apiVersion === apiVersion && k.kind === kind);
}

export function gvkKey(k: { apiVersion?: string; kind?: string }): string {
  return `${k.apiVersion ?? ''}/${k.kind ?? ''}`;
}

/** REST path of one object of a kind. */
export function objectPath(k: ManagedKind, name: string, namespace?: string): string {
  const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  if (k.namespaced) {
    if (!namespace) throw new Error(`${k.kind} ${name} is namespaced but has no metadata.namespace`);
    return `${base}/namespaces/${encodeURIComponent(namespace)}/${k.plural}/${encodeURIComponent(name)}`;
  }
  return `${base}/${k.plural}/${encodeURIComponent(name)}`;
}

/** Informer resource of a managed kind: only objects with the owner label, only in the operand namespace. */
export function ownedResource(k: ManagedKind, ownerLabel: string, namespace: string): ResourceRef {
  return {
    group: k.group || undefined,
    version: k.version,
    plural: k.plural,
    namespace: k.namespaced ? namespace : undefined,
    labelSelector: ownerLabel,
  };
}
