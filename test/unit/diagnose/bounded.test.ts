// weft diagnose stays bounded on large clusters: probe pairs grow linearly (requests in flight: test/unit/kube/concurrency.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probePairs } from '../../../cli/diagnose/bounded.ts';

const names = (n: number) => Array.from({ length: n }, (_, i) => `node-${String(i).padStart(4, '0')}`);

test('small clusters: every ordered pair, as before', () => {
  const pairs = probePairs(names(3), 8);
  assert.equal(pairs.length, 6);
  assert.equal(new Set(pairs.map((p) => p.join('>'))).size, 6);
  assert.deepEqual(probePairs(names(5), 0).length, 20, 'perNode 0: every other node');
});

test('1000 nodes, 8 peers each: 8000 probes, not 999 000; every node probes and is probed 8 times, never itself', () => {
  const pairs = probePairs(names(1000), 8);
  assert.equal(pairs.length, 8000);
  const from = new Map<string, number>();
  const to = new Map<string, number>();
  for (const [a, b] of pairs) {
    assert.notEqual(a, b);
    from.set(a, (from.get(a) ?? 0) + 1);
    to.set(b, (to.get(b) ?? 0) + 1);
  }
  assert.equal(new Set(pairs.map((p) => p.join('>'))).size, 8000, 'no pair twice');
  assert.deepEqual(new Set(from.values()), new Set([8]));
  assert.deepEqual(new Set(to.values()), new Set([8]));
});

test('a node that drops everything is an end of more failing pairs than any other (what analyze blames on)', () => {
  const all = names(50);
  const bad = all[17]!;
  const failing = probePairs(all, 8).filter(([a, b]) => a === bad || b === bad);
  const ends = new Map<string, number>();
  for (const [a, b] of failing) for (const n of [a, b]) ends.set(n, (ends.get(n) ?? 0) + 1);
  const [top, second] = [...ends.values()].sort((x, y) => y - x);
  assert.equal(ends.get(bad), 16);
  assert.ok(top! > second!, `the bad node leads: ${top} vs ${second}`);
});
