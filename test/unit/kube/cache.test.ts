import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Store, objectKey, splitKey, byNamespace, byOwner, byOwnerUid, byLabel, byNodeName } from '../../../kube/cache.ts';
import type { KubeObject } from '../../../kube/client.ts';

function obj(ns: string | undefined, name: string, extra: Partial<KubeObject> & { labels?: Record<string, string>; owners?: Array<[string, string, string]> } = {}): KubeObject {
  const { labels, owners, ...rest } = extra;
  return {
    metadata: {
      name,
      namespace: ns,
      resourceVersion: '1',
      labels,
      ownerReferences: owners?.map(([kind, n, uid]) => ({ apiVersion: 'v1', kind, name: n, uid })),
    },
    ...rest,
  };
}

const names = (xs: KubeObject[]) => xs.map((o) => o.metadata!.name).sort();

describe('Store', () => {
  test('keys are namespace/name, or name when cluster-scoped', () => {
    assert.equal(objectKey(obj('kube-system', 'a')), 'kube-system/a');
    assert.equal(objectKey(obj(undefined, 'node-1')), 'node-1');
    assert.deepEqual(splitKey('ns/x'), { namespace: 'ns', name: 'x' });
    assert.deepEqual(splitKey('x'), { name: 'x' });
    assert.throws(() => objectKey({ kind: 'Pod', metadata: {} }), /no metadata\.name/);
  });

  test('get, getByName, list, delete', () => {
    const s = new Store();
    s.upsert(obj('a', 'x'));
    s.upsert(obj(undefined, 'y'));
    assert.equal(s.get('a/x')?.metadata?.name, 'x');
    assert.equal(s.getByName('a', 'x')?.metadata?.name, 'x');
    assert.equal(s.getByName(undefined, 'y')?.metadata?.name, 'y');
    assert.equal(s.size, 2);
    assert.equal(s.delete('a/x')?.metadata?.name, 'x');
    assert.equal(s.delete('a/x'), undefined);
    assert.deepEqual(names(s.list()), ['y']);
  });

  test('indexes by namespace, owner, owner uid, label and node follow updates and deletes', () => {
    const s = new Store({ ns: byNamespace, owner: byOwner, ownerUid: byOwnerUid, inst: byLabel('weft.dev/installation'), node: byNodeName });
    s.upsert(obj('n1', 'pod-a', { spec: { nodeName: 'node-1' } }));
    s.upsert(obj('n1', 'pod-b', { spec: { nodeName: 'node-2' } }));
    s.upsert(obj(undefined, '10.0.0.0-26', { owners: [['Node', 'node-1', 'u1']] }));
    s.upsert(obj(undefined, 'node-2', { kind: 'Node' }));
    s.upsert(obj('weft-system', 'ds', { labels: { 'weft.dev/installation': 'default' }, owners: [['Installation', 'default', 'i1']] }));

    assert.deepEqual(names(s.byIndex('ns', 'n1')), ['pod-a', 'pod-b']);
    assert.deepEqual(names(s.byIndex('node', 'node-1')), ['10.0.0.0-26', 'pod-a']);
    assert.deepEqual(names(s.byIndex('node', 'node-2')), ['node-2', 'pod-b']);
    assert.deepEqual(names(s.byIndex('owner', 'Installation/default')), ['ds']);
    assert.deepEqual(names(s.byIndex('ownerUid', 'u1')), ['10.0.0.0-26']);
    assert.deepEqual(names(s.byIndex('inst', 'default')), ['ds']);

    // A pod moving nodes leaves its old index entry.
    s.upsert(obj('n1', 'pod-a', { spec: { nodeName: 'node-2' } }));
    assert.deepEqual(names(s.byIndex('node', 'node-1')), ['10.0.0.0-26']);
    assert.deepEqual(names(s.byIndex('node', 'node-2')), ['node-2', 'pod-a', 'pod-b']);

    // Label removed: gone from the label index; deleted: gone from every index.
    s.upsert(obj('weft-system', 'ds', { owners: [['Installation', 'default', 'i1']] }));
    assert.deepEqual(s.byIndex('inst', 'default'), []);
    s.delete('weft-system/ds');
    assert.deepEqual(s.byIndex('owner', 'Installation/default'), []);
    assert.ok(!s.indexValues('owner').includes('Installation/default'));
    assert.deepEqual(s.byIndex('ns', 'nope'), []);
  });

  test('an index added later covers objects already stored; unknown index names are an error', () => {
    const s = new Store();
    s.upsert(obj('a', 'x'));
    s.addIndex('ns', byNamespace);
    assert.deepEqual(names(s.byIndex('ns', 'a')), ['x']);
    assert.throws(() => s.byIndex('missing', 'a'), /no index named missing/);
    assert.throws(() => s.addIndex('ns', byNamespace), /already exists/);
  });
});
