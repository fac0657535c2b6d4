// The "desired is contained in live" check behind the zero-write steady state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentHash, findMismatch, parseQuantity } from '../../../operator/apply/compare.ts';
import { canonicalJson } from '../../../kube/json.ts';
import { Applier, APPLIED_HASH_ANNOTATION, withAppliedHash, type DesiredObject } from '../../../operator/apply/applier.ts';
import { KubeClient } from '../../../kube/index.ts';
import { KubeConfig } from '@kubernetes/client-node';

test('fields the API server defaults or adds do not count as drift', () => {
  const desired = { spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } };
  const live = { spec: { revisionHistoryLimit: 10, template: { spec: { restartPolicy: 'Always', containers: [{ name: 'a', image: 'x', terminationMessagePath: '/dev/termination-log' }] } } } };
  assert.equal(findMismatch(desired, live), undefined);
});

test('zero values the server omits match a missing field', () => {
  assert.equal(findMismatch({ a: { emptyDir: {} }, b: [], c: false, d: '', e: 0, f: { labels: {} } }, { a: { emptyDir: {} } }), undefined);
  assert.equal(findMismatch({ emptyDir: {} }, {}), undefined);
  assert.ok(findMismatch({ a: true }, {}));
});

test('quantities compare by value under resources, and only there', () => {
  assert.equal(parseQuantity('500m'), 0.5);
  assert.equal(parseQuantity('1Gi'), 2 ** 30);
  assert.equal(parseQuantity('1e3'), 1000);
  assert.equal(parseQuantity('abc'), undefined);
  assert.equal(findMismatch({ resources: { limits: { cpu: '0.5', memory: '1024Mi' } } }, { resources: { limits: { cpu: '500m', memory: '1Gi' } } }), undefined);
  assert.ok(findMismatch({ resources: { limits: { cpu: '1' } } }, { resources: { limits: { cpu: '500m' } } }));
  assert.ok(findMismatch({ data: { x: '0.5' } }, { data: { x: '500m' } }), 'ConfigMap data is not a quantity');
});

test('keyed lists match elements by name; other managers\' extra elements are fine; hand edits are found with a path', () => {
  const desired = { env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] };
  assert.equal(findMismatch(desired, { env: [{ name: 'A', value: '1' }, { name: 'X', value: 'x' }, { name: 'B', value: '2' }] }), undefined);
  const m = findMismatch(desired, { env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }] });
  assert.deepEqual(m, { path: '.env[name=B].value', desired: '2', live: '3' });
  assert.ok(findMismatch(desired, { env: [{ name: 'A', value: '1' }] }), 'a removed element is drift');
});

test('atomic lists must match exactly', () => {
  assert.equal(findMismatch({ args: ['a', 'b'] }, { args: ['a', 'b'] }), undefined);
  assert.ok(findMismatch({ args: ['a', 'b'] }, { args: ['a', 'b', 'c'] }));
  assert.ok(findMismatch({ tolerations: [{ operator: 'Exists' }] }, { tolerations: [{ operator: 'Exists' }, { key: 'k', operator: 'Exists' }] }));
});

test('canonical JSON and the content hash do not depend on key order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), '{"a":{"c":2,"d":1},"b":1}');
  assert.equal(contentHash({ b: 1, a: 2 }), contentHash({ a: 2, b: 1 }));
  assert.notEqual(contentHash({ a: 1 }), contentHash({ a: 2 }));
});

test('the applier skips an object whose hash and content match, and applies on hash change, drift or absence', () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const a = new Applier({ client: new KubeClient(kc), fieldManager: 'weft-operator' });
  const desired: DesiredObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-config', namespace: 'weft-system', labels: { l: 'v' } }, data: { k: 'v' } };
  const { obj, hash } = withAppliedHash(desired);
  assert.equal(obj.metadata.annotations?.[APPLIED_HASH_ANNOTATION], hash);
  const live = { ...obj, metadata: { ...obj.metadata, resourceVersion: '5', uid: 'u', managedFields: [] } };
  assert.deepEqual(a.decide(desired, live), { action: 'skip' });
  assert.equal(a.decide(desired, undefined).action, 'apply');
  assert.deepEqual(a.decide({ ...desired, data: { k: 'w' } }, live), { action: 'apply', why: 'hash-changed' });
  const edited = { ...live, data: { k: 'hand-edited' } };
  const d = a.decide(desired, edited);
  assert.equal(d.action, 'apply');
  assert.equal(d.action === 'apply' && d.why, 'drift');
  assert.equal(d.action === 'apply' && d.mismatch?.path, '.data.k');
});
