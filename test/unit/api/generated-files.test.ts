import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDescriptors } from '../../../api/descriptor.ts';
import { crdFileName, renderCrd, renderTypes, typesFileName } from '../../../hack/codegen.ts';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '../../..');

for (const d of loadDescriptors()) {
  test(`crds/${crdFileName(d)} is up to date with api/schemas (run npm run generate)`, () => {
    const path = join(root, 'crds', crdFileName(d));
    assert.ok(existsSync(path), `${path} is missing: run npm run generate`);
    assert.equal(readFileSync(path, 'utf8'), renderCrd(d), `${path} is stale: run npm run generate`);
    const copy = join(root, 'config/crd', crdFileName(d));
    assert.equal(readFileSync(copy, 'utf8'), renderCrd(d), `${copy} is stale: run npm run generate`);
  });
  test(`api/types/${typesFileName(d)} is up to date with api/schemas (run npm run generate)`, async () => {
    const path = join(root, 'api/types', typesFileName(d));
    assert.ok(existsSync(path), `${path} is missing: run npm run generate`);
    assert.equal(readFileSync(path, 'utf8'), await renderTypes(d), `${path} is stale: run npm run generate`);
  });
}

test('a schema change makes the generated CRD differ (the staleness check can fail)', () => {
  const [d] = loadDescriptors();
  const changed = structuredClone(d!);
  (changed.schema as any).description = 'changed';
  assert.notEqual(renderCrd(changed), renderCrd(d!));
});

test('CRDs are structural: no $ref, no $defs, every property typed or int-or-string', () => {
  for (const d of loadDescriptors()) {
    const crd = parse(readFileSync(join(root, 'crds', crdFileName(d)), 'utf8'));
    const schema = crd.spec.versions[0].schema.openAPIV3Schema;
    const text = JSON.stringify(schema);
    assert.ok(!text.includes('$ref') && !text.includes('$defs'), `${d.kind}: CRD schema must be inlined`);
    const check = (node: any, path: string) => {
      if (!node || typeof node !== 'object') return;
      if (path !== '' && node.type === undefined && node['x-kubernetes-int-or-string'] !== true) {
        assert.fail(`${d.kind}: ${path} has no type`);
      }
      for (const [k, v] of Object.entries(node.properties ?? {})) check(v, `${path}.${k}`);
      if (node.items) check(node.items, `${path}[]`);
      if (typeof node.additionalProperties === 'object') check(node.additionalProperties, `${path}{}`);
    };
    check(schema, '');
    assert.ok(crd.spec.versions[0].subresources.status, `${d.kind}: status subresource`);
  }
});

test('the Installation CRD has the Ready, MTU, Encapsulation and Age printer columns', () => {
  const crd = parse(readFileSync(join(root, 'crds/installations.operator.weft.dev.yaml'), 'utf8'));
  const cols = crd.spec.versions[0].additionalPrinterColumns.map((c: any) => c.name);
  for (const c of ['Ready', 'MTU', 'Encapsulation', 'Age']) assert.ok(cols.includes(c), c);
  assert.equal(crd.spec.scope, 'Cluster');
});
