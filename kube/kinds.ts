// The order in which kinds are applied: what others refer to first. Helm's InstallOrder
// (helm.sh/helm/v3/pkg/releaseutil/kind_sorter.go), trimmed to the kinds an operator of this
// kind ships, with one deliberate difference: ConfigMap comes after the RBAC kinds (neither
// refers to the other, and Weft's rendered output has always listed it there). One order for
// rendering, applying, release manifests and the lists of managed kinds.

/** Kinds in install order; a kind not listed sorts after all of them (then by name). */
export const INSTALL_ORDER: readonly string[] = [
  'CustomResourceDefinition', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PriorityClass',
  'ServiceAccount', 'Secret', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap',
  'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  'Service', 'DaemonSet', 'Deployment', 'PodDisruptionBudget', 'ServiceMonitor', 'PodMonitor', 'PrometheusRule',
];

/** Position of a kind in INSTALL_ORDER; unknown kinds get INSTALL_ORDER.length. */
export function installRank(kind: string): number {
  const i = INSTALL_ORDER.indexOf(kind);
  return i === -1 ? INSTALL_ORDER.length : i;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Install order, then kind, namespace and name (UTF-16 code unit order): a total, stable order. */
export function compareForInstall(
  a: { kind: string; metadata: { namespace?: string; name: string } },
  b: { kind: string; metadata: { namespace?: string; name: string } },
): number {
  return (
    installRank(a.kind) - installRank(b.kind) ||
    cmp(a.kind, b.kind) ||
    cmp(a.metadata.namespace ?? '', b.metadata.namespace ?? '') ||
    cmp(a.metadata.name, b.metadata.name)
  );
}
