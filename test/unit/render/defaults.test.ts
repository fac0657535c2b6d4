// render/defaults.ts mirrors the schema's defaults by hand (render does no I/O, so it cannot read
// the schema); this test fails when the two drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { descriptorFor, resolvedSchema } from '../../../api/descriptor.ts';
import type { Installation } from '../../../api/index.ts';
import { normalizeSpec } from '../../../render/defaults.ts';

function withSchemaDefaults(obj: Installation): Installation {
  const ajv = new Ajv({ useDefaults: true, strict: false, validateFormats: false });
  const copy = structuredClone(obj);
  ajv.validate(resolvedSchema(descriptorFor('Installation')), copy);
  return copy;
}

const sparse: Installation[] = [
  { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default' }, spec: {} },
  {
    apiVersion: 'operator.weft.dev/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    spec: {
      network: {
        bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000 }] },
        ipPools: [{ name: 'v4', cidr: '10.244.0.0/16' }, { name: 'v6', cidr: 'fd00:244::/56' }],
      },
      cni: {},
      nodeAgent: {},
    },
  },
];

for (const [i, obj] of sparse.entries()) {
  test(`render's defaults equal the schema's defaults (case ${i})`, () => {
    const schemaDefaulted = withSchemaDefaults(obj);
    assert.notDeepEqual(schemaDefaulted, obj, 'the schema should have filled in something');
    assert.deepEqual(normalizeSpec(obj), normalizeSpec(schemaDefaulted));
  });
}
