// What the operator's informer caches keep of each object (issue 23: the operator at 5000 nodes
// held 249 MiB). Like client-go's SetTransform: every object is reshaped once, as it arrives,
// to the fields some reader in operator/ uses; the rest — metadata.managedFields above all, a
// Node's images, capacity and node info, an agent pod's spec and container statuses, an agent's
// kernel and BGP details — is never held. One policy per resource, because informers are shared
// (operator/controllers/* and operator/rollout/* read the same Nodes): a field a reader starts
// using must be kept here, and test/unit/operator/cache-transforms.test.ts runs the readers on
// transformed objects.
import { annotations } from '../api/index.ts';
import { dropManagedFields, type KubeObject, type ResourceRef, type TransformFunc } from '../kube/index.ts';

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
type Meta = NonNullable<KubeObject['metadata']> & Record<string, unknown>;

/** metadata without managedFields; annotations only those named (undefined: all). */
function meta(o: Obj, keepAnnotations?: readonly string[]): Meta {
  const { managedFields: _dropped, annotations: ann, ...rest } = (o.metadata ?? {}) as Meta & { managedFields?: unknown; annotations?: Record<string, string> };
  if (!ann) return rest;
  if (!keepAnnotations) return { ...rest, annotations: ann };
  const kept = Object.fromEntries(keepAnnotations.filter((k) => k in ann).map((k) => [k, ann[k]!]));
  return Object.keys(kept).length ? { ...rest, annotations: kept } : rest;
}

/**
 * Nodes: name, uid, labels, deletion (facts, rollout scope, housekeeping), spec.unschedulable and
 * providerID, status.conditions (Ready: the rollout's availability) and status.addresses
 * (InternalIPs for facts). Dropped: managedFields, annotations, taints, images, capacity,
 * allocatable, nodeInfo, daemonEndpoints, volumes.
 */
export const nodeTransform: TransformFunc = (obj) => {
  const o = obj as Obj;
  const spec = o.spec ?? {};
  const status = o.status ?? {};
  const conditions = (status.conditions as { type: string; status: string }[] | undefined)?.map((c) => ({ type: c.type, status: c.status }));
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: meta(o, []),
    spec: { ...(spec.unschedulable !== undefined ? { unschedulable: spec.unschedulable } : {}), ...(spec.providerID !== undefined ? { providerID: spec.providerID } : {}) },
    status: { ...(conditions ? { conditions } : {}), ...(status.addresses ? { addresses: status.addresses } : {}) },
  } as KubeObject;
};

/**
 * The agent pods (weft-system, the rollout): metadata (the spec-hash annotation only), the node
 * and the phase. Dropped: the pod spec (containers, volumes, env), container statuses,
 * managedFields.
 */
export const agentPodTransform: TransformFunc = (obj) => {
  const o = obj as Obj;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: meta(o, [annotations.specHash]),
    spec: o.spec?.nodeName !== undefined ? { nodeName: o.spec.nodeName } : {},
    status: o.status?.phase !== undefined ? { phase: o.status.phase } : {},
  } as KubeObject;
};

/**
 * NodeNetworks: everything but managedFields and the agent's own diagnostics (status.kernel,
 * bgp, ipam, cni), which no operator code reads; facts, the rollout, cluster checks and the
 * uninstall handshake read the rest.
 */
export const nodeNetworkTransform: TransformFunc = (obj) => {
  const o = dropManagedFields(obj) as Obj;
  if (o.status) {
    const { kernel: _k, bgp: _b, ipam: _i, cni: _c, ...status } = o.status;
    o.status = status;
  }
  return o;
};

/** The policy the operator's Manager applies (kube ManagerOptions.informerTransform). */
export function operatorInformerTransform(r: ResourceRef): TransformFunc {
  if (!r.group && r.plural === 'nodes') return nodeTransform;
  if (!r.group && r.plural === 'pods') return agentPodTransform;
  if (r.group === 'network.weft.dev' && r.plural === 'nodenetworks') return nodeNetworkTransform;
  // IPAMBlocks, the Installation and the objects the operator applies (whose live state the
  // applier compares field by field): all but managedFields, which nothing here reads.
  return dropManagedFields;
}
