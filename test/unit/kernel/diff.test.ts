import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { vxlanBackend } from '../../../components/node/backends/vxlan.ts';
import { hostGwBackend } from '../../../components/node/backends/host-gw.ts';
import { diffKernel } from '../../../components/node/kernel/diff.ts';
import { planOps, type ObservedKernelState } from '../../../components/node/kernel/types.ts';
import { CFG, EMPTY, node, observedFrom, peers } from './helpers.ts';

const opts = { nftTable: 'weft' };

describe('level-triggered kernel diff', () => {
  test('from an empty kernel, vxlan programs link, address, per-peer FDB/neighbour/route, blackhole and nat', () => {
    const desired = vxlanBackend.desired(node(1), [node(2)], CFG);
    const plan = diffKernel(desired, EMPTY, opts);
    assert.deepEqual(plan.ip, [
      'link add weft.vxlan address 0e:57:c6:12:00:0b mtu 1450 type vxlan id 4097 local 198.18.0.11 dev eth0 dstport 4799 nolearning',
      'addr add 10.244.1.0/32 dev weft.vxlan',
      'link set weft.vxlan up',
      'neigh replace 10.244.2.0 lladdr 0e:57:c6:12:00:0c dev weft.vxlan nud permanent',
      'route replace blackhole 10.244.1.0/26 proto 87 table main',
      'route replace 10.244.2.0/26 via 10.244.2.0 dev weft.vxlan onlink proto 87 table main',
    ]);
    assert.deepEqual(plan.bridge, ['fdb replace 0e:57:c6:12:00:0c dev weft.vxlan dst 198.18.0.12 self permanent']);
    assert.match(plan.nft!, /^table inet weft\ndelete table inet weft\ntable inet weft \{/);
  });

  test('a kernel that already matches needs zero operations (property, any cluster size and mode)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(), (n, vx, nat) => {
      const cfg = { ...CFG, pools: [{ cidr: '10.244.0.0/16', natOutgoing: nat }] };
      const backend = vx ? vxlanBackend : hostGwBackend;
      const desired = backend.desired(node(1), peers(n + 1), cfg);
      const plan = diffKernel(desired, observedFrom(desired), opts);
      assert.equal(planOps(plan), 0, JSON.stringify(plan));
    }));
  });

  test('adding or removing one peer is O(1): the same few operations at 3 nodes and at 2000', () => {
    for (const n of [3, 2000]) {
      for (const backend of [vxlanBackend, hostGwBackend]) {
        const before = backend.desired(node(1), peers(n).filter((p) => p.name !== 'n2'), CFG);
        const after = backend.desired(node(1), peers(n), CFG);
        const add = diffKernel(after, observedFrom(before), opts);
        const del = diffKernel(before, observedFrom(after), opts);
        const expected = backend === vxlanBackend ? 3 : 1;
        assert.equal(planOps(add), expected, `${backend.name} add at ${n}: ${JSON.stringify(add)}`);
        assert.equal(planOps(del), expected, `${backend.name} del at ${n}: ${JSON.stringify(del)}`);
      }
    }
  });

  test('removal deletes by protocol and metric so only Weft routes can match', () => {
    const before = hostGwBackend.desired(node(1), peers(3), CFG);
    before.routes.push({ dst: '10.99.0.0/24', type: 'unicast', gateway: '198.18.0.99', dev: 'eth0', metric: 7 });
    const plan = diffKernel(hostGwBackend.desired(node(1), peers(3), CFG), observedFrom(before), opts);
    assert.deepEqual(plan.ip, ['route del 10.99.0.0/24 proto 87 metric 7 table main']);
  });

  test('a changed next hop is one atomic route replace, never delete + add', () => {
    const desired = hostGwBackend.desired(node(1), peers(3), CFG);
    const observed = observedFrom(desired);
    observed.routes[1] = { ...observed.routes[1]!, gateway: '198.18.0.99' };
    assert.deepEqual(diffKernel(desired, observed, opts).ip, [`route replace ${desired.routes[1]!.dst} via ${desired.routes[1]!.gateway} dev eth0 proto 87 table main`]);
  });

  test('mutable link attributes are set in place; immutable ones re-create the link and everything on it', () => {
    const desired = vxlanBackend.desired(node(1), peers(2), CFG);
    const mtuOnly = observedFrom(desired);
    mtuOnly.links[0] = { ...mtuOnly.links[0]!, mtu: 1400, up: false };
    assert.deepEqual(diffKernel(desired, mtuOnly, opts).ip, ['link set weft.vxlan mtu 1450 up']);

    const wrongVni: ObservedKernelState = observedFrom(desired);
    wrongVni.links[0] = { ...wrongVni.links[0]!, vxlan: { ...wrongVni.links[0]!.vxlan!, vni: 1 } };
    const plan = diffKernel(desired, wrongVni, opts);
    assert.equal(plan.ip[0], 'link del weft.vxlan');
    assert.ok(plan.ip.some((l) => l.startsWith('link add weft.vxlan')));
    assert.ok(plan.ip.some((l) => l.startsWith('neigh replace 10.244.2.0')), 'neighbour must be re-added on the new link');
    assert.ok(plan.ip.some((l) => l.startsWith('route replace 10.244.2.0/26 via 10.244.2.0 dev weft.vxlan')));
    assert.ok(!plan.ip.some((l) => l.startsWith('route replace blackhole')), 'routes not on the link stay untouched');
    assert.equal(plan.bridge.length, 1);
  });

  test('a managed link no longer desired is deleted with no separate route/neighbour deletes', () => {
    const vx = vxlanBackend.desired(node(1), peers(3), CFG);
    const gw = hostGwBackend.desired(node(1), peers(3), CFG);
    const plan = diffKernel(gw, observedFrom(vx), opts);
    assert.deepEqual(plan.ip, [
      'link del weft.vxlan',
      'route replace 10.244.2.0/26 via 198.18.0.12 dev eth0 proto 87 table main',
      'route replace 10.244.3.0/26 via 198.18.0.13 dev eth0 proto 87 table main',
    ]);
    assert.deepEqual(plan.bridge, []);
  });

  test('a peer VTEP MAC change rewrites its FDB and neighbour entries only', () => {
    const before = vxlanBackend.desired(node(1), peers(3), CFG);
    const after = vxlanBackend.desired(node(1), peers(3).map((p) => (p.name === 'n3' ? { ...p, vxlanMac: 'AA:BB:CC:00:00:03' } : p)), CFG);
    const plan = diffKernel(after, observedFrom(before), opts);
    assert.deepEqual(plan.ip, ['neigh replace 10.244.3.0 lladdr aa:bb:cc:00:00:03 dev weft.vxlan nud permanent']);
    assert.deepEqual(plan.bridge, [
      'fdb del 0e:57:c6:12:00:0d dev weft.vxlan dst 198.18.0.13 self',
      'fdb replace aa:bb:cc:00:00:03 dev weft.vxlan dst 198.18.0.13 self permanent',
    ]);
  });
});
