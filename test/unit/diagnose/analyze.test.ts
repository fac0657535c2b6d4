// The pure analysis of `weft diagnose`: one crafted fault per finding, each must yield exactly that
// finding (id, severity, node) with a remediation, and the healthy snapshot must yield nothing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FINDINGS, analyze, exitCodeFor } from '../../../cli/diagnose/analyze.ts';
import { parseAgentDiagnose } from '../../../cli/diagnose/agent-report.ts';
import type { AgentReport, Finding, Snapshot } from '../../../cli/diagnose/snapshot.ts';
import { NODES, agent, block, healthy, installation, nodeNetwork } from './fixtures.ts';

const a = (s: Snapshot, node: string) => s.agents[node] as AgentReport & { sysctls: { values: Record<string, number | null>; fresh: boolean } };
const nn = (s: Snapshot, node: string) => s.nodeNetworks.find((x) => x.metadata?.name === node)!;

function only(s: Snapshot, id: string, severity: string, node?: string): Finding {
  const got = analyze(s);
  assert.deepEqual(got.map((f) => [f.id, f.severity, f.node]), [[id, severity, node]], JSON.stringify(got, null, 2));
  const f = got[0]!;
  assert.ok(f.remediation.length > 20, 'remediation says what to do');
  assert.ok(f.evidence.length > 0, 'evidence is shown');
  assert.ok(FINDINGS[id], `${id} is documented in FINDINGS`);
  return f;
}

describe('weft diagnose analysis', () => {
  test('a healthy cluster yields no findings (exit code 0)', () => {
    assert.deepEqual(analyze(healthy()), []);
    assert.equal(exitCodeFor([]), 0);
  });

  test('exit codes: 1 for warnings only, 2 with a critical finding', () => {
    const w = { id: 'x', severity: 'warning', summary: '', evidence: [], remediation: '' } as Finding;
    assert.equal(exitCodeFor([w]), 1);
    assert.equal(exitCodeFor([w, { ...w, severity: 'critical' }]), 2);
  });

  test('no Installation', () => {
    const s = healthy();
    delete s.installation;
    only(s, 'installation-missing', 'critical');
  });

  test('operator Degraded, with its reason', () => {
    const s = healthy();
    s.installation!.status!.conditions![2] = { type: 'Degraded', status: 'True', reason: 'PoolOverlap', message: 'pools a and b overlap' };
    s.events.push({ type: 'Warning', reason: 'PoolOverlap', note: 'pools a and b overlap', kind: 'Installation', name: 'default', time: '' });
    const f = only(s, 'operator-degraded', 'critical');
    assert.match(f.summary, /PoolOverlap/);
    assert.match(f.remediation, /pools a and b overlap/);
  });

  test('rollout stalled: Progressing for longer than 10 minutes', () => {
    const s = healthy();
    s.installation!.status!.conditions![1] = { type: 'Progressing', status: 'True', reason: 'RolloutInProgress', message: '2/3 nodes ready', lastTransitionTime: '2026-01-01T11:30:00.000Z' };
    s.installation!.status!.configHash = 'def';
    nn(s, 'node-1').status!.configHash = 'def';
    nn(s, 'node-2').status!.configHash = 'def';
    const f = only(s, 'rollout-stalled', 'warning');
    assert.ok(f.evidence.some((e) => e.includes('node-3')), 'names the node not updated');
    s.installation!.status!.conditions![1]!.lastTransitionTime = '2026-01-01T11:55:00.000Z';
    assert.deepEqual(analyze(s), [], 'a rollout of 5 minutes is not stalled');
  });

  test('agent not Ready, with its reason', () => {
    const s = healthy();
    nn(s, 'node-2').status!.conditions = [{ type: 'Ready', status: 'False', reason: 'KernelSyncFailed', message: 'ip -batch failed' }];
    s.agentPods![1]!.ready = false;
    const f = only(s, 'agent-not-ready', 'critical', 'node-2');
    assert.match(f.evidence.join(' '), /KernelSyncFailed: ip -batch failed/);
    assert.match(f.remediation, /weft-node-1/);
  });

  test('a node without agent', () => {
    const s = healthy();
    s.nodeNetworks = s.nodeNetworks.filter((x) => x.metadata?.name !== 'node-3');
    delete s.agents['node-3'];
    s.agentPods = s.agentPods!.filter((p) => p.node !== 'node-3');
    s.tunnelProbes = [];
    only(s, 'agent-missing', 'critical', 'node-3');
  });

  test('agent endpoint unreachable', () => {
    const s = healthy();
    s.agents['node-1'] = { endpoint: 'http://198.18.0.11:9099/debug/diagnose', error: 'connect ECONNREFUSED' };
    only(s, 'agent-unreachable', 'warning', 'node-1');
  });

  test('pod MTU larger than the underlay allows; DF failures to that node are its evidence', () => {
    const s = healthy();
    (a(s, 'node-3').interfaces as { name: string; mtu: number }[]).find((i) => i.name === 'eth0')!.mtu = 1400;
    for (const p of s.dfProbes!) if (p.from === 'node-3' || p.to === 'node-3') p.ok = false;
    const f = only(s, 'mtu-exceeds-underlay', 'critical', 'node-3');
    assert.match(f.summary, /1450 \+ 50 .* 1400/);
    assert.match(f.remediation, /at most 1350/);
    assert.ok(f.evidence.some((e) => e.includes('DF ping node-1 -> node-3')));
  });

  test('DF probe failing on a path with every interface right', () => {
    const s = healthy();
    for (const p of s.dfProbes!) if ([p.from, p.to].sort().join() === 'node-1,node-3') p.ok = false;
    const f = only(s, 'mtu-path-df-failed', 'critical', 'node-1');
    assert.equal(f.peer, 'node-3');
  });

  test('conflist missing', () => {
    const s = healthy();
    a(s, 'node-2').conflistDir = { path: '/etc/cni/net.d', entries: [] };
    only(s, 'cni-conflist-missing', 'critical', 'node-2');
  });

  test('another CNI\'s conflist sorts before ours', () => {
    const s = healthy();
    a(s, 'node-2').conflistDir = { path: '/etc/cni/net.d', entries: ['05-calico.conflist', '10-weft.conflist', 'README'] };
    const f = only(s, 'cni-conflist-shadowed', 'critical', 'node-2');
    assert.match(f.remediation, /05-calico\.conflist/);
    a(s, 'node-2').conflistDir = { path: '/etc/cni/net.d', entries: ['10-weft.conflist', '20-other.conflist', '00-notes.txt'] };
    assert.deepEqual(analyze(s), [], 'files sorting after ours, or not CNI configs, are harmless');
  });

  test('conflist that does not parse', () => {
    const s = healthy();
    a(s, 'node-1').conflist = { name: '10-weft.conflist', error: 'Unexpected end of JSON input' };
    only(s, 'cni-conflist-invalid', 'critical', 'node-1');
  });

  test('plugin binary missing', () => {
    const s = healthy();
    a(s, 'node-1').cniBinDir = { path: '/opt/cni/bin', entries: ['host-local', 'portmap'] };
    const f = only(s, 'cni-plugin-missing', 'critical', 'node-1');
    assert.match(f.summary, /ptp/);
  });

  test('pool utilization: warning at 80%, critical at 95%', () => {
    const s = healthy();
    s.installation!.status!.ipPools![0]!.cidr = '10.244.0.0/24';
    s.installation!.spec.network!.ipPools![0]!.cidr = '10.244.0.0/24';
    // 4 blocks of 62 = 248 addresses; 3 blocks claimed.
    for (const b of s.blocks) b.status = { allocated: 60, capacity: 62 };
    for (const x of s.nodeNetworks) x.status!.blocks![0]!.allocated = 60;
    assert.deepEqual(analyze(s), [], '180 of 248 (72%) is fine');
    const fourth = { ...block({ ...NODES[0]!, block: '10.244.0.192/26' }), status: { allocated: 20, capacity: 62 } };
    s.blocks.push(fourth);
    const f = only(s, 'ipam-pool-utilization', 'warning');
    assert.match(f.evidence[0]!, /200 of 248/);
    fourth.status.allocated = 58;
    assert.equal(analyze(s).find((x) => x.id === 'ipam-pool-utilization')!.severity, 'critical');
  });

  test('node blocks full: warning while the pool has free blocks, critical when not', () => {
    const s = healthy();
    s.blocks[0]!.status = { allocated: 62, capacity: 62 };
    nn(s, 'node-1').status!.blocks![0]!.allocated = 62;
    only(s, 'ipam-node-blocks-full', 'warning', 'node-1');
    s.installation!.status!.ipPools![0]!.cidr = '10.244.0.0/24';
    s.blocks.push({ ...block({ ...NODES[1]!, block: '10.244.0.192/26' }), status: { allocated: 0, capacity: 62 } });
    const f = analyze(s).find((x) => x.id === 'ipam-node-blocks-full')!;
    assert.equal(f.severity, 'critical');
  });

  test('leaked addresses, counted per node', () => {
    const s = healthy();
    nn(s, 'node-1').status!.ipam!.leaked = 3;
    const f = only(s, 'ipam-leaked-addresses', 'warning', 'node-1');
    assert.match(f.summary, /^3 addresses/);
    const t = healthy();
    a(t, 'node-2').leaked = 1;
    only(t, 'ipam-leaked-addresses', 'warning', 'node-2');
  });

  test('block owned by a node that no longer exists, or by an earlier node of that name', () => {
    const s = healthy();
    s.blocks.push(block({ ...NODES[0]!, name: 'node-9', block: '10.244.1.0/26' }));
    only(s, 'ipam-orphan-block', 'warning', 'node-9');
    const t = healthy();
    t.blocks[1] = block(NODES[1]!, 'uid-of-an-earlier-node-2');
    only(t, 'ipam-orphan-block', 'warning', 'node-2');
  });

  function bgp(): Snapshot {
    const s = healthy();
    s.installation = installation('None', 'bgp', 1500);
    for (const n of NODES) {
      const r = a(s, n.name);
      r.backend = 'bgp';
      r.fdb = { unavailable: 'no VXLAN device' };
      r.neighbours = [];
      r.interfaces = (r.interfaces as { name: string }[]).filter((i) => i.name !== 'weft.vxlan') as AgentReport['interfaces'];
      r.bgp = NODES.filter((p) => p !== n).map((p) => ({ peer: p.address, name: `node_${p.name}`, state: 'Established' }));
      delete nn(s, n.name).status!.vtep;
      nn(s, n.name).status!.podMTU = 1500;
    }
    s.tunnelProbes = [];
    return s;
  }

  test('BGP healthy yields nothing', () => assert.deepEqual(analyze(bgp()), []));

  test('BIRD down on a node: one finding there, the peers\' sessions to it are its evidence', () => {
    const s = bgp();
    a(s, 'node-2').bgp = { unavailable: 'birdc: Unable to connect to server control socket' };
    for (const n of ['node-1', 'node-3']) for (const x of a(s, n).bgp as { peer: string; state: string }[]) if (x.peer === '198.18.0.12') x.state = 'Active';
    nn(s, 'node-1').status!.conditions = [{ type: 'Ready', status: 'False', reason: 'PeersUnreachable', message: 'BGP sessions not established: 198.18.0.12 Active' }];
    const f = only(s, 'bgp-daemon-down', 'critical', 'node-2');
    assert.ok(f.evidence.some((e) => e.includes("node-1's session")));
  });

  test('one BGP session down, with the peer', () => {
    const s = bgp();
    (a(s, 'node-1').bgp as { peer: string; state: string; info?: string }[])[1] = { peer: '198.18.1.13', state: 'Connect', info: 'Socket: Connection refused' };
    const f = only(s, 'bgp-session-down', 'critical', 'node-1');
    assert.equal(f.peer, 'node-3');
    assert.match(f.evidence[0]!, /Connection refused/);
  });

  test('a session to a configured router down: the peer, BIRD\'s last error and the fix (password key, AS, multihop)', () => {
    const s = bgp();
    s.installation!.spec!.network!.bgp = { ...s.installation!.spec!.network!.bgp, peers: [{ peerIP: '198.18.9.2', asNumber: 65000, passwordSecretKey: 'tor-a' }, { peerIP: '198.18.9.3', asNumber: 65000 }] };
    (a(s, 'node-1').bgp as object[]).push({ peer: '198.18.9.2', state: 'Active', info: 'Active  Hold timer expired', lastError: 'Hold timer expired' });
    const f = only(s, 'bgp-session-down', 'critical', 'node-1');
    assert.equal(f.peer, '198.18.9.2');
    assert.match(f.evidence[0]!, /last error: Hold timer expired/);
    assert.match(f.remediation, /key tor-a of Secret weft-system\/weft-bgp-passwords/);
    (a(s, 'node-1').bgp as object[]).pop();
    (a(s, 'node-1').bgp as object[]).push({ peer: '198.18.9.3', state: 'Idle', lastError: 'Received: Bad peer AS' });
    assert.match(only(s, 'bgp-session-down', 'critical', 'node-1').remediation, /AS numbers do not match/);
    (a(s, 'node-1').bgp as object[]).pop();
    (a(s, 'node-1').bgp as object[]).push({ peer: '198.18.9.3', state: 'Connect', lastError: 'Socket: No route to host' });
    assert.match(only(s, 'bgp-session-down', 'critical', 'node-1').remediation, /set ebgpMultihop/);
  });

  test('VXLAN FDB entry missing, with the peer (the failing tunnel ping it causes is not another finding)', () => {
    const s = healthy();
    a(s, 'node-1').fdb = [];
    s.tunnelProbes![0]!.tunnelOk = false;
    const f = only(s, 'vxlan-fdb-missing', 'critical', 'node-1');
    assert.equal(f.peer, 'node-3');
  });

  test('VXLAN neighbour entry missing', () => {
    const s = healthy();
    a(s, 'node-3').neighbours = (a(s, 'node-3').neighbours as { dst: string }[]).filter((x) => x.dst !== NODES[1]!.vtepIp) as AgentReport['neighbours'];
    const f = only(s, 'vxlan-neighbour-missing', 'critical', 'node-3');
    assert.equal(f.peer, 'node-2');
  });

  test('UDP 4789 dropped on one node: blamed on the node every failing pair has in common', () => {
    const s = healthy();
    for (const p of s.tunnelProbes!) p.tunnelOk = false;
    const f = only(s, 'vxlan-udp-blocked', 'critical', 'node-3');
    assert.equal(f.peer, 'node-1,node-2');
  });

  test('address autodetected on a container bridge, a CNI interface, or inside a pod pool', () => {
    const s = healthy();
    nn(s, 'node-2').status!.interface = 'cni0';
    nn(s, 'node-2').status!.address = '10.88.0.1/16';
    const r = a(s, 'node-2');
    (r.interfaces as unknown[]).push({ name: 'cni0', mtu: 1500, kind: 'bridge', up: true, addresses: ['10.88.0.1/16'] }, { name: 'veth1234', mtu: 1500, kind: 'veth', master: 'cni0', up: true, addresses: [] });
    s.tunnelProbes = [];
    // The peers' FDB entries follow the address it reported, so only the address is wrong.
    for (const n of ['node-1', 'node-3']) a(s, n).fdb = a(s, n).fdb;
    const got = analyze(s).filter((f) => f.id === 'address-wrong-interface');
    assert.deepEqual(got.map((f) => [f.severity, f.node]), [['critical', 'node-2']]);
    assert.match(got[0]!.evidence.join(' '), /container bridge/);
    const t = healthy();
    nn(t, 'node-1').status!.interface = 'br0';
    (a(t, 'node-1').interfaces as unknown[]).push({ name: 'br0', mtu: 1500, kind: 'bridge', up: true, addresses: [] }, { name: 'ens3', mtu: 1500, kind: '', master: 'br0', up: true, addresses: [] });
    assert.deepEqual(analyze(t), [], 'a bridge with a physical uplink port is a legitimate underlay');
  });

  test('host-gw across subnets', () => {
    const s = healthy();
    s.installation = installation('None', 'host-gw', 1500);
    for (const n of NODES) { delete nn(s, n.name).status!.vtep; nn(s, n.name).status!.podMTU = 1500; a(s, n.name).fdb = { unavailable: 'no VXLAN device' }; }
    s.tunnelProbes = [];
    const f = only(s, 'hostgw-nodes-not-one-subnet', 'critical', 'node-3');
    assert.match(f.evidence.join(' '), /198\.18\.0\.0\/24: node-1, node-2/);
  });

  test('ip_forward off', () => {
    const s = healthy();
    a(s, 'node-2').sysctls.values['net/ipv4/ip_forward'] = 0;
    only(s, 'kernel-ip-forward-off', 'critical', 'node-2');
  });

  test('strict rp_filter on the tunnel path (effective value: the larger of all and the device)', () => {
    const s = healthy();
    a(s, 'node-1').sysctls.values['net/ipv4/conf/all/rp_filter'] = 1;
    a(s, 'node-1').sysctls.values['net/ipv4/conf/weft.vxlan/rp_filter'] = 0;
    only(s, 'kernel-rp-filter-strict', 'warning', 'node-1');
  });

  test('gc_thresh3 below what the node count needs', () => {
    const s = healthy();
    a(s, 'node-3').sysctls.values['net/ipv4/neigh/default/gc_thresh3'] = 4;
    only(s, 'kernel-gc-thresh3-low', 'warning', 'node-3');
  });

  test('conntrack table near full: warning at 80%, critical at 95%', () => {
    const s = healthy();
    a(s, 'node-1').conntrack = { count: 850, max: 1000 };
    only(s, 'kernel-conntrack-near-full', 'warning', 'node-1');
    a(s, 'node-1').conntrack = { count: 990, max: 1000 };
    only(s, 'kernel-conntrack-near-full', 'critical', 'node-1');
  });

  test('--node keeps that node\'s and cluster-wide findings only', () => {
    const s = healthy();
    a(s, 'node-1').sysctls.values['net/ipv4/ip_forward'] = 0;
    a(s, 'node-2').sysctls.values['net/ipv4/ip_forward'] = 0;
    delete s.installation!.status!.conditions;
    s.onlyNode = 'node-2';
    assert.deepEqual(analyze(s).map((f) => f.node), ['node-2']);
  });

});

describe('parsing /debug/diagnose', () => {
  test('sections the agent serves, and Unavailable for what it does not', () => {
    const r = parseAgentDiagnose('http://x/debug/diagnose', {
      collectedAt: 't', agent: { ready: true, backend: 'vxlan', lastError: '', ipam: { leaked: 2 } },
      interfaces: [{ ifname: 'eth0', mtu: 1500, flags: ['UP'], linkinfo: { info_kind: 'veth' }, addr_info: [{ family: 'inet', local: '198.18.0.11', prefixlen: 24 }] }],
      fdb: [{ mac: '0E:57:C6:12:01:0D', dst: '198.18.1.13', flags: ['self'], state: 'permanent' }],
      neighbours: [{ dst: '10.244.0.128', dev: 'weft.vxlan', lladdr: '0e:57:c6:12:01:0d', state: ['PERMANENT'] }],
      cniConfDir: { path: '/etc/cni/net.d', entries: [{ name: '10-weft.conflist', size: 100 }] },
      sysctls: [{ key: 'net/ipv4/ip_forward', wanted: 1, observed: 0, set: true }, { key: 'net/ipv4/neigh/default/gc_thresh3', wanted: 1024, observed: null, set: false }],
      bgpSessions: [],
    });
    assert.deepEqual(r.interfaces, [{ name: 'eth0', mtu: 1500, kind: 'veth', up: true, addresses: ['198.18.0.11/24'] }]);
    assert.deepEqual(r.fdb, [{ mac: '0e:57:c6:12:01:0d', dst: '198.18.1.13' }]);
    assert.deepEqual(r.conflistDir, { path: '/etc/cni/net.d', entries: ['10-weft.conflist'] });
    assert.deepEqual(r.sysctls, { fresh: false, values: { 'net/ipv4/ip_forward': 1, 'net/ipv4/neigh/default/gc_thresh3': null } });
    assert.equal(r.leaked, 2);
    assert.equal(r.bgp, undefined, 'no BGP sessions outside BGP mode');
    assert.match((r.conntrack as { unavailable: string }).unavailable, /not in the agent/);
    const e = parseAgentDiagnose('u', { fdb: { error: 'Cannot find device "weft.vxlan"' } });
    assert.deepEqual(e.fdb, { unavailable: 'VXLAN FDB: Cannot find device "weft.vxlan"' });
  });

  test('the same analysis on a report parsed from the endpoint: healthy stays healthy', () => {
    const s = healthy();
    const n = NODES[0]!;
    s.agents['node-1'] = { ...parseAgentDiagnose(agent(n).endpoint, {
      agent: { ready: true, backend: 'vxlan-crosssubnet' },
      interfaces: [{ ifname: 'eth0', mtu: 1500, flags: ['UP'], linkinfo: { info_kind: 'veth' }, addr_info: [{ local: n.address, prefixlen: 24 }] }],
      fdb: [{ mac: NODES[2]!.mac, dst: NODES[2]!.address }],
      neighbours: [{ dst: NODES[2]!.vtepIp, dev: 'weft.vxlan', lladdr: NODES[2]!.mac, state: ['PERMANENT'] }],
      cniConfDir: { path: '/etc/cni/net.d', entries: [{ name: '10-weft.conflist' }] },
      sysctls: [{ key: 'net/ipv4/ip_forward', wanted: 1, observed: 1, set: false }],
    }) };
    assert.deepEqual(analyze(s), []);
    void nodeNetwork;
  });
});
