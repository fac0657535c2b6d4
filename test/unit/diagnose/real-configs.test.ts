// `weft diagnose` on snapshots of configurations real clusters have (issue 21): copies of one
// address, a pool containing the node network, a pool with fewer blocks than nodes, a floating
// address that moved, a BGP full mesh with one node in another subnet. One cause gives one
// finding, with its symptoms beneath; every fix it suggests is accepted by the schema and brings
// no new render problem for the same facts; every field it names exists.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { analyze } from '../../../cli/diagnose/analyze.ts';
import { formatTable } from '../../../cli/diagnose/format.ts';
import type { Finding, Snapshot } from '../../../cli/diagnose/snapshot.ts';
import { applyFix, describeFix } from '../../../api/advice.ts';
import { validateInstallation } from '../../../api/validation/validate.ts';
import type { Installation, NodeNetwork } from '../../../api/index.ts';
import { render, type ClusterFacts } from '../../../render/index.ts';
import { unknownFieldWords } from '../api/schema-fields.ts';
import { NODES, agent, block, healthy, installation, nodeNetwork, type N } from './fixtures.ts';

const nn = (s: Snapshot, node: string) => s.nodeNetworks.find((x) => x.metadata?.name === node)!;
const top = (s: Snapshot) => analyze(s).map((f) => f.id);

/** The Installation as the user wrote it (spec only), for validating and rendering fixes. */
function specOnly(inst: Installation): Installation {
  return { apiVersion: inst.apiVersion, kind: inst.kind, metadata: { name: 'default' }, spec: structuredClone(inst.spec) } as Installation;
}

/** What the operator would hand render for this snapshot. */
function factsOf(s: Snapshot): ClusterFacts {
  return {
    nodes: s.nodes.map((n) => {
      const st = s.nodeNetworks.find((x) => x.metadata?.name === n.name)?.status;
      return { name: n.name, ...(st?.address ? { address: st.address } : {}), ...(st?.mtu ? { mtu: st.mtu } : {}), labels: n.labels ?? {}, internalIPs: n.internalIPs };
    }),
  };
}

function duplicated(): Snapshot {
  const s = healthy();
  s.nodes.forEach((n, i) => { n.internalIPs = [`198.51.100.${11 + i}`]; });
  for (const n of NODES) {
    nn(s, n.name).status!.address = '10.0.2.15/24';
    (s.agents[n.name]!.interfaces as { name: string; addresses: string[] }[]).find((i) => i.name === 'eth0')!.addresses = ['10.0.2.15/24'];
  }
  s.tunnelProbes = [];
  return s;
}

function poolOverNodes(): Snapshot {
  const s = healthy();
  s.installation!.spec!.network!.ipPools![0]!.cidr = '192.168.0.0/16';
  s.installation!.status!.ipPools![0]!.cidr = '192.168.0.0/16';
  NODES.forEach((n, i) => {
    const cidr = `192.168.1.${21 + i}/24`;
    nn(s, n.name).status!.address = cidr;
    (s.agents[n.name]!.interfaces as { name: string; addresses: string[] }[]).find((x) => x.name === 'eth0')!.addresses = [cidr];
    s.nodes[i]!.internalIPs = [cidr.split('/')[0]!];
  });
  s.installation!.status!.ipPools![0]!.encapsulation = 'None';
  s.installation!.status!.ipPools![0]!.dataplane = 'host-gw';
  for (const n of NODES) { delete nn(s, n.name).status!.vtep; s.agents[n.name]!.fdb = { unavailable: 'no VXLAN device' }; }
  s.tunnelProbes = [];
  return s;
}

/** 34 nodes on a /21 of /26 blocks (32 blocks): nodes 33 and 34 hold none and are NotReady NoBlocks. */
function outOfBlocks(): Snapshot {
  const nodes: N[] = Array.from({ length: 34 }, (_, i) => ({
    name: `node-${String(i + 1).padStart(2, '0')}`, address: `198.18.0.${i + 11}`, cidr: `198.18.0.${i + 11}/24`,
    block: `10.96.${Math.floor(i / 4)}.${(i % 4) * 64}/26`, vtepIp: `10.96.${Math.floor(i / 4)}.${(i % 4) * 64}`, mac: `0e:57:c6:12:00:${(i + 11).toString(16).padStart(2, '0')}`,
  }));
  const inst = installation('None', 'host-gw', 1500);
  inst.spec!.network!.ipPools = [{ name: 'default', cidr: '10.96.0.0/21', blockSize: 26, encapsulation: 'Auto', natOutgoing: 'Enabled' }];
  inst.status!.ipPools = [{ name: 'default', cidr: '10.96.0.0/21', blockSize: 26, encapsulation: 'None', dataplane: 'host-gw' }];
  const nns: NodeNetwork[] = nodes.map((n, i) => {
    const x = nodeNetwork(n, 1500);
    delete x.status!.vtep;
    if (i >= 32) {
      x.status!.blocks = [];
      x.status!.conditions = [{ type: 'Ready', status: 'False', reason: 'NoBlocks', message: 'pool default has no free block left for this node' }];
    }
    return x;
  });
  return {
    collectedAt: '2026-01-01T12:00:00.000Z', installation: inst,
    nodes: nodes.map((n) => ({ name: n.name, uid: `uid-${n.name}`, internalIPs: [n.address], ready: true, labels: {} })),
    nodeNetworks: nns, blocks: nodes.slice(0, 32).map((n) => block(n)), pods: [], events: [], agents: {},
  };
}

/** BGP full mesh; node-4 joined in 198.18.2.0/24, every session across the subnets is down. */
function meshAcrossSubnets(): Snapshot {
  const four: N[] = [...NODES.slice(0, 2), { ...NODES[2]!, address: '198.18.0.13', cidr: '198.18.0.13/24' }, { name: 'node-4', address: '198.18.2.14', cidr: '198.18.2.14/24', block: '10.244.0.192/26', vtepIp: '10.244.0.192', mac: '0e:57:c6:12:02:0e' }];
  const inst = installation('None', 'bgp', 1500);
  inst.spec!.network!.bgp = { mode: 'FullMesh' };
  inst.spec!.network!.ipPools![0]!.encapsulation = 'None';
  inst.status!.conditions![2] = { type: 'Degraded', status: 'True', reason: 'BGPMeshAcrossSubnets', message: 'pool default is routed by a BGP full mesh, but its nodes are in different subnets' };
  const agents = Object.fromEntries(four.map((n) => {
    const a = agent(n, four, true);
    a.fdb = { unavailable: 'no VXLAN device' };
    a.bgp = four.filter((p) => p !== n).map((p) => {
      const across = (p.name === 'node-4') !== (n.name === 'node-4');
      return { peer: p.address, name: `node_${p.name}`, state: across ? 'Active' : 'Established', ...(across ? { info: 'Socket: Connection timed out' } : {}) };
    });
    return [n.name, a];
  }));
  return {
    collectedAt: '2026-01-01T12:00:00.000Z', installation: inst,
    nodes: four.map((n) => ({ name: n.name, uid: `uid-${n.name}`, internalIPs: [n.address], ready: true, labels: {} })),
    nodeNetworks: four.map((n) => { const x = nodeNetwork(n, 1500); delete x.status!.vtep; return x; }),
    blocks: four.map((n) => block(n)), pods: [], events: [], agents,
  };
}

/** node-1 advertises a keepalived /32 that has moved to node-2; the tunnel pings to node-1 fail. */
function addressMoved(): Snapshot {
  const s = healthy();
  nn(s, 'node-1').status!.address = '198.18.0.100/32';
  nn(s, 'node-1').status!.autodetectionMethod = 'cidrs=198.18.0.0/24';
  (s.agents['node-2']!.interfaces as { name: string; addresses: string[] }[]).find((i) => i.name === 'eth0')!.addresses.push('198.18.0.100/32');
  // The peers programmed what node-1 advertises, so every entry is present and only the path fails.
  for (const e of s.agents['node-3']!.fdb as { mac: string; dst?: string }[]) if (e.dst === '198.18.0.11') e.dst = '198.18.0.100';
  for (const p of s.tunnelProbes!) if (p.to === 'node-1' || p.from === 'node-1') p.tunnelOk = false;
  return s;
}

describe('diagnose on real configurations', () => {
  test('copies of one address: one finding naming the nodes, the address, the InternalIPs and the fix', () => {
    const got = analyze(duplicated());
    assert.deepEqual(got.map((f) => f.id), ['underlay-address-duplicated'], JSON.stringify(got, null, 2));
    const f = got[0]!;
    assert.equal(f.peer, 'node-1,node-2,node-3');
    assert.match(f.summary, /10\.0\.2\.15/);
    assert.ok(f.evidence.some((e) => /differs from every Node's InternalIP/.test(e)));
    assert.ok(f.evidence.some((e) => /198\.51\.100\.11/.test(e)));
    assert.deepEqual(f.fixes, [[{ path: 'spec.network.nodeAddressAutodetectionV4', value: { kubernetes: 'NodeInternalIP' } }]]);
    // The operator's Degraded of the same cause is a symptom, not a second finding.
    const s = duplicated();
    s.installation!.status!.conditions![2] = { type: 'Degraded', status: 'True', reason: 'DuplicateUnderlayAddress', message: 'nodes node-1, node-2, node-3 all report 10.0.2.15' };
    const g = analyze(s);
    assert.deepEqual(g.map((x) => x.id), ['underlay-address-duplicated']);
    assert.deepEqual(g[0]!.symptoms!.map((x) => x.id), ['operator-degraded']);
  });

  test('a pool containing the node network: one finding on the pool, not three on autodetection', () => {
    const got = analyze(poolOverNodes());
    assert.deepEqual(got.map((f) => f.id), ['pool-overlaps-node-subnet'], JSON.stringify(got, null, 2));
    assert.match(got[0]!.summary, /192\.168\.0\.0\/16.*192\.168\.1\.0\/24/);
    assert.match(got[0]!.remediation, /outside the node network/);
    assert.doesNotMatch(got[0]!.remediation, /kubernetesInternalIP/);
  });

  test('fewer blocks than nodes: the pool is named out of blocks, the NoBlocks agents are its symptoms', () => {
    const got = analyze(outOfBlocks());
    assert.deepEqual(got.map((f) => f.id), ['ipam-pool-out-of-blocks'], JSON.stringify(got.map((f) => [f.id, f.node, f.summary]), null, 2));
    assert.match(got[0]!.summary, /32 blocks for 34 nodes/);
    assert.match(got[0]!.evidence.join(' '), /node-33, node-34/);
    assert.ok(got[0]!.fixes?.length, 'suggests a new pool');
  });

  test('a floating address that moved: "the address node-1 advertises is no longer on node-1", the failing tunnel is its symptom', () => {
    const got = analyze(addressMoved());
    assert.deepEqual(got.map((f) => [f.id, f.node]), [['underlay-address-gone', 'node-1']], JSON.stringify(got, null, 2));
    assert.match(got[0]!.summary, /the address node-1 advertises is no longer on node-1/);
    assert.ok(got[0]!.evidence.some((e) => /now on node-2/.test(e)));
    assert.ok(got[0]!.symptoms?.some((x) => x.id === 'vxlan-udp-blocked'), 'the UDP 4789 blame is a symptom');
  });

  test('one cause, one finding: a BGP full mesh with one node in another subnet', () => {
    const s = meshAcrossSubnets();
    const got = analyze(s);
    assert.deepEqual(got.map((f) => f.id), ['bgp-mesh-across-subnets'], JSON.stringify(got.map((f) => [f.id, f.node, f.peer]), null, 2));
    const f = got[0]!;
    assert.equal(f.peer, 'node-4');
    assert.equal(f.symptoms!.length, 7, 'six sessions down and the operator Degraded');
    assert.deepEqual(f.fixes, [[{ path: 'spec.network.ipPools[0].encapsulation', value: 'VXLANCrossSubnet' }]]);
    const text = formatTable(got, s);
    const [cause, fix, symptoms] = ['bgp-mesh-across-subnets', 'fix: set spec.network.ipPools[0].encapsulation: VXLANCrossSubnet', 'symptoms of this cause (7)'].map((x) => text.indexOf(x)) as [number, number, number];
    assert.ok(cause >= 0 && cause < fix && fix < symptoms, text);
  });
});

const snapshots: [string, () => Snapshot][] = [
  ['duplicated', duplicated], ['pool over nodes', poolOverNodes], ['out of blocks', outOfBlocks], ['address moved', addressMoved], ['mesh across subnets', meshAcrossSubnets],
  ['host-gw across subnets', () => {
    const s = healthy();
    s.installation = installation('None', 'host-gw', 1500);
    s.installation.spec!.network!.ipPools![0]!.encapsulation = 'None';
    return s;
  }],
  ['address on a container bridge', () => {
    const s = healthy();
    nn(s, 'node-2').status!.interface = 'cni0';
    nn(s, 'node-2').status!.address = '10.88.0.1/16';
    return s;
  }],
];

const all = (fs: Finding[]): Finding[] => fs.flatMap((f) => [f, ...all(f.symptoms ?? [])]);

describe('diagnose advice', () => {
  test('every fix is accepted by the schema and brings no new render problem for the same facts', () => {
    let n = 0;
    for (const [name, make] of snapshots) {
      const s = make();
      const inst = specOnly(s.installation!);
      const facts = factsOf(s);
      const before = render(inst, facts).degraded.map((p) => p.reason);
      for (const f of all(analyze(s))) {
        if (/\bset spec\./.test(f.remediation)) assert.ok(f.fixes?.length, `${name}: ${f.id} suggests a setting but carries no fix: ${f.remediation}`);
        for (const fix of f.fixes ?? []) {
          n++;
          assert.ok(f.remediation.includes(describeFix(fix)), `${name}: ${f.id}: "${describeFix(fix)}" not in ${f.remediation}`);
          const fixed = applyFix(inst, fix);
          assert.deepEqual(validateInstallation(fixed), [], `${name}: ${f.id}: ${describeFix(fix)} is rejected`);
          const added = render(fixed, facts).degraded.map((p) => p.reason).filter((r) => !before.includes(r));
          assert.deepEqual(added, [], `${name}: ${f.id}: ${describeFix(fix)} brings ${added.join(', ')}`);
        }
      }
    }
    assert.ok(n >= 7, `expected at least 7 fixes across the snapshots, got ${n}`);
  });

  test('every field a finding names exists in the schema', () => {
    for (const [name, make] of snapshots) {
      for (const f of all(analyze(make()))) {
        for (const text of [f.summary, f.remediation, ...f.evidence]) assert.deepEqual(unknownFieldWords(text), [], `${name}: ${f.id}: ${text}`);
      }
    }
  });

  test('every Installation field named in the source of render and diagnose exists in the schema', () => {
    const files = ['cli/diagnose/analyze.ts', 'render/index.ts', 'render/encapsulation.ts', 'render/mtu.ts', 'render/pools.ts', 'render/underlay.ts', 'components/node/detect/autodetect.ts'];
    for (const file of files) {
      const src = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
      // Interpolations become index 0, so spec.network.ipPools[${i}].cidr reads as a path.
      const text = src.replace(/\[\$\{[^}]*\}\]/g, '[0]').replace(/\$\{[^{}]*\}/g, '4');
      // Paths into the Installation's spec sections; `spec.pools` and the like are render's own NormalizedSpec in code.
      const bad = [...text.matchAll(/(?<![\w.])spec\.(?:network|cni|nodeAgent|nodeUpdateStrategy)(?:\.[A-Za-z0-9_]+(?:\[\d+\])*)+/g)].map((m) => m[0]).filter((p) => unknownFieldWords(p).length > 0);
      assert.deepEqual([...new Set(bad)], [], `${file} names fields the schema does not have`);
    }
  });
});
