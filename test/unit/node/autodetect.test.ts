// Underlay autodetection on `ip -json -d addr show` captured from a namespace holding the
// interfaces a real node has next to its NIC: docker0, cni0, a pod veth, a bridge port, a down
// NIC, a host bridge br0 and Weft's own VXLAN device.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AutodetectionError, selectUnderlay } from '../../../components/node/detect/autodetect.ts';
import { parseIpAddr, parseRouteGet } from '../../../components/node/detect/ip-json.ts';

const fixture = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8');
const interfaces = parseIpAddr(fixture('ip-addr.json'));

describe('underlay autodetection', () => {
  test('parses names, kinds, masters, MTUs and addresses', () => {
    const eth0 = interfaces.find((i) => i.name === 'eth0')!;
    assert.equal(eth0.kind, 'veth');
    assert.equal(eth0.mtu, 1500);
    assert.deepEqual(eth0.addresses.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['198.18.0.11/24']);
    assert.equal(interfaces.find((i) => i.name === 'ethx')!.master, 'br0');
  });

  test('firstFound skips loopback, docker0, cni0, pod veths, bridge ports, down NICs and weft devices', () => {
    const u = selectUnderlay({ firstFound: true }, { interfaces, family: 4 });
    assert.deepEqual(u, { interface: 'eth0', address: '198.18.0.11', prefixLength: 24, cidr: '198.18.0.11/24', subnet: '198.18.0.0/24', mtu: 1500, method: 'firstFound' });
  });

  test('firstFound with no usable interface says what it saw', () => {
    const only = interfaces.filter((i) => ['lo', 'docker0', 'cni0', 'weft.vxlan', 'eth1'].includes(i.name));
    assert.throws(() => selectUnderlay({ firstFound: true }, { interfaces: only, family: 4 }), (e: Error) =>
      e instanceof AutodetectionError && /docker0 172\.17\.0\.1\/16/.test(e.message) && /eth1 198\.19\.5\.5\/24 \(down\)/.test(e.message));
  });

  test('a host bridge that holds the address (br0) is a legitimate underlay', () => {
    const u = selectUnderlay({ interface: '^br0$' }, { interfaces, family: 4 });
    assert.equal(u.interface, 'br0');
    assert.equal(u.cidr, '192.0.2.10/24');
    assert.equal(u.method, 'interface=^br0$');
  });

  test('skipInterface excludes by regex on top of the firstFound rules', () => {
    const u = selectUnderlay({ skipInterface: '^eth' }, { interfaces, family: 4 });
    assert.equal(u.interface, 'br0');
  });

  test('interface matching only a down NIC fails instead of picking it', () => {
    assert.throws(() => selectUnderlay({ interface: '^eth1$' }, { interfaces, family: 4 }), AutodetectionError);
  });

  test('a bad regex names the field', () => {
    assert.throws(() => selectUnderlay({ interface: '(' }, { interfaces, family: 4 }), /autodetection\.interface "\(" is not a valid regular expression/);
  });

  test('canReach follows the kernel route (gateway and on-link)', () => {
    for (const f of ['route-get-default.json', 'route-get-onlink.json']) {
      const u = selectUnderlay({ canReach: '8.8.8.8' }, { interfaces, family: 4, routeGet: parseRouteGet(fixture(f)) });
      assert.equal(u.interface, 'eth0');
      assert.equal(u.address, '198.18.0.11');
      assert.equal(u.method, 'canReach=8.8.8.8');
    }
    assert.throws(() => selectUnderlay({ canReach: '203.0.113.1' }, { interfaces, family: 4, routeGet: null }), /no route to 203\.0\.113\.1/);
  });

  test('cidrs picks the first address inside any of them', () => {
    assert.equal(selectUnderlay({ cidrs: ['192.0.2.0/24'] }, { interfaces, family: 4 }).interface, 'br0');
    assert.equal(selectUnderlay({ cidrs: ['10.0.0.0/8', '198.18.0.0/15'] }, { interfaces, family: 4 }).address, '198.18.0.11');
    assert.throws(() => selectUnderlay({ cidrs: ['203.0.113.0/24'] }, { interfaces, family: 4 }), /no interface has an address in 203\.0\.113\.0\/24/);
  });

  test('kubernetes NodeInternalIP finds the interface holding it', () => {
    const u = selectUnderlay({ kubernetes: 'NodeInternalIP' }, { interfaces, family: 4, nodeInternalIPs: ['fd00::11', '192.0.2.10'] });
    assert.equal(u.interface, 'br0');
    assert.equal(u.method, 'kubernetes=NodeInternalIP');
    assert.throws(() => selectUnderlay({ kubernetes: 'NodeInternalIP' }, { interfaces, family: 4, nodeInternalIPs: ['203.0.113.9'] }), /no interface holds the Node's InternalIP 203\.0\.113\.9/);
    assert.throws(() => selectUnderlay({ kubernetes: 'NodeInternalIP' }, { interfaces, family: 4, nodeInternalIPs: [] }), /no IPv4 InternalIP/);
  });

  test('IPv6 firstFound takes a global address, never link-local', () => {
    const u = selectUnderlay({ firstFound: true }, { interfaces, family: 6 });
    assert.equal(u.interface, 'eth0');
    assert.equal(u.cidr, 'fd00::11/64');
  });
});

// Captured from a namespace whose eth0 lists a keepalived-style 192.0.2.100/32 before the node's
// 192.0.2.11/24 (and 2001:db8::100/128 next to 2001:db8::11/64): issue 21, item 5.
describe('a floating virtual address next to the node\'s own', () => {
  const floating = parseIpAddr(fixture('ip-addr-floating.json'));

  test('cidrs never picks the /32 when the interface has a wider address', () => {
    const u = selectUnderlay({ cidrs: ['192.0.2.0/24'] }, { interfaces: floating, family: 4 });
    assert.equal(u.cidr, '192.0.2.11/24');
  });

  test('firstFound and interface skip it too; IPv6 skips the /128', () => {
    assert.equal(selectUnderlay({ firstFound: true }, { interfaces: floating, family: 4 }).cidr, '192.0.2.11/24');
    assert.equal(selectUnderlay({ interface: '^eth0$' }, { interfaces: floating, family: 4 }).cidr, '192.0.2.11/24');
    assert.equal(selectUnderlay({ cidrs: ['2001:db8::/32'] }, { interfaces: floating, family: 6 }).cidr, '2001:db8::11/64');
  });

  test('a host address that is the only one of its family is still used (a /32 point-to-point uplink)', () => {
    const only = floating.map((i) => ({ ...i, addresses: i.addresses.filter((a) => a.local !== '192.0.2.11') }));
    assert.equal(selectUnderlay({ cidrs: ['192.0.2.0/24'] }, { interfaces: only, family: 4 }).cidr, '192.0.2.100/32');
  });
});
