// The agent's API access: the reconcile runtime's leak-free client and informers (see
// docs/adr/0007-node-agent-control-loop.md) plus the few write calls the agent makes.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { IPAMBlock } from '../../../api/types/ipamblock.ts';
import type { NodeNetwork } from '../../../api/types/nodenetwork.ts';
import { isAlreadyExists, isNotFound, type KubeClient, type KubeObject, type ResourceRef } from '../../../kube/index.ts';
import { bgpPasswordSecret, names } from '../../../api/effective-config.ts';

export const GROUP = 'network.weft.dev';
export const VERSION = 'v1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const resources = {
  nodeNetworks: { group: GROUP, version: VERSION, plural: 'nodenetworks' } satisfies ResourceRef,
  ipamBlocks: { group: GROUP, version: VERSION, plural: 'ipamblocks' } satisfies ResourceRef,
  pods: (node: string): ResourceRef => ({ version: 'v1', plural: 'pods', fieldSelector: `spec.nodeName=${node}` }),
  node: (node: string): ResourceRef => ({ version: 'v1', plural: 'nodes', fieldSelector: `metadata.name=${node}` }),
};

export type NodeNetworkObject = NodeNetwork & KubeObject;
export type IPAMBlockObject = IPAMBlock & KubeObject;
export type PodObject = V1Pod & KubeObject;
export type NodeObject = V1Node & KubeObject;

export function nodeOwnerReference(node: { metadata?: { name?: string; uid?: string } }) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    name: node.metadata!.name!,
    uid: node.metadata!.uid!,
    // Not a controller: the Node does not manage these objects, it only scopes their lifetime.
    blockOwnerDeletion: false,
  };
}

const base = `/apis/${GROUP}/${VERSION}`;

export class AgentApi {
  constructor(readonly client: KubeClient, private readonly onError: (verb: string, err: unknown) => void = () => {}) {}

  private async call<T>(verb: string, path: string, method: string, body?: unknown, contentType?: string): Promise<T> {
    try {
      return await this.client.request<T>(path, { verb, method, ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}) });
    } catch (e) {
      // AlreadyExists and NotFound are answers, not failures.
      if (!(isNotFound(e) || isAlreadyExists(e))) this.onError(verb, e);
      throw e;
    }
  }

  getNode(name: string): Promise<NodeObject> {
    return this.call('get', `/api/v1/nodes/${encodeURIComponent(name)}`, 'GET');
  }

  /** The BGP password Secret (api bgpPasswordSecret), the one Secret the agent may read (by name). */
  getBgpPasswordSecret(): Promise<{ data?: Record<string, string> }> {
    return this.call('get', `/api/v1/namespaces/${names.namespace}/secrets/${bgpPasswordSecret}`, 'GET');
  }

  getNodeNetwork(name: string): Promise<NodeNetworkObject> {
    return this.call('get', `${base}/nodenetworks/${encodeURIComponent(name)}`, 'GET');
  }

  createNodeNetwork(obj: NodeNetworkObject): Promise<NodeNetworkObject> {
    return this.call('create', `${base}/nodenetworks`, 'POST', obj);
  }

  patchNodeNetworkStatus(name: string, patch: unknown): Promise<NodeNetworkObject> {
    return this.call('patch', `${base}/nodenetworks/${encodeURIComponent(name)}/status`, 'PATCH', patch, 'application/merge-patch+json');
  }

  createIPAMBlock(obj: IPAMBlockObject): Promise<IPAMBlockObject> {
    return this.call('create', `${base}/ipamblocks`, 'POST', obj);
  }

  patchIPAMBlockStatus(name: string, patch: unknown): Promise<IPAMBlockObject> {
    return this.call('patch', `${base}/ipamblocks/${encodeURIComponent(name)}/status`, 'PATCH', patch, 'application/merge-patch+json');
  }

  deleteIPAMBlock(name: string, uid: string): Promise<unknown> {
    // The precondition makes sure we delete the block we judged, not a re-created one.
    return this.call('delete', `${base}/ipamblocks/${encodeURIComponent(name)}`, 'DELETE', { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid } });
  }
}
