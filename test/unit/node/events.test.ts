// Node Events: dedupe, rate limit, transitions only, and the gauges the pass observer sets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeEventRecorder, TransitionTracker, type CoreEvent } from '../../../components/node/agent/events.ts';
import { PassObserver, type PassFacts } from '../../../components/node/agent/observe.ts';
import { createAgentMetrics } from '../../../components/node/health/metrics.ts';

function recorder(o: { burst?: number; refillMs?: number; dedupeWindowMs?: number; fail?: boolean } = {}) {
  const sent: CoreEvent[] = [];
  let t = Date.parse('2026-01-01T00:00:00Z');
  const r = new NodeEventRecorder({
    node: () => ({ name: 'node-1', uid: 'uid-1' }),
    send: async (e) => { if (o.fail) throw new Error('forbidden'); sent.push(e as CoreEvent); },
    now: () => t,
    ...o,
  });
  return { r, sent, advance: (ms: number) => { t += ms; } };
}

describe('NodeEventRecorder', () => {
  test('sends a core v1 Event about the Node in namespace default', async () => {
    const { r, sent } = recorder();
    assert.equal(r.record({ type: 'Warning', reason: 'MTUTooLarge', message: 'too big', action: 'DetectMTU' }), 'queued');
    await r.flush();
    assert.equal(sent.length, 1);
    const e = sent[0]!;
    assert.equal(e.apiVersion, 'v1');
    assert.equal(e.metadata.namespace, 'default');
    assert.match(e.metadata.name, /^node-1\.[0-9a-f]+$/);
    assert.deepEqual(e.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'uid-1' });
    assert.deepEqual([e.type, e.reason, e.message, e.count, e.source.host], ['Warning', 'MTUTooLarge', 'too big', 1, 'node-1']);
    assert.equal(e.firstTimestamp, '2026-01-01T00:00:00Z');
  });

  test('an identical event within the window is suppressed, after it is sent again', async () => {
    const { r, sent, advance } = recorder({ dedupeWindowMs: 60_000 });
    const ev = { type: 'Normal' as const, reason: 'ConflistWritten', message: 'wrote x' };
    assert.equal(r.record(ev), 'queued');
    advance(59_000);
    assert.equal(r.record(ev), 'duplicate');
    assert.equal(r.record({ ...ev, message: 'wrote y' }), 'queued', 'another message is another event');
    advance(1_000);
    assert.equal(r.record(ev), 'queued');
    await r.flush();
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent.map((e) => e.metadata.name)).size, 3, 'unique names');
  });

  test('a storm of distinct events is capped by the token bucket and refills over time', async () => {
    const { r, sent, advance } = recorder({ burst: 3, refillMs: 10_000 });
    const outcomes = Array.from({ length: 10 }, (_, i) => r.record({ type: 'Warning', reason: 'X', message: `m${i}` }));
    assert.deepEqual(outcomes.filter((o) => o === 'queued').length, 3);
    assert.equal(r.stats.rateLimited, 7);
    advance(10_000);
    assert.equal(r.record({ type: 'Warning', reason: 'X', message: 'later' }), 'queued');
    assert.equal(r.record({ type: 'Warning', reason: 'X', message: 'later2' }), 'rate-limited');
    advance(100_000);
    for (let i = 0; i < 3; i++) assert.equal(r.record({ type: 'Warning', reason: 'Y', message: `n${i}` }), 'queued');
    assert.equal(r.record({ type: 'Warning', reason: 'Y', message: 'n3' }), 'rate-limited', 'the bucket never holds more than burst');
    await r.flush();
    assert.equal(sent.length, 7);
  });

  test('a failing API call is counted, never thrown', async () => {
    const { r } = recorder({ fail: true });
    r.record({ type: 'Normal', reason: 'A', message: 'b' });
    await r.flush();
    assert.equal(r.stats.failed, 1);
  });
});

test('TransitionTracker reports first, changed and same', () => {
  const t = new TransitionTracker<string>();
  assert.equal(t.observe('k', 'a'), 'first');
  assert.equal(t.observe('k', 'a'), 'same');
  assert.equal(t.observe('k', 'b'), 'changed');
  t.prune('k', new Set());
  assert.equal(t.observe('k', 'b'), 'first');
});

describe('PassObserver', () => {
  function observer(graceMs = 60_000) {
    const metrics = createAgentMetrics();
    const rec = recorder({ burst: 1000 });
    let now = 0;
    const o = new PassObserver({ metrics, recorder: rec.r, node: 'node-1', bgpStartupGraceMs: graceMs, now: () => now });
    const reasons = (f: PassFacts) => o.observe(f).map((e) => `${e.type}/${e.reason}`);
    return { metrics, o, reasons, rec, at: (t: number) => { now = t; } };
  }
  const mtu = (pod: number) => ({ pod, underlay: 1500, overhead: 50, interface: 'eth0' });

  test('MTU: gauges every pass, MTUTooLarge once on entering, MTUFits on leaving', async () => {
    const { metrics, reasons } = observer();
    assert.deepEqual(reasons({ mtu: mtu(1450) }), [], 'fine from the start: no event');
    assert.deepEqual(reasons({ mtu: mtu(1500) }), ['Warning/MTUTooLarge']);
    assert.deepEqual(reasons({ mtu: mtu(1500) }), [], 'no repeat while it stays too large');
    assert.deepEqual(reasons({ mtu: mtu(1400) }), ['Normal/MTUFits']);
    const text = await metrics.registry.metrics();
    assert.match(text, /^weft_node_pod_mtu_bytes 1400$/m);
    assert.match(text, /^weft_node_underlay_mtu_bytes 1500$/m);
    assert.match(text, /^weft_node_encapsulation_overhead_bytes 50$/m);
  });

  test('MTU too large at the first pass is reported', () => {
    assert.deepEqual(observer().reasons({ mtu: mtu(9000) }), ['Warning/MTUTooLarge']);
  });

  test('a restarted agent finding what its NodeNetwork already reports records nothing', () => {
    const { reasons } = observer();
    const persisted = { mtuTooLarge: true, kernelFailed: true };
    assert.deepEqual(reasons({ mtu: mtu(1500), kernel: { inSync: false, error: 'e' }, persisted }), []);
    assert.deepEqual(reasons({ mtu: mtu(1400), kernel: { inSync: true }, persisted }), ['Normal/MTUFits', 'Normal/KernelSyncRecovered'], 'a real change still is');
    const fresh = observer();
    assert.deepEqual(fresh.reasons({ mtu: mtu(1500), kernel: { inSync: false, error: 'e' }, persisted: { mtuTooLarge: false, kernelFailed: false } }), ['Warning/MTUTooLarge', 'Warning/KernelSyncFailed']);
  });

  test('kernel sync: one event when it starts failing, one when it recovers', () => {
    const { reasons } = observer();
    assert.deepEqual(reasons({ kernel: { inSync: true } }), []);
    assert.deepEqual(reasons({ kernel: { inSync: false, error: 'RTNETLINK answers: File exists' } }), ['Warning/KernelSyncFailed']);
    assert.deepEqual(reasons({ kernel: { inSync: false, error: 'another error' } }), [], 'still failing: no new event');
    assert.deepEqual(reasons({}), [], 'a pass without kernel work changes nothing');
    assert.deepEqual(reasons({ kernel: { inSync: true } }), ['Normal/KernelSyncRecovered']);
    assert.deepEqual(reasons({ kernel: { inSync: true } }), []);
  });

  test('BGP: gauge per peer; down at once after Established, after the grace when never up; up only after a down', async () => {
    const { metrics, reasons, at } = observer(60_000);
    const s = (state: string) => ({ bgpSessions: [{ peer: '198.18.0.12', name: 'node_b', state }] });
    at(0);
    assert.deepEqual(reasons(s('Active')), [], 'BIRD just started');
    at(30_000);
    assert.deepEqual(reasons(s('Active')), []);
    at(60_000);
    assert.deepEqual(reasons(s('Active')), ['Warning/BGPSessionDown'], 'never came up within the grace');
    at(70_000);
    assert.deepEqual(reasons(s('Active')), []);
    assert.match(await metrics.registry.metrics(), /^weft_node_bgp_session_up\{peer="198\.18\.0\.12"\} 0$/m);
    assert.deepEqual(reasons(s('Established')), ['Normal/BGPSessionUp']);
    assert.match(await metrics.registry.metrics(), /^weft_node_bgp_session_up\{peer="198\.18\.0\.12"\} 1$/m);
    assert.deepEqual(reasons(s('Established')), []);
    assert.deepEqual(reasons(s('Connect')), ['Warning/BGPSessionDown'], 'was Established: at once');
    assert.deepEqual(reasons({ bgpSessions: [] }), [], 'the peer left');
    assert.doesNotMatch(await metrics.registry.metrics(), /weft_node_bgp_session_up\{/);
  });

  test('IPAM: released leaks by delta, each claimed block, exhausted pools on entering', () => {
    const { reasons } = observer();
    assert.deepEqual(reasons({ released: 0, claimed: [{ pool: 'default', cidr: '10.244.0.0/26', reason: 'first' }], exhaustedPools: [] }), ['Normal/BlockClaimed']);
    assert.deepEqual(reasons({ released: 3, claimed: [], exhaustedPools: ['default'] }), ['Normal/LeakedAddressesReleased', 'Warning/PoolExhausted']);
    assert.deepEqual(reasons({ released: 3, claimed: [], exhaustedPools: ['default'] }), []);
    assert.deepEqual(reasons({ released: 3, claimed: [], exhaustedPools: [] }), []);
    assert.deepEqual(reasons({ released: 3, claimed: [], exhaustedPools: ['default'] }), ['Warning/PoolExhausted'], 'exhausted again after it had a block');
  });

  test('the conflist written: an event per change, with the ranges', () => {
    const { o } = observer();
    const ev = o.observe({ conflistWritten: { path: '/etc/cni/net.d/10-weft.conflist', ranges: ['10.244.0.0/26'] } });
    assert.equal(ev.length, 1);
    assert.match(ev[0]!.message, /10-weft\.conflist.*10\.244\.0\.0\/26/);
  });

  test('a flapping condition does not storm: the recorder drops repeats within its window', async () => {
    const { reasons, rec } = observer();
    for (let i = 0; i < 20; i++) {
      reasons({ kernel: { inSync: false, error: 'e' } });
      reasons({ kernel: { inSync: true } });
    }
    await rec.r.flush();
    assert.deepEqual(rec.sent.map((e) => e.reason), ['KernelSyncFailed', 'KernelSyncRecovered']);
  });
});
