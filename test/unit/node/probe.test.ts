// /debug/probe: only peers' underlay and VTEP addresses, bounded sizes, few at once; and the
// real thing end to end over HTTP with real pings to loopback addresses.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { ProbeHandler, ProbeRequestError, parseProbeRequest, probePeers, type ProbePeer } from '../../../components/node/agent/probe.ts';
import type { NodeNetworkObject } from '../../../components/node/agent/kube.ts';
import { startAgentHttpServer } from '../../../components/node/health/server.ts';
import { execRunner } from '../../../components/node/kernel/exec.ts';
import { remoteDfProbes, remoteTunnelProbes } from '../../../cli/diagnose/remote-probe.ts';

const PEERS: ProbePeer[] = [
  { name: 'node-2', address: '198.18.0.12', vtep: '10.244.1.0' },
  { name: 'node-3', address: '198.18.0.13' },
];

function refused(q: string, status: 400 | 403): string {
  try {
    parseProbeRequest(new URLSearchParams(q), PEERS);
  } catch (e) {
    assert.ok(e instanceof ProbeRequestError, String(e));
    assert.equal(e.status, status, `${q}: ${e.message}`);
    return e.message;
  }
  assert.fail(`${q} was accepted`);
}

describe('probe target validation', () => {
  test('peer underlay and VTEP addresses are accepted, with size and df', () => {
    assert.deepEqual(parseProbeRequest(new URLSearchParams('to=198.18.0.12&size=1422&df=1'), PEERS), { kind: 'ping', to: '198.18.0.12', peer: 'node-2', size: 1422, df: true });
    assert.deepEqual(parseProbeRequest(new URLSearchParams('to=10.244.1.0'), PEERS), { kind: 'ping', to: '10.244.1.0', peer: 'node-2', df: false });
    assert.deepEqual(parseProbeRequest(new URLSearchParams('tunnel=node-2'), PEERS), { kind: 'tunnel', peer: 'node-2', address: '198.18.0.12', tunnelAddress: '10.244.1.0' });
  });

  test('anything else is refused and says why', () => {
    assert.match(refused('to=8.8.8.8', 403), /not the underlay or VTEP address of a peer/);
    assert.match(refused('to=127.0.0.1', 403), /peer/);
    refused('to=198.18.0.11', 403); // this node itself is not a peer
    refused('tunnel=node-9', 403);
    assert.match(refused('tunnel=node-3', 400), /no VTEP/);
    refused('', 400);
    refused('to=198.18.0.12&tunnel=node-2', 400);
    refused('to=198.18.0.12&size=65508', 400);
    refused('to=198.18.0.12&size=-1', 400);
    refused('to=198.18.0.12&size=1e3', 400);
    refused('to=198.18.0.12&df=yes', 400);
    refused('to=198.18.0.12&count=1000', 400);
    refused('tunnel=node-2&size=100', 400);
    // Forms inet_aton would read as a peer's address, or options ping would parse.
    for (const q of ['to=3323068428', 'to=0xc6.18.0.12', 'to=198.18.12', 'to=198.018.000.012', 'to=-f', 'to=198.18.0.12%20-f', 'to=%20198.18.0.12']) refused(q, 400);
  });

  test('no random query is ever accepted unless it names a peer', () => {
    const allowed = new Set(PEERS.flatMap((p) => [p.address, p.vtep].filter(Boolean)));
    fc.assert(fc.property(fc.string(), fc.oneof(fc.string(), fc.ipV4(), fc.ipV4Extended()), (key, value) => {
      const q = new URLSearchParams();
      q.set(['to', 'tunnel', key][value.length % 3]!, value);
      try {
        const r = parseProbeRequest(q, PEERS);
        return r.kind === 'ping' ? allowed.has(r.to) : PEERS.some((p) => p.name === r.peer && p.vtep === r.tunnelAddress);
      } catch (e) {
        return e instanceof ProbeRequestError;
      }
    }), { numRuns: 2000 });
  });

  test('peers come from the NodeNetworks, without this node and nodes being deleted', () => {
    const nn = (name: string, status: Record<string, unknown>, deleting = false) => ({ metadata: { name, ...(deleting ? { deletionTimestamp: 'x' } : {}) }, spec: { nodeName: name }, status }) as unknown as NodeNetworkObject;
    assert.deepEqual(probePeers([
      nn('node-1', { address: '198.18.0.11/24' }),
      nn('node-2', { address: '198.18.0.12/24', vtep: { mac: '0e:57:00:00:00:01', ip: '10.244.1.0' } }),
      nn('node-3', { address: '198.18.0.13/24' }, true),
      nn('node-4', {}),
    ], 'node-1'), [{ name: 'node-2', address: '198.18.0.12', vtep: '10.244.1.0' }]);
  });
});

describe('probing for real (loopback addresses stand in for peers)', () => {
  const canPing = spawnSync('ping', ['-n', '-c', '1', '-W', '1', '127.0.0.1']).status === 0;

  test('HTTP: 200 with the ping result, 403 for a non-peer, 400 for bad input, 429 over the limit', async (t) => {
    if (!canPing) { t.skip('ping to 127.0.0.1 does not work here (no ping binary or no permission)'); return; }
    const handler = new ProbeHandler({ runner: execRunner(), peers: () => [{ name: 'peer', address: '127.0.0.2', vtep: '127.0.0.3' }], maxConcurrent: 1 });
    const server = await startAgentHttpServer({ port: 0, host: '127.0.0.1', registry: new Registry(), healthz: () => ({ ok: true }), readyz: () => ({ ok: true }), diagnose: async () => ({}), probe: (q) => handler.handle(q) });
    try {
      const get = async (q: string) => { const r = await fetch(`http://127.0.0.1:${server.port}/debug/probe?${q}`); return { status: r.status, body: await r.json() as Record<string, unknown> }; };
      const ok = await get('to=127.0.0.2&size=1400&df=1');
      assert.equal(ok.status, 200);
      assert.equal(ok.body.ok, true, JSON.stringify(ok.body));
      assert.deepEqual([ok.body.peer, ok.body.size, ok.body.df], ['peer', 1400, true]);
      const tunnel = await get('tunnel=peer');
      assert.deepEqual([tunnel.status, (tunnel.body.underlay as { ok: boolean }).ok, (tunnel.body.tunnel as { ok: boolean }).ok, tunnel.body.tunnelAddress], [200, true, true, '127.0.0.3']);
      assert.equal((await get('to=127.0.0.1')).status, 403);
      assert.equal((await get('to=127.0.0.2&size=99999')).status, 400);
      const [a, b] = await Promise.all([get('to=127.0.0.2'), get('to=127.0.0.2')]);
      assert.deepEqual([a.status, b.status].sort(), [200, 429], 'one probe at a time with maxConcurrent 1');
    } finally {
      await server.close();
    }
  });

  test('weft diagnose uses the endpoint: DF and tunnel probes from an agent', async (t) => {
    if (!canPing) { t.skip('ping to 127.0.0.1 does not work here (no ping binary or no permission)'); return; }
    const handler = new ProbeHandler({ runner: execRunner(), peers: () => [{ name: 'node-b', address: '127.0.0.2', vtep: '127.0.0.3' }] });
    const server = await startAgentHttpServer({ port: 0, host: '127.0.0.1', registry: new Registry(), healthz: () => ({ ok: true }), readyz: () => ({ ok: true }), diagnose: async () => ({}), probe: (q) => handler.handle(q) });
    try {
      const from = [{ name: 'node-a', agent: `http://127.0.0.1:${server.port}` }];
      const df = await remoteDfProbes([[from[0]!, { name: 'node-b', address: '127.0.0.2' }], [from[0]!, { name: 'node-c', address: '127.0.0.4' }]], 1472, 5000, 2);
      // node-c is not a peer of that agent: it refuses, and no probe result (no finding) comes of it.
      assert.deepEqual(df, [{ from: 'node-a', to: 'node-b', size: 1472, ok: true, smallOk: true }]);
      const tunnel = await remoteTunnelProbes([{ from: from[0]!, to: 'node-b' }, { from: from[0]!, to: 'node-c' }], 5000, 2);
      assert.deepEqual(tunnel, [{ from: 'node-a', to: 'node-b', tunnelAddress: '127.0.0.3', underlayOk: true, tunnelOk: true }]);
    } finally {
      await server.close();
    }
  });
});
