// Configurations real clusters have (issue 21), rendered with facts: copies of one address, a pool
// containing the nodes' own network, a pool with fewer blocks than nodes. And the advice: every
// setting a problem suggests is applied, validated with the API server's rules and rendered
// against the same facts — it must be accepted and bring no new problem; every field a message
// names must exist in the schema.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { applyFix, describeFix } from '../../../api/advice.ts';
import { validateInstallation } from '../../../api/validation/validate.ts';
import type { Installation } from '../../../api/index.ts';
import { render, type ClusterFacts, type NodeFacts } from '../../../render/index.ts';
import { installation, options } from './fixtures.ts';
import { unknownFieldWords } from '../api/schema-fields.ts';

const goldenDir = fileURLToPath(new URL('../../golden/', import.meta.url));
function golden(name: string): { inst: Installation; facts: ClusterFacts } {
  const dir = join(goldenDir, name);
  const inst = parse(readFileSync(join(dir, 'installation.yaml'), 'utf8')) as Installation;
  const facts = existsSync(join(dir, 'facts.yaml')) ? (parse(readFileSync(join(dir, 'facts.yaml'), 'utf8')) as ClusterFacts) : { nodes: [] };
  return { inst, facts };
}

const reasons = (inst: Installation, facts: ClusterFacts) => render(inst, facts, options).degraded.map((p) => p.reason);

describe('copies of one address (DuplicateUnderlayAddress)', () => {
  const { inst, facts } = golden('duplicate-nat-address');
  const r = render(inst, facts, options);

  test('Degraded, naming the nodes, the address and the fix', () => {
    const p = r.degraded.find((x) => x.reason === 'DuplicateUnderlayAddress');
    assert.ok(p, JSON.stringify(r.degraded));
    assert.notEqual(p.blocking, false, 'blocking: routes to a copied address reach one node at most');
    for (const w of ['node-1', 'node-2', 'node-3', '10.0.2.15', '198.51.100.11', 'kubernetes: NodeInternalIP', 'interface', 'cidrs']) assert.ok(p.message.includes(w), `${w} in ${p.message}`);
    assert.deepEqual(p.fixes, [[{ path: 'spec.network.nodeAddressAutodetectionV4', value: { kubernetes: 'NodeInternalIP' } }]]);
  });

  test('Auto concludes nothing from the copies', () => {
    const why = r.explain.find((e) => e.subject === 'pool default encapsulation')!.reason;
    assert.doesNotMatch(why, /share one subnet/);
    assert.match(why, /provisional/);
    // With two real addresses in different subnets next to the copies, Auto judges from those two only.
    const mixed: NodeFacts[] = [...facts.nodes, { name: 'node-4', address: '198.18.0.4/24' }, { name: 'node-5', address: '198.18.1.5/24' }];
    const m = render(inst, { nodes: mixed }, options);
    assert.equal(m.effective.pools[0]!.encapsulation, 'VXLANCrossSubnet');
    assert.doesNotMatch(m.explain.find((e) => e.subject === 'pool default encapsulation')!.reason, /10\.0\.2\.0/);
  });

  test('a host-gw pool does not claim the copies share a subnet', () => {
    const none = installation({ ipPools: [{ name: 'default', cidr: '10.244.0.0/16', encapsulation: 'None' }] });
    assert.deepEqual(reasons(none, facts), ['DuplicateUnderlayAddress']);
  });
});

describe('a pool containing the nodes\' own network', () => {
  test('one PoolOverlapsNodeSubnet problem with a pool outside it', () => {
    const { inst, facts } = golden('pool-contains-node-network');
    const r = render(inst, facts, options);
    assert.deepEqual(r.degraded.map((p) => p.reason), ['PoolOverlapsNodeSubnet']);
    const p = r.degraded[0]!;
    assert.match(p.message, /192\.168\.1\.0\/24/);
    assert.match(p.message, /natOutgoing/);
    const cidr = p.fixes![0]![0]!.value as string;
    assert.equal(p.fixes![0]![0]!.path, 'spec.network.ipPools[0].cidr');
    assert.deepEqual(reasons(applyFix(inst, p.fixes![0]!), facts), [], `${cidr} is outside the node network`);
  });

  test('a pool inside the node subnet overlaps it too; disjoint pools do not', () => {
    const facts = { nodes: [{ name: 'a', address: '10.0.0.5/16' }] };
    assert.deepEqual(reasons(installation({ ipPools: [{ name: 'p', cidr: '10.0.128.0/20' }] }), facts), ['PoolOverlapsNodeSubnet']);
    assert.deepEqual(reasons(installation({ ipPools: [{ name: 'p', cidr: '10.1.0.0/16' }] }), facts), []);
  });
});

describe('fewer blocks than nodes (PoolOutOfBlocks)', () => {
  const { inst, facts } = golden('pool-out-of-blocks');

  test('warns "32 blocks for 34 nodes" without blocking, with a blockSize that fits', () => {
    const r = render(inst, facts, options);
    const p = r.degraded.find((x) => x.reason === 'PoolOutOfBlocks');
    assert.ok(p, JSON.stringify(r.degraded));
    assert.match(p.message, /32 blocks for 34 nodes/);
    assert.equal(p.blocking, false);
    assert.ok(r.explain.some((e) => e.warning && e.decision === '32 blocks for 34 nodes'));
    assert.deepEqual(p.fixes, [[{ path: 'spec.network.ipPools[0].blockSize', value: 27 }]]);
  });

  test('32 nodes on 32 blocks is fine', () => {
    assert.deepEqual(reasons(inst, { nodes: facts.nodes.slice(0, 32) }), []);
  });
});

/** Every golden case plus inputs that raise every problem render knows. */
function scenarios(): { name: string; inst: Installation; facts: ClusterFacts }[] {
  const out = readdirSync(goldenDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => ({ name: d.name, ...golden(d.name) }));
  const twoSubnets = { nodes: [{ name: 'a', address: '198.18.0.5/24', mtu: 1500 }, { name: 'b', address: '198.18.1.5/24', mtu: 1500 }] };
  out.push(
    { name: 'host-gw across subnets', inst: installation({ ipPools: [{ name: 'p', cidr: '10.244.0.0/16', encapsulation: 'None' }] }), facts: twoSubnets },
    { name: 'bgp mesh across subnets', inst: installation({ bgp: { mode: 'FullMesh' }, ipPools: [{ name: 'p', cidr: '10.244.0.0/16', encapsulation: 'None' }] }), facts: twoSubnets },
    { name: 'ipv6 over bgp', inst: installation({ bgp: { mode: 'FullMesh' }, ipPools: [{ name: 'p', cidr: 'fd00:244::/56', encapsulation: 'None' }] }), facts: { nodes: [] } },
    { name: 'no pools', inst: installation({ ipPools: [] }), facts: twoSubnets },
    { name: 'mtu too large', inst: installation({ mtu: 9000 }), facts: twoSubnets },
    { name: 'duplicate v6', inst: installation({ ipPools: [{ name: 'p', cidr: 'fd00:244::/56' }] }), facts: { nodes: [{ name: 'a', address: 'fd00:1::5/64' }, { name: 'b', address: 'fd00:1::5/64' }] } },
  );
  return out;
}

describe('advice', () => {
  const all = scenarios();

  test('every problem that suggests a setting carries it as a fix, and its text names it', () => {
    let fixes = 0;
    for (const s of all) {
      for (const p of render(s.inst, s.facts, options).degraded) {
        if (!/\bset\b/i.test(p.message)) continue;
        assert.ok(p.fixes && p.fixes.length > 0, `${s.name}: ${p.reason} suggests a setting but carries no fix: ${p.message}`);
        for (const f of p.fixes) assert.ok(p.message.includes(describeFix(f)), `${s.name}: ${p.reason}: "${describeFix(f)}" not in ${p.message}`);
        fixes += p.fixes.length;
      }
    }
    assert.ok(fixes >= 9, `expected the scenarios to raise at least 9 fixes, got ${fixes}`);
  });

  test('every fix is accepted by the schema and CEL rules and brings no new problem for the same facts', () => {
    for (const s of all) {
      const before = reasons(s.inst, s.facts);
      for (const p of render(s.inst, s.facts, options).degraded) {
        for (const f of p.fixes ?? []) {
          const fixed = applyFix(s.inst, f);
          assert.deepEqual(validateInstallation(fixed), [], `${s.name}: ${p.reason}: ${describeFix(f)} is rejected`);
          const after = reasons(fixed, s.facts);
          const added = after.filter((x) => !before.includes(x));
          assert.deepEqual(added, [], `${s.name}: ${p.reason}: ${describeFix(f)} brings ${added.join(', ')}`);
        }
      }
    }
  });

  test('every field a render message names exists in the schema', () => {
    for (const s of all) {
      const r = render(s.inst, s.facts, options);
      for (const text of [...r.degraded.map((p) => p.message), ...r.explain.map((e) => e.reason)]) {
        assert.deepEqual(unknownFieldWords(text), [], `${s.name}: ${text}`);
      }
    }
  });
});

describe('VXLAN VNI and port (next to Calico during a migration)', () => {
  test('defaults differ from Calico\'s 4096/4789 and flannel\'s 1/8472, and reach the agent', () => {
    const r = render(installation(), { nodes: [] }, options);
    assert.deepEqual(r.effective.vxlan, { vni: 4097, port: 4799, device: 'weft.vxlan' });
    for (const [vni, port] of [[4096, 4789], [1, 8472]]) assert.ok(r.effective.vxlan.vni !== vni && r.effective.vxlan.port !== port);
  });

  test('spec.network.vxlan is rendered into the agent\'s configuration and changes the config hash', () => {
    const base = render(installation(), { nodes: [] }, options);
    const r = render(installation({ vxlan: { vni: 9000, port: 4800 } }), { nodes: [] }, options);
    assert.deepEqual(r.effective.vxlan, { vni: 9000, port: 4800, device: 'weft.vxlan' });
    assert.notEqual(r.configHash, base.configHash);
  });
});

describe('Auto on a cloud subnet', () => {
  const { inst, facts } = golden('cloud-one-subnet');

  test('nodes with an aws/azure/gce providerID (or their node labels) get an overlay, explained', () => {
    const r = render(inst, facts, options);
    assert.equal(r.effective.pools[0]!.encapsulation, 'VXLAN');
    assert.match(r.explain.find((e) => e.subject === 'pool default encapsulation')!.reason, /AWS.*source\/destination checks/);
    const azure = { nodes: facts.nodes.map((n) => ({ ...n, providerID: undefined, labels: { 'kubernetes.azure.com/cluster': 'c1' } })) };
    assert.equal(render(inst, azure, options).effective.pools[0]!.encapsulation, 'VXLAN');
    const gce = { nodes: facts.nodes.map((n) => ({ ...n, providerID: `gce://proj/europe-west1-b/${n.name}` })) };
    assert.equal(render(inst, gce, options).effective.pools[0]!.encapsulation, 'VXLAN');
  });

  test('the same subnet off the cloud stays host-gw; the user\'s None is kept', () => {
    const bare = { nodes: facts.nodes.map(({ providerID: _p, ...n }) => n) };
    assert.equal(render(inst, bare, options).effective.pools[0]!.encapsulation, 'None');
    const none = installation({ ipPools: [{ name: 'default', cidr: '10.244.0.0/16', encapsulation: 'None' }] });
    assert.equal(render(none, facts, options).effective.pools[0]!.encapsulation, 'None');
  });
});
