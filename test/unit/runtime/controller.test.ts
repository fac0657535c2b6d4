import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generationChanged, ownerKeys, labelKey, selfKey } from '../../../operator/runtime/controller.ts';
import type { KubeObject } from '../../../operator/runtime/client.ts';

const o = (gen: number | undefined, extra: KubeObject['metadata'] = {}): KubeObject => ({ metadata: { name: 'x', namespace: 'ns', generation: gen, ...extra } });

describe('event filters and maps', () => {
  test('generationChanged drops status-only updates, passes spec changes, adds, deletes, resyncs', () => {
    assert.equal(generationChanged({ type: 'update', obj: o(1), old: o(1) }), false);
    assert.equal(generationChanged({ type: 'update', obj: o(2), old: o(1) }), true);
    assert.equal(generationChanged({ type: 'add', obj: o(1) }), true);
    assert.equal(generationChanged({ type: 'delete', obj: o(1) }), true);
    assert.equal(generationChanged({ type: 'resync', obj: o(1) }), true);
  });

  test('ownerKeys maps to owners of a kind, namespaced or cluster-scoped', () => {
    const child = o(1, {
      ownerReferences: [
        { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', name: 'default', uid: '1', controller: true },
        { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: '2' },
      ],
    });
    const ev = { type: 'add' as const, obj: child };
    assert.deepEqual(ownerKeys('Installation', { clusterScoped: true })(child, ev), ['default']);
    assert.deepEqual(ownerKeys('Installation')(child, ev), ['ns/default']);
    assert.deepEqual(ownerKeys('Node', { controllerOnly: true })(child, ev), []);
    assert.equal(labelKey('weft.dev/installation')(o(1, { labels: { 'weft.dev/installation': 'default' } }), ev), 'default');
    assert.equal(selfKey(child, ev), 'ns/x');
  });
});
