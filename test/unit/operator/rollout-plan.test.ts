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

  test('a sliding window: after the canary, a node starts as soon as one in flight is done, never more than maxUnavailable at once', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => node(i, OLD));
    const p0 = plan(input(nodes, { maxUnavailable: 3 }));
    assert.deepEqual(p0.replace.map((r) => [r.node, r.action]), [['n000', 'delete']]);
    nodes[0] = node(0, NEW);
    // Three start; one of them comes up: exactly one more starts, the other two still in flight.
    const p1 = plan(input(nodes, { maxUnavailable: 3 }));
    assert.deepEqual(p1.replace.map((r) => r.node), ['n001', 'n002', 'n003']);
    for (const i of [1, 2, 3]) {
      nodes[i] = node(i, NEW, { report: { hash: OLD, ready: true } });
      nodes[i]!.pod!.createdAt = T0 - 1000;
    }
    assert.equal(plan(input(nodes, { maxUnavailable: 3 })).replace.length, 0, 'the window is full');
    nodes[2] = node(2, NEW);
    const p2 = plan(input(nodes, { maxUnavailable: 3 }));
    assert.deepEqual(p2.replace.map((r) => r.node), ['n004']);
    assert.equal(p2.inflight, 2);
  });

  // docs/adr/0010: a current pod whose agent runs another configuration is handed the target.
  test('facts changed the configuration: running agents are handed it (grant), canary first, through the same window', () => {
    const SPEC = 'c'.repeat(64);
    const nodes = Array.from({ length: 10 }, (_, i) => node(i, SPEC, { report: { hash: OLD, ready: true, podUID: `uid-n00${i}-c` } }));
    const o = { targetSpecHash: SPEC, maxUnavailable: 4 };
    assert.equal(classify(nodes[0]!, NEW, SPEC), 'stale');
    const p0 = plan(input(nodes, o));
    assert.deepEqual(p0.replace.map((r) => [r.node, r.action]), [['n000', 'grant']]);
    assert.equal(p0.batchKind, 'canary');
    nodes[0]!.granted = NEW;
    nodes[0]!.grantedSince = T0;
    assert.equal(classify(nodes[0]!, NEW, SPEC), 'inflight');
    // The pod is old; the grant is new: the timeout runs from the grant.
    const waiting = plan(input(nodes, { ...o, now: T0 + 30_000 }));
    assert.equal(waiting.halted, undefined);
    assert.equal(waiting.replace.length, 0);
    const late = plan(input(nodes, { ...o, now: T0 + 61_000 }));
    assert.match(late.halted!.message, /n000: agent has not applied configuration b{12} in place yet/);
    nodes[0]!.report = { hash: NEW, ready: true, podUID: 'uid-n000-c' };
    const p1 = plan(input(nodes, o));
    assert.deepEqual(p1.replace.map((r) => [r.node, r.action]), [['n001', 'grant'], ['n002', 'grant'], ['n003', 'grant'], ['n004', 'grant']]);
  });

  test('a report left by the replaced pod is not the new agent\'s: in flight, not handed anything', () => {
    const SPEC = 'c'.repeat(64);
    const n = node(0, SPEC, { report: { hash: OLD, ready: true, podUID: 'uid-of-the-old-pod' } });
    assert.equal(classify(n, NEW, SPEC), 'inflight');
    const p = plan(input([n, node(1, NEW, { pod: { name: 'weft-node-n001', uid: 'u1', hash: SPEC, createdAt: T0, phase: 'Running' } })], { targetSpecHash: SPEC }));
    assert.equal(p.replace.length, 0);
  });

  test('no deletion until the DaemonSet controller observed the new template', () => {
    const p = plan(input([node(0, OLD), node(1, OLD)], { templateCurrent: false }));
    assert.equal(p.replace.length, 0);
    assert.match(p.message, /DaemonSet controller/);
  });
});
