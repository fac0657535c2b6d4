// Block geometry and the order in which a node tries blocks of a pool.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blockCidr, blockIndexOf, candidateBlocks, poolGeometry, startIndex } from '../../../components/node/ipam/blocks.ts';
import { blockCapacity } from '../../../api/block-capacity.ts';
import { claimReason, orderBlocks, ownedBlocks } from '../../../components/node/ipam/claim.ts';
import type { IPAMBlockObject } from '../../../components/node/agent/kube.ts';

const take = <T>(it: Iterable<T>, n: number): T[] => { const out: T[] = []; for (const x of it) { if (out.length >= n) break; out.push(x); } return out; };

describe('pool geometry', () => {
  test('a /16 pool of /26 blocks has 1024 blocks; block i is at i*64', () => {
    const g = poolGeometry('10.244.0.0/16', 26);
    assert.equal(g.blockCount, 1024n);
    assert.equal(blockCidr(g, 0n), '10.244.0.0/26');
    assert.equal(blockCidr(g, 5n), '10.244.1.64/26');
    assert.equal(blockCidr(g, 1023n), '10.244.255.192/26');
    assert.equal(blockIndexOf(g, '10.244.1.64/26'), 5n);
    assert.equal(blockIndexOf(g, '10.244.1.65/26'), null, 'not block-aligned');
    assert.equal(blockIndexOf(g, '10.245.0.0/26'), null, 'outside the pool');
    assert.equal(blockIndexOf(g, '10.244.0.0/27'), null, 'other block size');
  });

  test('IPv6 pools work with 2^70 blocks', () => {
    const g = poolGeometry('fd00:10::/48', 118);
    assert.equal(g.blockCount, 1n << 70n);
    assert.equal(blockCidr(g, 1n), 'fd00:10:0:0:0:0:0:400/118');
    assert.equal(blockIndexOf(g, blockCidr(g, 123456789n)), 123456789n);
  });

  test('a block size outside the pool is rejected with the numbers', () => {
    assert.throws(() => poolGeometry('10.0.0.0/16', 12), /blockSize \/12 must lie between the pool's \/16 and \/32/);
  });

  test('capacity: network, gateway (.1) and broadcast are never handed out', () => {
    assert.equal(blockCapacity('10.244.0.0/26'), 61);
    assert.equal(blockCapacity('10.244.0.0/29'), 5);
    assert.equal(blockCapacity('fd00::/120'), 254);
  });
});

describe('candidate order', () => {
  test('starts at a node-name hash and scans upwards, wrapping, skipping taken blocks', () => {
    const g = poolGeometry('10.0.0.0/24', 26);
    const start = startIndex('node-a', g);
    const all = take(candidateBlocks('node-a', g, new Set()), 10);
    assert.equal(all.length, 4, 'exactly every block once');
    assert.equal(all[0], blockCidr(g, start));
    assert.deepEqual(all, [0n, 1n, 2n, 3n].map((i) => blockCidr(g, (start + i) % 4n)));
    const taken = new Set([all[0]!, all[2]!]);
    assert.deepEqual(take(candidateBlocks('node-a', g, taken), 10), [all[1], all[3]]);
    assert.deepEqual(take(candidateBlocks('node-a', g, new Set(all)), 10), [], 'a full pool has no candidate');
  });

  test('deterministic per node, and different nodes start at different places', () => {
    const g = poolGeometry('10.244.0.0/16', 26);
    assert.equal(take(candidateBlocks('n1', g, new Set()), 1)[0], take(candidateBlocks('n1', g, new Set()), 1)[0]);
    const starts = new Set(Array.from({ length: 100 }, (_, i) => startIndex(`node-${i}`, g)));
    assert.ok(starts.size > 90, `100 nodes should spread over 1024 blocks, got ${starts.size} distinct starts`);
  });

  test('property: every candidate is a distinct aligned block of the pool, never a taken one', () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 24, max: 30 }), fc.array(fc.integer({ min: 0, max: 63 })), (name, size, takenIdx) => {
      const g = poolGeometry('10.1.0.0/24', size);
      const taken = new Set(takenIdx.filter((i) => BigInt(i) < g.blockCount).map((i) => blockCidr(g, BigInt(i))));
      const list = [...candidateBlocks(name, g, taken)];
      assert.equal(new Set(list).size, list.length);
      assert.equal(list.length, Number(g.blockCount) - taken.size);
      for (const c of list) { assert.ok(!taken.has(c)); assert.notEqual(blockIndexOf(g, c), null); }
    }));
  });
});

const block = (name: string, node: string, created: string, uid = 'node-uid'): IPAMBlockObject => ({
  metadata: { name, creationTimestamp: created as unknown as Date, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid }] },
  spec: { cidr: name.replace(/-(\d+)$/, '/$1').replace(/-/g, '.'), pool: 'default', node },
});

describe('held blocks', () => {
  test('oldest first, then by name, so the first block (tunnel address) stays first', () => {
    const bs = [block('10-0-0-64-26', 'a', '2026-01-01T00:00:05Z'), block('10-0-0-128-26', 'a', '2026-01-01T00:00:01Z'), block('10-0-0-0-26', 'a', '2026-01-01T00:00:05Z')];
    assert.deepEqual(orderBlocks(bs).map((b) => b.spec.cidr), ['10.0.0.128/26', '10.0.0.0/26', '10.0.0.64/26']);
  });

  test('the claimed-at annotation (milliseconds) orders blocks created within one second', () => {
    const a = block('10-0-0-0-26', 'a', '2026-01-01T00:00:05Z');
    const b = block('10-0-0-64-26', 'a', '2026-01-01T00:00:05Z');
    a.metadata!.annotations = { 'network.weft.dev/claimed-at': '2026-01-01T00:00:05.900Z' };
    b.metadata!.annotations = { 'network.weft.dev/claimed-at': '2026-01-01T00:00:05.100Z' };
    assert.deepEqual(orderBlocks([a, b]).map((x) => x.spec.cidr), ['10.0.0.64/26', '10.0.0.0/26']);
  });

  test('blocks of an earlier Node with the same name are not this node\'s', () => {
    const bs = [block('10-0-0-0-26', 'a', '2026-01-01T00:00:00Z', 'old-uid'), block('10-0-0-64-26', 'a', '2026-01-01T00:00:01Z', 'new-uid'), block('10-0-0-128-26', 'b', '2026-01-01T00:00:01Z', 'new-uid')];
    assert.deepEqual(ownedBlocks(bs, 'a', 'new-uid').map((b) => b.spec.cidr), ['10.0.0.64/26']);
  });

  test('claim when none is held, or when use passes the threshold', () => {
    assert.equal(claimReason([], () => 0, 0.9), 'first');
    assert.equal(claimReason(['10.0.0.0/26'], () => 54, 0.9), null, '54/61 = 88.5 %');
    assert.equal(claimReason(['10.0.0.0/26'], () => 55, 0.9), 'threshold', '55/61 = 90.2 %');
    assert.equal(claimReason(['10.0.0.0/26', '10.0.0.64/26'], (c) => (c === '10.0.0.0/26' ? 61 : 40), 0.9), null, '101/122 = 83 %');
  });
});
