// The peer list from NodeNetworks and IPAMBlocks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computePeers, ipamBlockPeerKey, nodeNetworkPeerKey } from '../../../components/node/agent/peers.ts';
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
});
