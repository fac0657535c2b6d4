// The peer list from NodeNetworks and IPAMBlocks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computePeers, ipamBlockPeerKey, nodeNetworkPeerKey, type PeerRejection } from '../../../components/node/agent/peers.ts';
import type { IPAMBlockObject, NodeNetworkObject } from '../../../components/node/agent/kube.ts';

const nn = (name: string, address?: string, mac?: string, deleting = false): NodeNetworkObject => ({
  metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' as unknown as Date } : {}) },
  spec: { nodeName: name },
  status: { ...(address ? { address } : {}), ...(mac ? { vtep: { mac, ip: 'x' } } : {}) },
});
const blk = (cidr: string, node: string, created: string): IPAMBlockObject => ({
  metadata: { name: cidr.replace(/[./]/g, '-'), creationTimestamp: created as unknown as Date }, spec: { cidr, pool: 'default', node },
});

describe('peers', () => {
  test('every other node with an address, its IPv4 blocks oldest first, its VTEP MAC', () => {
    const peers = computePeers(
      [nn('a', '198.18.0.11/24'), nn('b', '198.18.0.12/24', '0e:57:c6:12:00:0c'), nn('c'), nn('d', '198.18.0.14/24', undefined, true), nn('e', '198.18.0.15/24')],
      [blk('10.244.2.64/26', 'b', '2026-01-01T00:00:09Z'), blk('10.244.2.0/26', 'b', '2026-01-01T00:00:01Z'), blk('fd00::/120', 'b', '2026-01-01T00:00:00Z'), blk('10.244.1.0/26', 'a', '2026-01-01T00:00:00Z'), blk('10.244.4.0/26', 'd', '2026-01-01T00:00:00Z')],
      { self: 'a', keepBlockless: false },
    );
    assert.deepEqual(peers, [{ name: 'b', underlayAddress: '198.18.0.12', blocks: ['10.244.2.0/26', '10.244.2.64/26'], vxlanMac: '0e:57:c6:12:00:0c' }]);
  });

  test('BGP keeps peers without blocks (a session is worth having)', () => {
    const peers = computePeers([nn('a', '198.18.0.11/24'), nn('e', '198.18.0.15/24')], [], { self: 'a', keepBlockless: true });
    assert.deepEqual(peers, [{ name: 'e', underlayAddress: '198.18.0.15', blocks: [] }]);
  });

  test('IPAM counters in a peer\'s status do not change its key (no resync storm)', () => {
    const a = nn('b', '198.18.0.12/24', 'm');
    const b = { ...a, status: { ...a.status, ipam: { allocated: 7 } } };
    assert.equal(nodeNetworkPeerKey(a), nodeNetworkPeerKey(b));
    assert.notEqual(nodeNetworkPeerKey(a), nodeNetworkPeerKey(nn('b', '198.18.0.13/24', 'm')));
    const k = blk('10.244.2.0/26', 'b', 't');
    assert.equal(ipamBlockPeerKey(k), ipamBlockPeerKey({ ...k, status: { allocated: 3 } }));
  });

  // Issue 16, attack 2: a peer's blocks must be blocks of a pool, of that node's current Node, and
  // not overlap an older block of another node or one of ours.
  test('hostile blocks are dropped and reported: out of pool, wrong size, foreign owner, overlap', () => {
    const owned = (o: NodeNetworkObject, uid: string): NodeNetworkObject => ({ ...o, metadata: { ...o.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: o.metadata!.name!, uid }] } } as NodeNetworkObject);
    const ob = (b: IPAMBlockObject, uid: string): IPAMBlockObject => ({ ...b, metadata: { ...b.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: b.spec.node, uid }] } } as IPAMBlockObject);
    const rejected: PeerRejection[] = [];
    const peers = computePeers(
      [owned(nn('b', '198.18.0.12/24'), 'uid-b'), owned(nn('c', '198.18.0.13/24'), 'uid-c')],
      [
        ob(blk('10.244.2.0/26', 'b', '2026-01-01T00:00:01Z'), 'uid-b'),
        ob(blk('0.0.0.0/1', 'b', '2026-01-01T00:00:02Z'), 'uid-b'),
        ob(blk('10.244.4.0/24', 'b', '2026-01-01T00:00:03Z'), 'uid-b'),
        ob(blk('10.244.5.0/26', 'b', '2026-01-01T00:00:04Z'), 'uid-old-b'),
        ob(blk('10.244.1.0/26', 'c', '2026-01-01T00:00:05Z'), 'uid-c'),
        ob(blk('10.244.3.0/26', 'c', '2026-01-01T00:00:06Z'), 'uid-c'),
      ],
      { self: 'a', keepBlockless: false, pools: [{ cidr: '10.244.0.0/16', blockSize: 26 }], ownBlocks: ['10.244.1.0/26'], reject: (r) => rejected.push(r) },
    );
    assert.deepEqual(peers.map((p) => [p.name, p.blocks]), [['b', ['10.244.2.0/26']], ['c', ['10.244.3.0/26']]]);
    assert.deepEqual(rejected.map((r) => [r.node, r.value, r.reason.split(' (')[0]!.split(';')[0]]), [
      ['b', '"0.0.0.0/1"', 'not a block of any pool'],
      ['b', '"10.244.4.0/24"', 'not a block of any pool'],
      ['b', '"uid-old-b"', 'not owned by node b'],
      ['c', '"10.244.1.0/26"', "overlaps this node's block 10.244.1.0/26"],
    ]);
  });

  test('without pools, an overlapping younger block of another node loses to the older one', () => {
    const rejected: PeerRejection[] = [];
    const peers = computePeers([nn('b', '198.18.0.12/24'), nn('c', '198.18.0.13/24')],
      [blk('10.244.0.0/24', 'c', '2026-01-01T00:00:09Z'), blk('10.244.0.64/26', 'b', '2026-01-01T00:00:01Z')],
      { self: 'a', keepBlockless: false, reject: (r) => rejected.push(r) });
    assert.deepEqual(peers.map((p) => [p.name, p.blocks]), [['b', ['10.244.0.64/26']]]);
    assert.match(rejected[0]!.reason, /overlaps node b's older block 10.244.0.64\/26/);
  });
});
