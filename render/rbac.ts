/**
 * The node agent's identity and least-privilege permissions: no wildcards, no Secrets.
 *  - ClusterRole: read Nodes and Pods (leak detection compares host-local allocations with the
 *    pods on its node; RBAC cannot restrict that to one node, the agent uses a
 *    spec.nodeName field selector), write NodeNetworks and their status, manage IPAMBlocks.
 *    Deleting only its own blocks cannot be expressed in RBAC: the agent deletes only blocks
 *    whose spec.node is its node, and a validating admission policy could enforce it later.
 *  - Role in weft-system: read the weft-config ConfigMap only (resourceNames), instead of every
 *    ConfigMap in the cluster. Lists and watches must use the field selector
 *    metadata.name=weft-config for resourceNames to apply.
 * Owner references on NodeNetwork/IPAMBlock must not set blockOwnerDeletion: that would need
 * update on nodes/finalizers.
 */
import { names } from '../api/index.ts';
import { COMPONENT_NODE_AGENT, objectMeta } from './metadata.ts';
import type { KubernetesObject } from './types.ts';

const READ = ['get', 'list', 'watch'];

export const nodeAgentClusterRules = [
  { apiGroups: [''], resources: ['nodes'], verbs: READ },
  { apiGroups: [''], resources: ['pods'], verbs: READ },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['network.weft.dev'], resources: ['nodenetworks'], verbs: [...READ, 'create', 'update', 'patch'] },
  { apiGroups: ['network.weft.dev'], resources: ['nodenetworks/status'], verbs: ['get', 'update', 'patch'] },
  { apiGroups: ['network.weft.dev'], resources: ['ipamblocks'], verbs: [...READ, 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['network.weft.dev'], resources: ['ipamblocks/status'], verbs: ['get', 'update', 'patch'] },
];

export const nodeAgentConfigRules = [
  { apiGroups: [''], resources: ['configmaps'], resourceNames: [names.configMap], verbs: READ },
];

export function renderRbac(installationName: string): KubernetesObject[] {
  const meta = (name: string, namespace?: string) =>
    objectMeta(installationName, name, { component: COMPONENT_NODE_AGENT, ...(namespace ? { namespace } : {}) });
  const subject = { kind: 'ServiceAccount', name: names.nodeServiceAccount, namespace: names.namespace };
  const roleName = names.nodeServiceAccount;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(names.nodeServiceAccount, names.namespace) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(roleName), rules: nodeAgentClusterRules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(roleName),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
      subjects: [subject],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(roleName, names.namespace), rules: nodeAgentConfigRules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(roleName, names.namespace),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
      subjects: [subject],
    },
  ];
}
