import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dataplaneFor, decideEncapsulation } from '../../../render/encapsulation.ts';
import type { NormalizedPool } from '../../../render/defaults.ts';
import type { NodeFacts } from '../../../render/types.ts';

const pool = (encapsulation: NormalizedPool['encapsulation'], family: 4 | 6 = 4): NormalizedPool => ({
  index: 0, name: 'p', cidr: family === 4 ? '10.244.0.0/16' : 'fd00:244::/56', family, blockSize: 26, encapsulation, natOutgoing: true, nodeSelector: '', disableBGPExport: false,
});
const noBgp = { enabled: false, fullMesh: false };
const mesh = { enabled: true, fullMesh: true };
const n = (name: string, address?: string, addressV6?: string): NodeFacts => ({ name, ...(address ? { address } : {}), ...(addressV6 ? { addressV6 } : {}) });

describe('Auto encapsulation', () => {
  test('no facts: None, provisional, pointing at the ADR', () => {
    const d = decideEncapsulation(pool('Auto'), [], noBgp);
    assert.equal(d.encapsulation, 'None');
    assert.match(d.explain[0]!.reason, /provisional.*docs\/adr\//);
  });
  test('nodes without a reported address are ignored (no flip at first report)', () => {
    assert.equal(decideEncapsulation(pool('Auto'), [n('a'), n('b')], noBgp).encapsulation, 'None');
    assert.equal(decideEncapsulation(pool('Auto'), [n('a', '198.18.0.5/24'), n('b')], noBgp).encapsulation, 'None');
  });
  test('one subnet -> None (host-gw)', () => {
    const d = decideEncapsulation(pool('Auto'), [n('a', '198.18.0.5/24'), n('b', '198.18.0.6/24')], noBgp);
    assert.equal(d.encapsulation, 'None');
    assert.equal(d.dataplane, 'host-gw');
    assert.deepEqual(d.problems, []);
  });
  test('two subnets -> VXLANCrossSubnet, naming the subnets', () => {
    const d = decideEncapsulation(pool('Auto'), [n('a', '198.18.0.5/24'), n('b', '198.18.1.5/24')], noBgp);
    assert.equal(d.encapsulation, 'VXLANCrossSubnet');
    assert.equal(d.dataplane, 'vxlan-crosssubnet');
    assert.match(d.explain[0]!.reason, /198\.18\.0\.0\/24 \(a\); 198\.18\.1\.0\/24 \(b\)/);
  });
  test('different prefix lengths that still reach each other directly -> None', () => {
    assert.equal(decideEncapsulation(pool('Auto'), [n('a', '198.18.0.5/16'), n('b', '198.18.1.5/16')], noBgp).encapsulation, 'None');
    // b is in a's /16, but a is outside b's /24: b would route to a via its gateway.
    assert.equal(decideEncapsulation(pool('Auto'), [n('a', '198.18.0.5/16'), n('b', '198.18.1.5/24')], noBgp).encapsulation, 'VXLANCrossSubnet');
  });
  test('IPv6 pool uses the IPv6 underlay; without one it tunnels', () => {
    assert.equal(decideEncapsulation(pool('Auto', 6), [n('a', '198.18.0.5/24', 'fd00::5/64'), n('b', '198.18.1.5/24', 'fd00::6/64')], noBgp).encapsulation, 'None');
    assert.equal(decideEncapsulation(pool('Auto', 6), [n('a', '198.18.0.5/24'), n('b', '198.18.0.6/24')], noBgp).encapsulation, 'VXLAN');
  });
  test('Auto with BGP in one subnet -> bgp dataplane', () => {
    assert.equal(decideEncapsulation(pool('Auto'), [n('a', '198.18.0.5/24')], mesh).dataplane, 'bgp');
  });
});

describe('explicit modes', () => {
  test('dataplane mapping', () => {
    assert.equal(dataplaneFor('None', false), 'host-gw');
    assert.equal(dataplaneFor('None', true), 'bgp');
    assert.equal(dataplaneFor('VXLAN', true), 'vxlan');
    assert.equal(dataplaneFor('VXLANCrossSubnet', false), 'vxlan-crosssubnet');
    assert.equal(dataplaneFor('IPIP', false), 'ipip');
    assert.equal(dataplaneFor('IPIPCrossSubnet', false), 'ipip-crosssubnet');
  });
  test('explicit None is kept across subnets, with a Degraded problem saying what to change', () => {
    const d = decideEncapsulation(pool('None'), [n('a', '198.18.0.5/24'), n('b', '198.18.1.5/24')], noBgp);
    assert.equal(d.encapsulation, 'None');
    assert.equal(d.problems.length, 1);
    assert.equal(d.problems[0]!.reason, 'HostGatewayAcrossSubnets');
    assert.equal(d.problems[0]!.path, 'spec.network.ipPools[0].encapsulation');
    assert.match(d.problems[0]!.message, /198\.18\.0\.0\/24 \(a\); 198\.18\.1\.0\/24 \(b\).*VXLANCrossSubnet.*BGP/);
    assert.ok(d.explain.some((e) => e.warning));
  });
  test('None with BGP across subnets is not host-gw, but a full mesh there is reported', () => {
    const d = decideEncapsulation(pool('None'), [n('a', '198.18.0.5/24'), n('b', '198.18.1.5/24')], mesh);
    assert.equal(d.dataplane, 'bgp');
    assert.deepEqual(d.problems.map((p) => p.reason), ['BGPMeshAcrossSubnets']);
    assert.deepEqual(decideEncapsulation(pool('None'), [n('a', '198.18.0.5/24'), n('b', '198.18.1.5/24')], { enabled: true, fullMesh: false }).problems, []);
  });
});
