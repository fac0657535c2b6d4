// The rollout decision (operator/rollout/plan.ts): batch sizes, gating, pause, halt, rollback.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classify, plan, resolveMaxUnavailable, type NodeView, type PlanInput } from '../../../operator/rollout/plan.ts';

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const T0 = 1_000_000;

function node(i: number, hash: string, extra: Partial<NodeView> = {}): NodeView {
  const name = `n${String(i).padStart(3, '0')}`;
  return { name, pod: { name: `weft-node-${name}`, uid: `uid-${name}-${hash[0]}`, hash, createdAt: T0 - 60_000, phase: 'Running' }, report: { hash, ready: true }, ...extra };
}

function input(nodes: NodeView[], o: Partial<PlanInput> = {}): PlanInput {
  return { targetHash: NEW, nodes, maxUnavailable: '10%', paused: false, batchTimeoutMs: 60_000, now: T0, templateCurrent: true, ...o };
}

/** Drives plan() to the end like a cluster whose agents come up at once: returns the batch sizes. */
function simulate(nodes: NodeView[], o: Partial<PlanInput> = {}): number[] {
  const sizes: number[] = [];
  for (let round = 0; round < 10_000; round++) {
    const p = plan(input(nodes, o));
    assert.equal(p.halted, undefined);
    if (p.complete) return sizes;
    assert.ok(p.replace.length > 0, `stuck: ${p.message}`);
    sizes.push(p.replace.length);
    for (const r of p.replace) {
      const n = nodes.find((x) => x.name === r.node)!;
      n.pod = { name: `${r.pod}-new`, uid: `${r.uid}-new`, hash: NEW, createdAt: T0, phase: 'Running' };
      n.report = { hash: NEW, ready: true };
    }
  }
  throw new Error('no end');
}

describe('rollout plan', () => {
  test('maxUnavailable: counts, percentages rounded up, at least 1', () => {
    assert.equal(resolveMaxUnavailable(3, 1000), 3);
    assert.equal(resolveMaxUnavailable('10%', 1000), 100);
    assert.equal(resolveMaxUnavailable('10%', 15), 2);
    assert.equal(resolveMaxUnavailable('1%', 5), 1);
    assert.equal(resolveMaxUnavailable('100%', 7), 7);
    assert.throws(() => resolveMaxUnavailable('ten', 7), /maxUnavailable/);
  });

  test('a canary of one, then batches of maxUnavailable', () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => node(i, OLD));
    const sizes = simulate(nodes);
    assert.deepEqual(sizes, [1, ...Array(9).fill(100), 99]);
  });

  test('batch sizes add up for any cluster size and maxUnavailable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`)), (n, mu) => {
        const sizes = simulate(Array.from({ length: n }, (_, i) => node(i, OLD)), { maxUnavailable: mu });
        const b = resolveMaxUnavailable(mu, n);
        assert.equal(sizes[0], 1);
        assert.equal(sizes.reduce((a, x) => a + x, 0), n);
        for (const s of sizes.slice(1, -1)) assert.equal(s, b);
      }),
      { numRuns: 60 },
    );
  });

  test('nothing new starts while a node of the batch is not Ready on the new hash', () => {
    const nodes = [node(0, NEW, { report: { hash: OLD, ready: true } }), node(1, OLD), node(2, OLD)];
    nodes[0]!.pod!.createdAt = T0 - 1000;
    const p = plan(input(nodes));
    assert.equal(p.replace.length, 0);
    assert.equal(p.inflight, 1);
    assert.match(p.message, /waiting for 1 node/);
    assert.equal(p.recheckMs, 59_050, 'comes back at the batch deadline');
  });

  test('a node without any pod after a deletion is in flight, not forgotten', () => {
    const nodes = [node(0, NEW), { name: 'n001', withoutPodSince: T0 - 1000, report: { hash: OLD, ready: true } }, node(2, OLD)];
    const p = plan(input(nodes));
    assert.equal(p.inflight, 1);
    assert.equal(p.replace.length, 0);
  });

  test('NotReady and cordoned nodes are not waited on', () => {
    const nodes = [node(0, NEW), node(1, NEW, { unavailable: 'NotReady', report: { hash: OLD, ready: false } }), node(2, OLD)];
    assert.equal(classify(nodes[1]!, NEW), 'skipped');
    const p = plan(input(nodes, { maxUnavailable: 1 }));
    assert.deepEqual(p.replace.map((r) => r.node), ['n002']);
    assert.match(p.message, /1 not waited on/);
  });

  test('the canary is an available node; later batches take unavailable nodes first', () => {
    const nodes = [node(0, OLD, { unavailable: 'cordoned' }), node(1, OLD), node(2, OLD), node(3, OLD, { unavailable: 'NotReady' })];
    const p = plan(input(nodes, { maxUnavailable: 2 }));
    assert.deepEqual(p.replace.map((r) => r.node), ['n001']);
    nodes[1] = node(1, NEW);
    const q = plan(input(nodes, { maxUnavailable: 2 }));
    assert.deepEqual(q.replace.map((r) => r.node), ['n000', 'n003']);
  });

  test('a batch past its timeout halts the rollout and names the node with the agent\'s reason', () => {
    const stuck = node(5, NEW, { report: { hash: NEW, ready: false, reason: 'DataplaneDown', message: 'vxlan device weft.vxlan missing' } });
    stuck.pod!.createdAt = T0 - 61_000;
    const nodes = [node(0, NEW), stuck, node(7, OLD), node(8, OLD)];
    const p = plan(input(nodes));
    assert.equal(p.replace.length, 0);
    assert.equal(p.halted?.reason, 'RolloutHalted');
    assert.match(p.halted!.message, /n005: agent not Ready \(DataplaneDown: vxlan device weft.vxlan missing\)/);
    assert.match(p.halted!.message, /2 node\(s\) still run the previous configuration/);
    // The same node still inside the timeout: waiting, not halted.
    stuck.pod!.createdAt = T0 - 1000;
    assert.equal(plan(input(nodes)).halted, undefined);
  });

  test('paused stops at a batch boundary only', () => {
    const nodes = [node(0, NEW), node(1, NEW, { report: { hash: OLD, ready: true } }), node(2, OLD)];
    nodes[1]!.pod!.createdAt = T0 - 1000;
    const p = plan(input(nodes, { paused: true }));
    assert.equal(p.inflight, 1, 'the batch in flight finishes');
    nodes[1] = node(1, NEW);
    const q = plan(input(nodes, { paused: true }));
    assert.equal(q.replace.length, 0);
    assert.match(q.message, /paused/);
    assert.equal(plan(input(nodes)).replace.length, 1, 'unpaused: it resumes');
  });

  test('rollback: nodes still on the reverted-to hash count as updated; only the others are replaced, no canary', () => {
    // 3 nodes took the bad hash NEW (one stuck), 7 never left OLD; the Installation is reverted: target OLD.
    const nodes = [...[0, 1, 2].map((i) => node(i, NEW)), ...[3, 4, 5, 6, 7, 8, 9].map((i) => node(i, OLD))];
    nodes[2]!.report = { hash: NEW, ready: false, reason: 'Broken', message: 'x' };
    const p = plan(input(nodes, { targetHash: OLD, maxUnavailable: 5 }));
    assert.equal(p.halted, undefined);
    assert.equal(p.counts.updated, 7);
    assert.deepEqual(p.replace.map((r) => r.node), ['n000', 'n001', 'n002']);
  });

  test('no deletion until the DaemonSet controller observed the new template', () => {
    const p = plan(input([node(0, OLD), node(1, OLD)], { templateCurrent: false }));
    assert.equal(p.replace.length, 0);
    assert.match(p.message, /DaemonSet controller/);
  });
});
