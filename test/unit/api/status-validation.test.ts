// Issue 16: every NodeNetwork / IPAMBlock field that reaches another node's kernel or a file
// path is typed in the CRD (pattern, maxLength, CEL), and IPAMBlock.spec.node is immutable.
// `weft validate` runs the same schema and CEL as the API server (test/integration/
// validation-parity.test.ts holds the parity; test/integration/node-write-rights.test.ts runs
// these on the real server).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validatorFor } from '../../../api/validation/validate.ts';

type Obj = Record<string, any>;
const nn = (status: Obj, name = 'node-a'): Obj => ({ apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name }, spec: { nodeName: name }, status });
const block = (spec: Obj = {}): Obj => ({
  apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock', metadata: { name: '10-244-3-0-26' },
  spec: { cidr: '10.244.3.0/26', pool: 'default', node: 'node-a', ...spec },
});
const paths = (kind: string, obj: Obj, old?: Obj) => validatorFor(kind).validate(obj, old).map((p) => p.path);

const GOOD = { address: '198.18.0.10/24', interface: 'eth0', vtep: { mac: '0e:57:c6:12:00:0a', ip: '10.244.3.0' }, blocks: [{ cidr: '10.244.3.0/26', pool: 'default' }] };

describe('NodeNetwork status and IPAMBlock spec are typed', () => {
  test('a well-formed status is accepted', () => {
    assert.deepEqual(paths('NodeNetwork', nn(GOOD)), []);
  });

  const hostile: [string, Obj, string][] = [
    ['MAC with a newline and a command', { vtep: { mac: '0e:57:c6:12:00:0b\nroute replace default via 198.18.0.66' } }, 'status.vtep.mac'],
    ['MAC too long', { vtep: { mac: '0e:57:c6:12:00:0b:00' } }, 'status.vtep.mac'],
    ['VTEP ip not an address', { vtep: { ip: '10.244.3.0 dev eth0' } }, 'status.vtep.ip'],
    ['address with a space', { address: '198.18.0.10/24 dev eth0' }, 'status.address'],
    ['address not CIDR', { address: '198.18.0.10' }, 'status.address'],
    ['address out of range', { address: '298.18.0.10/24' }, 'status.address'],
    ['interface with a space', { interface: 'eth0 mtu 68' }, 'status.interface'],
    ['interface longer than IFNAMSIZ', { interface: 'a'.repeat(16) }, 'status.interface'],
    ['block cidr not a CIDR', { blocks: [{ cidr: '10.244.3.0/26;', pool: 'default' }] }, 'status.blocks[0].cidr'],
    ['block pool not a DNS label', { blocks: [{ cidr: '10.244.3.0/26', pool: '../x' }] }, 'status.blocks[0].pool'],
    ['huge configHash', { configHash: 'x'.repeat(10_000) }, 'status.configHash'],
  ];
  for (const [what, status, path] of hostile) {
    test(`rejected: ${what}`, () => {
      assert.ok(paths('NodeNetwork', nn({ ...GOOD, ...status })).includes(path), JSON.stringify(paths('NodeNetwork', nn({ ...GOOD, ...status }))));
    });
  }

  test('IPAMBlock.spec.node is immutable; pool and node are names', () => {
    assert.deepEqual(paths('IPAMBlock', block(), block()), []);
    assert.ok(paths('IPAMBlock', block({ node: 'node-b' }), block()).includes('spec'));
    assert.ok(paths('IPAMBlock', block({ node: 'node a' })).includes('spec.node'));
    assert.ok(paths('IPAMBlock', block({ pool: 'Default!' })).includes('spec.pool'));
  });
});
