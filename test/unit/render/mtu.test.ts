import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMtu, largestOverhead, type MtuPool } from '../../../render/mtu.ts';
import type { NodeFacts } from '../../../render/types.ts';

const pool = (encapsulation: MtuPool['encapsulation'], family: 4 | 6 = 4, name = 'p'): MtuPool => ({ name, family, encapsulation });
const node = (name: string, mtu?: number, address = '198.18.0.5/24'): NodeFacts => ({ name, address, ...(mtu ? { mtu } : {}) });

describe('decideMtu', () => {
  test('underlay 9000 + VXLAN -> 8950', () => {
    const d = decideMtu(0, [pool('VXLAN')], [node('a', 9000), node('b', 9000)]);
    assert.equal(d.mtu, 8950);
    assert.equal(d.reason, 'min node MTU 9000 - VXLAN 50 (nodes: a, b)');
  });
  test('underlay 1400 + IPIP -> 1380', () => assert.equal(decideMtu(0, [pool('IPIP')], [node('a', 1400)]).mtu, 1380));
  test('mixed 1500/9000 + VXLAN -> 1450, naming the node that sets it', () => {
    const d = decideMtu(0, [pool('VXLAN')], [node('big', 9000), node('small', 1500)]);
    assert.equal(d.mtu, 1450);
    assert.equal(d.reason, 'min node MTU 1500 - VXLAN 50 (nodes: small)');
  });
  test('a CrossSubnet mode pays the tunnel overhead', () => {
    assert.equal(decideMtu(0, [pool('VXLANCrossSubnet')], [node('a', 1500)]).mtu, 1450);
    assert.equal(decideMtu(0, [pool('IPIPCrossSubnet')], [node('a', 1500)]).mtu, 1480);
  });
  test('the largest overhead of all pools counts', () => {
    assert.deepEqual(largestOverhead([pool('None'), pool('IPIP'), pool('VXLAN'), pool('VXLANCrossSubnet')]), { mode: 'VXLAN', overhead: 50 });
    assert.equal(decideMtu(0, [pool('None'), pool('IPIP'), pool('VXLAN')], [node('a', 1500)]).mtu, 1450);
  });
  test('user-set mtu wins over autodetection', () => {
    const d = decideMtu(1400, [pool('VXLAN')], [node('a', 9000)]);
    assert.equal(d.mtu, 1400);
    assert.equal(d.reason, 'set in spec.network.mtu');
    assert.deepEqual(d.problems, []);
  });
  test('a user mtu the underlay cannot carry is reported', () => {
    const d = decideMtu(1500, [pool('VXLAN')], [node('a', 1500)]);
    assert.equal(d.mtu, 1500);
    assert.equal(d.problems[0]?.reason, 'MTUTooLarge');
    assert.match(d.problems[0]!.message, /Set spec\.network\.mtu: 1450/);
  });
  test('no facts: provisional defaults per mode', () => {
    for (const [mode, want] of [['VXLAN', 1450], ['IPIP', 1480], ['None', 1500]] as const) {
      const d = decideMtu(0, [pool(mode)], []);
      assert.equal(d.mtu, want);
      assert.match(d.reason, /^provisional: /);
    }
  });
  test('nodes that have not reported are ignored and listed', () => {
    const d = decideMtu(0, [pool('VXLAN')], [node('a', 1500), node('b')]);
    assert.equal(d.mtu, 1450);
    assert.match(d.reason, /not reported yet: b$/);
  });
  test('an IPv6 underlay adds 20 bytes to a tunnel', () => {
    const d = decideMtu(0, [pool('VXLAN')], [node('a', 1500, 'fd00:18::5/64')]);
    assert.equal(d.mtu, 1430);
    assert.equal(decideMtu(0, [pool('None')], [node('a', 1500, 'fd00:18::5/64')]).mtu, 1500);
  });
  test('too small for IPv6 pods is reported', () => {
    const d = decideMtu(0, [pool('VXLAN', 6)], [node('a', 1300)]);
    assert.equal(d.mtu, 1250);
    assert.equal(d.problems[0]?.reason, 'MTUTooSmall');
  });
  test('WireGuard adds 60 bytes over IPv4, 80 over IPv6, and wins over VXLAN\'s 50', () => {
    const d = decideMtu(0, [pool('VXLAN')], [node('a', 9000), node('b', 1500)], 'WireGuard');
    assert.equal(d.mtu, 1440);
    assert.match(d.reason, /^min node MTU 1500 - WireGuard encryption 60 \(nodes: b\)$/);
    assert.equal(decideMtu(0, [pool('None')], [node('a', 1500)], 'WireGuard').mtu, 1440);
    assert.equal(decideMtu(0, [pool('None')], [node('a', 1500, 'fd00:18::5/64')], 'WireGuard').mtu, 1420);
    assert.equal(decideMtu(0, [pool('None')], [], 'WireGuard').mtu, 1440, 'provisional: 1500 assumed');
    assert.equal(decideMtu(0, [pool('VXLAN')], [node('a', 1500)], 'Disabled').mtu, 1450);
    assert.deepEqual(largestOverhead([pool('IPIP'), pool('VXLAN')], 'WireGuard'), { mode: 'WireGuard', overhead: 60 });
  });
  test('a set MTU that leaves no room for WireGuard is reported', () => {
    const d = decideMtu(1450, [pool('VXLAN')], [node('a', 1500)], 'WireGuard');
    assert.equal(d.mtu, 1450);
    assert.equal(d.problems[0]?.reason, 'MTUTooLarge');
    assert.match(d.problems[0]!.message, /WireGuard encryption 60 \(nodes: a\) leaves 1440 for pods/);
  });
});
