// The operator's informer transforms (operator/cache-transforms.ts, issue 23): the cache holds
// less, and every reader of it decides exactly as it would on the objects the API server sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotations, type NodeNetwork } from '../../../api/index.ts';
import { agentPodTransform, nodeNetworkTransform, nodeTransform, operatorInformerTransform } from '../../../operator/cache-transforms.ts';
import { buildFacts, nodeNetworkProjection, nodeProjection } from '../../../operator/controllers/facts.ts';
import { dropManagedFields, type KubeObject } from '../../../kube/index.ts';
import { fakeNode } from '../../support/kwok.ts';

const managedFields = [{ manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {} } }, 'f:images': {} } } }];

function liveNode(i: number): KubeObject {
  const n = structuredClone(fakeNode(`node-${i}`, { labels: { zone: i % 2 ? 'a' : 'b' } })) as unknown as KubeObject & { spec: Record<string, unknown>; status: Record<string, unknown> };
  Object.assign(n.metadata!, { uid: `uid-${i}`, resourceVersion: String(100 + i), creationTimestamp: '2026-01-01T00:00:00Z', managedFields });
  n.spec.unschedulable = i === 3;
  n.status = {
    ...n.status,
    conditions: [
      { type: 'Ready', status: i === 4 ? 'False' : 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' },
      { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'ok', lastHeartbeatTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ],
    addresses: [{ type: 'InternalIP', address: `198.18.0.${i + 1}` }, { type: 'Hostname', address: `node-${i}` }],
    images: Array.from({ length: 20 }, (_, k) => ({ names: [`registry.example/image-${k}@sha256:${'a'.repeat(64)}`], sizeBytes: 1e8 })),
    nodeInfo: { machineID: 'm', systemUUID: 's', bootID: 'b', kernelVersion: '6.18', osImage: 'x', containerRuntimeVersion: 'c', kubeletVersion: 'v1.35.4', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' },
  };
  return n;
}

function liveNodeNetwork(i: number): NodeNetwork & KubeObject {
  return {
    apiVersion: 'network.weft.dev/v1',
    kind: 'NodeNetwork',
    metadata: { name: `node-${i}`, uid: `nn-${i}`, resourceVersion: String(500 + i), annotations: { [annotations.configGrant]: 'h' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: `node-${i}`, uid: `uid-${i}` }], managedFields } as KubeObject['metadata'],
    spec: { nodeName: `node-${i}` },
    status: {
      address: `198.18.0.${i + 1}/24`, mtu: 1500, configHash: 'h', podUID: `pod-${i}`,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      blocks: [{ cidr: `10.244.${i}.0/26`, pool: 'default', allocated: 3, capacity: 61 }],
      kernel: { routes: 10, lastSyncChanges: 0, sysctls: { 'net.ipv4.ip_forward': '1' } },
      ipam: { allocated: 3, capacity: 61, leaked: 0, released: 0 },
      cni: { conflist: '/etc/cni/net.d/10-weft.conflist', written: true },
    },
  } as NodeNetwork & KubeObject;
}

const size = (o: unknown) => JSON.stringify(o).length;

test('facts, projections and the rollout\'s node fields are the same from the transformed cache', () => {
  const nodes = Array.from({ length: 6 }, (_, i) => liveNode(i));
  const nns = Array.from({ length: 6 }, (_, i) => liveNodeNetwork(i));
  const tNodes = nodes.map((n) => nodeTransform(structuredClone(n)));
  const tNns = nns.map((n) => nodeNetworkTransform(structuredClone(n)) as NodeNetwork & KubeObject);
  assert.deepEqual(buildFacts(tNodes, tNns), buildFacts(nodes, nns));
  for (let i = 0; i < nodes.length; i++) {
    assert.equal(nodeProjection(tNodes[i]!), nodeProjection(nodes[i]!));
    assert.equal(nodeNetworkProjection(tNns[i]!), nodeNetworkProjection(nns[i]!));
    const t = tNodes[i] as KubeObject & { spec: { unschedulable?: boolean }; status: { conditions: { type: string; status: string }[] } };
    const o = nodes[i] as typeof t;
    assert.equal(t.spec.unschedulable, o.spec.unschedulable);
    assert.deepEqual(t.status.conditions.find((c) => c.type === 'Ready')?.status, o.status.conditions.find((c) => c.type === 'Ready')?.status);
    assert.deepEqual([t.metadata?.name, t.metadata?.uid, t.metadata?.resourceVersion, t.metadata?.labels], [o.metadata?.name, o.metadata?.uid, o.metadata?.resourceVersion, o.metadata?.labels]);
    // What the rollout, cluster checks and the uninstall handshake read of a NodeNetwork.
    const tn = tNns[i]!;
    assert.deepEqual([tn.metadata?.annotations, tn.metadata?.ownerReferences, tn.status?.blocks, tn.status?.conditions, tn.status?.podUID], [nns[i]!.metadata?.annotations, nns[i]!.metadata?.ownerReferences, nns[i]!.status?.blocks, nns[i]!.status?.conditions, nns[i]!.status?.podUID]);
    assert.equal(tn.metadata && 'managedFields' in tn.metadata, false);
  }
  const before = nodes.reduce((a, n) => a + size(n), 0);
  const after = tNodes.reduce((a, n) => a + size(n), 0);
  assert.ok(after * 3 < before, `a cached Node is a fraction of the API's: ${after} of ${before} bytes`);
});

test('an agent pod keeps what the rollout reads: uid, spec hash, node, phase, creation and deletion', () => {
  const pod: KubeObject = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'weft-node-abcde', namespace: 'weft-system', uid: 'u1', resourceVersion: '7', creationTimestamp: '2026-01-01T00:00:00Z', deletionTimestamp: '2026-01-01T00:01:00Z', deletionGracePeriodSeconds: 30, labels: { 'app.kubernetes.io/name': 'weft-node' }, annotations: { [annotations.specHash]: 'abc', 'other.example/x': 'y' }, managedFields } as KubeObject['metadata'],
    spec: { nodeName: 'node-1', containers: [{ name: 'agent', image: 'x', env: [{ name: 'A', value: 'b' }] }], volumes: [{ name: 'v', hostPath: { path: '/x' } }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'agent', ready: true }] },
  } as KubeObject;
  const t = agentPodTransform(structuredClone(pod)) as KubeObject & { spec: Record<string, unknown>; status: Record<string, unknown>; metadata: Record<string, unknown> };
  assert.deepEqual(t.spec, { nodeName: 'node-1' });
  assert.deepEqual(t.status, { phase: 'Running' });
  assert.deepEqual(t.metadata.annotations, { [annotations.specHash]: 'abc' });
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels']) assert.deepEqual(t.metadata[k], (pod.metadata as Record<string, unknown>)[k], k);
  assert.equal('managedFields' in t.metadata, false);
});

test('the policy: Nodes, agent pods and NodeNetworks reshaped; everything else loses managedFields only', () => {
  assert.equal(operatorInformerTransform({ version: 'v1', plural: 'nodes' }), nodeTransform);
  assert.equal(operatorInformerTransform({ version: 'v1', plural: 'pods', namespace: 'weft-system' }), agentPodTransform);
  assert.equal(operatorInformerTransform({ group: 'network.weft.dev', version: 'v1', plural: 'nodenetworks' }), nodeNetworkTransform);
  assert.equal(operatorInformerTransform({ group: 'apps', version: 'v1', plural: 'daemonsets' }), dropManagedFields);
  const ds = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd', managedFields }, spec: { template: {} } } as KubeObject;
  assert.deepEqual(dropManagedFields(structuredClone(ds)), { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd' }, spec: { template: {} } });
});
