// Warning Events on the Installation: rollout stalled or halted, agents not Ready — on
// transitions only, after the grace periods, with a recheck time so a stall is noticed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstallationStatus, NodeNetwork } from '../../../api/index.ts';
import type { KubeObject } from '../../../kube/index.ts';
import { InstallationHealthEvents } from '../../../operator/controllers/installation-events.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const node = (name: string) => ({ metadata: { name } }) as KubeObject;
const nn = (name: string, ready: 'True' | 'False', since: number, hash = 'h2', reason = 'KernelSyncFailed') => ({
  metadata: { name }, spec: { nodeName: name },
  status: { configHash: hash, conditions: [{ type: 'Ready', status: ready, reason, message: 'boom', lastTransitionTime: iso(since) }] },
}) as unknown as NodeNetwork;
const status = (progressing: boolean, since: number): InstallationStatus => ({
  configHash: 'h2', nodes: { desired: 3, updated: 2, ready: 2 },
  conditions: [{ type: 'Progressing', status: progressing ? 'True' : 'False', reason: 'RolloutInProgress', message: '', lastTransitionTime: iso(since) }],
});
const NODES = ['a', 'b', 'c'].map(node);

describe('Installation health events', () => {
  test('a rollout in progress longer than the stall time: one RolloutStalled naming the nodes behind', () => {
    const h = new InstallationHealthEvents({ stallMs: 600_000 });
    const nns = [nn('a', 'True', 0), nn('b', 'True', 0), nn('c', 'True', 0, 'h1')];
    const early = h.check({ status: status(true, 0), nodeNetworks: nns, nodes: NODES, now: new Date(T0 + 60_000) });
    assert.deepEqual(early.events, []);
    assert.equal(early.recheckMs, 540_000, 'the controller comes back when the stall time is up');
    const late = h.check({ status: status(true, 0), nodeNetworks: nns, nodes: NODES, now: new Date(T0 + 600_000) });
    assert.deepEqual(late.events.map((e) => [e.type, e.reason]), [['Warning', 'RolloutStalled']]);
    assert.match(late.events[0]!.message, /10 minutes.*not on configuration h2: c/);
    assert.deepEqual(h.check({ status: status(true, 0), nodeNetworks: nns, nodes: NODES, now: new Date(T0 + 900_000) }).events, [], 'once per stall');
    h.check({ status: status(false, 1_000_000), nodeNetworks: nns, nodes: NODES, now: new Date(T0 + 1_000_000) });
    assert.equal(h.check({ status: status(true, 1_100_000), nodeNetworks: nns, nodes: NODES, now: new Date(T0 + 1_800_000) }).events.length, 1, 'a new rollout that stalls is reported again');
  });

  test('a halted rollout: one Warning with the rollout\'s reason, again only for another halt', () => {
    const h = new InstallationHealthEvents();
    const halted = { reason: 'RolloutHalted', message: 'batch 2 not Ready within 5m: b' };
    const input = { status: status(false, 0), nodeNetworks: [], nodes: NODES, halted, now: new Date(T0) };
    assert.deepEqual(h.check(input).events, [{ type: 'Warning', reason: 'RolloutHalted', message: halted.message }]);
    assert.deepEqual(h.check(input).events, []);
    assert.equal(h.check({ ...input, halted: { ...halted, message: 'batch 3 not Ready within 5m: c' } }).events.length, 1);
  });

  test('agents not Ready past the grace: AgentsNotReady for newly failing nodes, AgentsReady when all recover', () => {
    const h = new InstallationHealthEvents({ notReadyGraceMs: 120_000 });
    const at = (ms: number, nns: NodeNetwork[]) => h.check({ status: status(false, 0), nodeNetworks: nns, nodes: NODES, now: new Date(T0 + ms) });
    const starting = at(30_000, [nn('a', 'True', 0), nn('b', 'False', 0)]);
    assert.deepEqual(starting.events, [], 'b may be an agent starting');
    assert.equal(starting.recheckMs, 90_000);
    const bad = at(120_000, [nn('a', 'True', 0), nn('b', 'False', 0)]);
    assert.deepEqual(bad.events.map((e) => e.reason), ['AgentsNotReady']);
    assert.match(bad.events[0]!.message, /b \(KernelSyncFailed: boom\)/);
    assert.deepEqual(at(200_000, [nn('a', 'True', 0), nn('b', 'False', 0)]).events, [], 'still the same node: no repeat');
    const more = at(400_000, [nn('a', 'False', 100_000), nn('b', 'False', 0)]);
    assert.deepEqual(more.events.map((e) => e.reason), ['AgentsNotReady']);
    assert.match(more.events[0]!.message, /1 node\(s\): a /, 'only the newly failing node');
    assert.deepEqual(at(500_000, [nn('a', 'True', 450_000), nn('b', 'True', 450_000)]).events.map((e) => [e.type, e.reason]), [['Normal', 'AgentsReady']]);
    assert.deepEqual(at(600_000, [nn('a', 'True', 450_000), nn('b', 'True', 450_000)]).events, []);
  });

  test('NodeNetworks of nodes that no longer exist are not agents', () => {
    const h = new InstallationHealthEvents({ notReadyGraceMs: 0 });
    assert.deepEqual(h.check({ status: status(false, 0), nodeNetworks: [nn('gone', 'False', 0)], nodes: NODES, now: new Date(T0 + 1_000) }).events, []);
  });
});
