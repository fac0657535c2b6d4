// Property tests of the render invariants (DESIGN.md invariant 1) over random Installations and
// cluster facts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Installation, IPPool } from '../../../api/index.ts';
import { labels } from '../../../api/index.ts';
import { canonicalJson, compareObjects, noFacts, render, toYaml, type ClusterFacts, type NodeFacts, type RenderResult } from '../../../render/index.ts';
import { validateInstallation } from '../../../api/validation/validate.ts';
import { configMapKeys } from '../../../api/index.ts';
import { options } from './fixtures.ts';

const selectors = ['', 'zone=a', 'zone!=a', 'zone in (a,b)', '!gpu', 'gpu', 'zone notin (b)'];
const modes = ['Auto', 'VXLAN', 'VXLANCrossSubnet', 'IPIP', 'IPIPCrossSubnet', 'None'] as const;

const poolArb = (i: number) =>
  fc.record({
    v6: fc.boolean(),
    encapsulation: fc.constantFrom(...modes),
    natOutgoing: fc.constantFrom('Enabled', 'Disabled'),
    nodeSelector: fc.constantFrom(...selectors),
  }).map(({ v6, encapsulation, natOutgoing, nodeSelector }): IPPool => ({
    name: `pool-${i}`,
    cidr: v6 ? `fd00:${i + 1}::/56` : `10.${i + 1}.0.0/16`,
    // IPIP is IPv4 only (the schema rejects it on IPv6 pools).
    encapsulation: v6 && encapsulation.startsWith('IPIP') ? 'VXLAN' : encapsulation,
    natOutgoing,
    nodeSelector,
  }));

const installationArb: fc.Arbitrary<Installation> = fc
  .record({
    poolCount: fc.integer({ min: 1, max: 3 }),
    pools: fc.tuple(poolArb(0), poolArb(1), poolArb(2)),
    mtu: fc.constantFrom(0, 0, 1400, 8950),
    bgp: fc.constantFrom('Disabled', 'FullMesh'),
    hostPorts: fc.constantFrom('Enabled', 'Disabled'),
    bandwidth: fc.constantFrom('Enabled', 'Disabled'),
    registry: fc.constantFrom(undefined, 'registry.example.com/mirror'),
    tolerations: fc.constantFrom([], [{ key: 'dedicated', operator: 'Exists' as const }]),
  })
  .map((r) => ({
    apiVersion: 'operator.weft.dev/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    spec: {
      ...(r.registry ? { registry: r.registry } : {}),
      nodeAgent: { tolerations: r.tolerations.map((t) => ({ ...t })) },
      network: {
        mtu: r.mtu,
        bgp: { mode: r.bgp as 'Disabled' | 'FullMesh' },
        hostPorts: r.hostPorts as 'Enabled' | 'Disabled',
        bandwidth: r.bandwidth as 'Enabled' | 'Disabled',
        ipPools: r.pools.slice(0, r.poolCount),
      },
    },
  }));

const nodeArb = (name: string): fc.Arbitrary<NodeFacts> =>
  fc.record({
    subnet: fc.constantFrom(undefined, 0, 0, 1, 2),
    mtu: fc.constantFrom(undefined, 1400, 1500, 9000),
    zone: fc.constantFrom(undefined, 'a', 'b'),
    gpu: fc.boolean(),
    v6: fc.boolean(),
  }).map((r) => ({
    name,
    ...(r.subnet !== undefined ? { address: `198.18.${r.subnet}.${name.length + 10}/24` } : {}),
    ...(r.subnet !== undefined && r.v6 ? { addressV6: `fd00:18:${r.subnet}::${name.length + 10}/64` } : {}),
    ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
    labels: { ...(r.zone ? { zone: r.zone } : {}), ...(r.gpu ? { gpu: 'true' } : {}) },
  }));

const factsArb: fc.Arbitrary<ClusterFacts> = fc
  .subarray(['n-a', 'n-bb', 'n-ccc', 'n-dddd', 'n-eeeee'])
  .chain((names) => fc.tuple(...names.map(nodeArb)))
  .map((nodes) => ({ nodes }));

const runs = { numRuns: 150, ...(process.env.WEFT_FC_SEED ? { seed: Number(process.env.WEFT_FC_SEED) } : {}) };

describe('render properties', () => {
  test('the generator makes valid Installations', () => {
    fc.assert(fc.property(installationArb, (inst) => assert.deepEqual(validateInstallation(inst), [])), { numRuns: 40 });
  });

  test('deterministic: same input, byte-identical YAML; node order in the facts does not matter', () => {
    fc.assert(
      fc.property(installationArb, factsArb, (inst, facts) => {
        const a = render(inst, facts, options);
        const b = render(structuredClone(inst), { nodes: [...facts.nodes].reverse() }, options);
        assert.equal(toYaml(a.objects), toYaml(b.objects));
        assert.deepEqual(a.explain, b.explain);
        assert.deepEqual(a.degraded, b.degraded);
      }),
      runs,
    );
  });

  test('sorted, unique, labelled', () => {
    fc.assert(
      fc.property(installationArb, factsArb, (inst, facts) => {
        const { objects } = render(inst, facts, options);
        for (let i = 1; i < objects.length; i++) assert.ok(compareObjects(objects[i - 1]!, objects[i]!) < 0, 'not strictly sorted');
        const keys = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
        assert.equal(new Set(keys).size, keys.length);
        for (const o of objects) {
          assert.equal(o.metadata.labels[labels.managedBy], labels.managedByValue);
          assert.equal(o.metadata.labels[labels.owner], 'default');
          assert.equal(o.metadata.labels[labels.partOf], 'weft');
        }
      }),
      runs,
    );
  });

  test('every effective mode is concrete and the MTU is the one in the conflist', () => {
    fc.assert(
      fc.property(installationArb, factsArb, (inst, facts) => {
        const r = render(inst, facts, options);
        for (const p of r.effective.pools) assert.notEqual(p.encapsulation as string, 'Auto');
        const cm = r.objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
        assert.equal(JSON.parse(cm.data[configMapKeys.conflist]!).plugins[0].mtu, r.effective.mtu);
      }),
      runs,
    );
  });

  // What the agent runs with; the hash must change exactly when this does.
  const agentInputs = (r: RenderResult): string => {
    const cm = r.objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const { mtuReason: _ignored, ...effective } = r.effective;
    return canonicalJson({ effective, conflist: cm.data[configMapKeys.conflist], bird: cm.data[configMapKeys.bird] ?? null, image: r.image });
  };

  const mutation = fc.constantFrom('none', 'tolerations', 'mtu', 'version', 'hostPorts', 'node-joins', 'node-reports-9000', 'encapsulation');
  test('config hash changes iff the effective config, conflist, BIRD template or image changes', () => {
    fc.assert(
      fc.property(installationArb, factsArb, mutation, (inst, facts, m) => {
        const inst2 = structuredClone(inst);
        const facts2 = structuredClone(facts);
        let opts2 = options;
        const net = inst2.spec.network!;
        if (m === 'tolerations') inst2.spec.nodeAgent = { tolerations: [{ key: 'other', operator: 'Exists' }] };
        if (m === 'mtu') net.mtu = net.mtu === 0 ? 1300 : 0;
        if (m === 'version') opts2 = { ...options, operatorVersion: '0.2.0' };
        if (m === 'hostPorts') net.hostPorts = net.hostPorts === 'Enabled' ? 'Disabled' : 'Enabled';
        if (m === 'node-joins') facts2.nodes.push({ name: 'z-new', address: facts.nodes[0]?.address ?? '198.18.0.99/24', mtu: facts.nodes[0]?.mtu ?? 1500, labels: { ...facts.nodes[0]?.labels } });
        if (m === 'node-reports-9000') facts2.nodes.push({ name: 'z-new', mtu: 9000 });
        if (m === 'encapsulation') net.ipPools![0]!.encapsulation = net.ipPools![0]!.encapsulation === 'VXLAN' ? 'None' : 'VXLAN';
        const a = render(inst, facts, options);
        const b = render(inst2, facts2, opts2);
        assert.equal(a.configHash === b.configHash, agentInputs(a) === agentInputs(b), `mutation ${m}`);
        if (m === 'none' || m === 'tolerations') assert.equal(a.configHash, b.configHash, m);
        // A node with the largest MTU and no address yet changes nothing once another node reported.
        if (m === 'node-reports-9000' && facts.nodes.some((n) => n.mtu !== undefined)) assert.equal(a.configHash, b.configHash, m);
        if (m === 'version' || m === 'hostPorts') assert.notEqual(a.configHash, b.configHash, m);
        // Switching to autodetect can land on the same MTU (9000 - VXLAN 50 = a user's 8950).
        if (m === 'mtu' && a.effective.mtu !== b.effective.mtu) assert.notEqual(a.configHash, b.configHash, m);
      }),
      runs,
    );
  });

  // docs/adr/0010: what nodes report never changes the DaemonSet, so it never restarts an agent.
  test('the DaemonSet (and its spec hash) does not depend on the cluster facts; the ConfigMap states the config hash', () => {
    fc.assert(
      fc.property(installationArb, factsArb, (inst, facts) => {
        const withFacts = render(inst, facts, options);
        const without = render(inst, noFacts, options);
        const ds = (r: RenderResult) => canonicalJson(r.objects.find((o) => o.kind === 'DaemonSet'));
        assert.equal(withFacts.specHash, without.configHash);
        assert.equal(ds(withFacts), ds(without));
        const cm = withFacts.objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string>; metadata: { annotations: Record<string, string> } };
        assert.equal(cm.data[configMapKeys.hash], withFacts.configHash);
        assert.equal(cm.metadata.annotations['weft.dev/config-hash'], withFacts.configHash);
      }),
      runs,
    );
  });
});
