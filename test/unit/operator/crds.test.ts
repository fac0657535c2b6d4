// CRD revisions at operator start: apply newer or missing, repair edited, refuse newer (downgrade).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrdDowngradeError, crdRevision, loadCrds, planCrds, type CrdDocument } from '../../../operator/crds.ts';
import type { KubeObject } from '../../../kube/index.ts';

const embedded = loadCrds();
const withRevision = (c: CrdDocument, rev: number): KubeObject => ({ ...structuredClone(c), metadata: { ...c.metadata, annotations: { ...c.metadata.annotations, 'weft.dev/crd-revision': String(rev) } } });

test('the operator embeds every CRD with a revision', () => {
  assert.deepEqual(embedded.map((c) => c.metadata.name), ['installations.operator.weft.dev', 'ipamblocks.network.weft.dev', 'nodenetworks.network.weft.dev']);
  for (const c of embedded) assert.ok(crdRevision(c) >= 1, `${c.metadata.name} has no weft.dev/crd-revision`);
});

test('missing CRDs are created, older ones upgraded, equal ones left alone unless edited', () => {
  const [a, b, c] = embedded as [CrdDocument, CrdDocument, CrdDocument];
  const rev = crdRevision(a);
  const live = new Map<string, KubeObject>([
    [b.metadata.name, withRevision(b, crdRevision(b) - 1)],
    [c.metadata.name, { ...structuredClone(c), status: { conditions: [] } }],
  ]);
  assert.deepEqual(planCrds(embedded, live, 'v').map((p) => [p.name, p.action]), [
    [a.metadata.name, 'create'],
    [b.metadata.name, 'upgrade'],
    [c.metadata.name, 'unchanged'],
  ]);
  const edited = structuredClone(c) as KubeObject & { spec: { names: { shortNames: string[] } } };
  edited.spec.names.shortNames = ['hand-edited'];
  live.set(c.metadata.name, edited);
  assert.equal(planCrds(embedded, live, 'v').find((p) => p.name === c.metadata.name)?.action, 'repair');
  assert.ok(rev >= 1);
});

test('a newer CRD in the cluster makes the operator refuse to run, saying what to do', () => {
  const [a] = embedded as [CrdDocument];
  const live = new Map<string, KubeObject>([[a.metadata.name, withRevision(a, crdRevision(a) + 1)]]);
  assert.throws(() => planCrds(embedded, live, '0.1.0'), (e: Error) => {
    assert.ok(e instanceof CrdDowngradeError);
    assert.match(e.message, /refusing to run/);
    assert.match(e.message, new RegExp(`${a.metadata.name.replace(/\./g, '\\.')} \\(cluster revision ${crdRevision(a) + 1}, this operator knows ${crdRevision(a)}\\)`));
    assert.match(e.message, /operator 0\.1\.0/);
    assert.match(e.message, /Run an operator release that ships these CRD revisions/);
    return true;
  });
});
