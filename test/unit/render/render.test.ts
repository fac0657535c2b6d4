import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { birdTemplatePlaceholders, configMapKeys, labels, names, nodeAgentRuntime } from '../../../api/index.ts';
import { render, RenderInputError, encapsulationSummary, type KubernetesObject } from '../../../render/index.ts';
import { installation, options } from './fixtures.ts';

type Obj = KubernetesObject & Record<string, any>;
const find = (objs: KubernetesObject[], kind: string) => objs.find((o) => o.kind === kind) as Obj;

describe('rendered objects', () => {
  const r = render(installation(), { nodes: [] }, options);

  test('the expected set, in kind order', () => {
    assert.deepEqual(r.objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`), [
      'Namespace//weft-system',
      'ConfigMap/weft-system/weft-config',
      'DaemonSet/weft-system/weft-node',
    ]);
  });

  test('every object carries managed-by, part-of and the owner label', () => {
    for (const o of r.objects) {
      assert.equal(o.metadata.labels[labels.managedBy], 'weft-operator', o.kind);
      assert.equal(o.metadata.labels[labels.partOf], 'weft', o.kind);
      assert.equal(o.metadata.labels[labels.owner], 'default', o.kind);
    }
  });

  test('no RBAC: the node agent\'s ServiceAccount and roles ship statically (config/operator/node-agent-rbac.yaml)', () => {
    assert.deepEqual(r.objects.filter((o) => /Role|ServiceAccount/.test(o.kind)), []);
    assert.equal(find(r.objects, 'DaemonSet').spec.template.spec.serviceAccountName, names.nodeServiceAccount);
  });

  test('DaemonSet: hostNetwork, OnDelete, not privileged, NET_ADMIN only, probes, hash annotation', () => {
    const ds = find(r.objects, 'DaemonSet');
    const pod = ds.spec.template.spec;
    assert.equal(ds.spec.updateStrategy.type, 'OnDelete');
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    const [agent] = pod.containers;
    assert.deepEqual(agent.command, ['weft-node', 'agent']);
    assert.deepEqual(pod.initContainers[0].command, ['weft-node', 'install-cni']);
    assert.equal(agent.image, 'ghcr.io/weft-dev/weft-node:0.1.0');
    assert.equal(agent.securityContext.privileged, false);
    assert.deepEqual(agent.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
    assert.equal(agent.readinessProbe.httpGet.path, '/readyz');
    assert.equal(agent.livenessProbe.httpGet.path, '/healthz');
    assert.equal(agent.ports[0].containerPort, nodeAgentRuntime.healthPort);
    // Rendered without facts, so the template's spec hash is the config hash (docs/adr/0010).
    assert.equal(ds.spec.template.metadata.annotations['weft.dev/spec-hash'], r.specHash);
    assert.equal(r.specHash, r.configHash);
    assert.match(r.configHash, /^[0-9a-f]{64}$/);
    assert.deepEqual(agent.env[0], { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    // The selector is immutable: it must not contain labels that may change.
    assert.deepEqual(ds.spec.selector, { matchLabels: { 'app.kubernetes.io/name': 'weft-node' } });
  });

  test('user scheduling and resources are added to the defaults', () => {
    const ds = find(render(installation({}, {
      nodeAgent: {
        tolerations: [{ key: 'k', operator: 'Exists' }],
        nodeSelector: { pool: 'net' },
        resources: { requests: { cpu: '100m' } },
      },
      imagePullSecrets: [{ name: 'pull' }],
      registry: 'registry.example.com/m',
    }), { nodes: [] }, options).objects, 'DaemonSet');
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }, { key: 'k', operator: 'Exists' }]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux', pool: 'net' });
    assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '100m' } });
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'pull' }]);
    assert.equal(pod.containers[0].image, 'registry.example.com/m/weft-node:0.1.0');
  });

  test('conflist: ptp with mtu and empty host-local ranges, then portmap; bandwidth when enabled', () => {
    const conf = JSON.parse(find(r.objects, 'ConfigMap').data[configMapKeys.conflist]);
    assert.equal(conf.cniVersion, '1.0.0');
    assert.equal(conf.name, 'weft');
    assert.deepEqual(conf.plugins, [
      { type: 'ptp', mtu: 1500, ipam: { type: 'host-local', ranges: [] } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
    const both = JSON.parse(find(render(installation({ hostPorts: 'Disabled', bandwidth: 'Enabled' }), { nodes: [] }, options).objects, 'ConfigMap').data[configMapKeys.conflist]);
    assert.deepEqual(both.plugins.map((p: { type: string }) => p.type), ['ptp', 'bandwidth']);
  });

  test('config.json is the effective config; no bird.conf without BGP; the hash is stated', () => {
    const cm = find(r.objects, 'ConfigMap');
    assert.deepEqual(JSON.parse(cm.data[configMapKeys.config]), r.effective);
    assert.equal(cm.data[configMapKeys.bird], undefined);
    assert.deepEqual(Object.keys(cm.data), ['cni-conflist', 'config-hash', 'config.json']);
    assert.equal(cm.data[configMapKeys.hash], r.configHash);
  });
});

describe('BGP', () => {
  const r = render(installation({ bgp: { mode: 'FullMesh', asNumber: 64600 }, ipPools: [{ name: 'default', cidr: '10.244.0.0/16', encapsulation: 'None' }] }), { nodes: [] }, options);
  const template = find(r.objects, 'ConfigMap').data[configMapKeys.bird] as string;

  test('the template has every placeholder outside comments, and the AS number', () => {
    const code = template.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    for (const ph of Object.values(birdTemplatePlaceholders)) assert.ok(code.includes(ph), ph);
    assert.ok(!template.split('\n').filter((l) => l.startsWith('#')).join('\n').includes('{{'), 'placeholders in comments would be replaced too');
    assert.match(template, /local \{\{LOCAL_ADDRESS\}\} as 64600;/);
    assert.match(template, /import where net ~ \[ 10\.244\.0\.0\/16\+ \];/);
  });

  test('BIRD accepts the completed template (bird -p)', (t) => {
    if (spawnSync('bird', ['--version']).error) return t.skip('bird is not installed (Debian package bird2)');
    const completed = template
      .replaceAll(birdTemplatePlaceholders.routerId, '198.18.0.5')
      .replaceAll(birdTemplatePlaceholders.localAddress, '198.18.0.5')
      .replaceAll(birdTemplatePlaceholders.blockRoutes, '  route 10.244.3.0/26 blackhole;')
      .replaceAll(birdTemplatePlaceholders.peers, 'protocol bgp node_b from weft_peer { neighbor 198.18.0.6 as 64600; }\nprotocol bgp tor from weft_peer { neighbor 198.18.0.1 as 65000; }');
    const dir = mkdtempSync(join(tmpdir(), 'weft-bird-'));
    try {
      writeFileSync(join(dir, 'bird.conf'), completed);
      const p = spawnSync('bird', ['-p', '-c', join(dir, 'bird.conf')], { encoding: 'utf8' });
      assert.equal(p.status, 0, `bird -p rejected the template: ${p.stderr}\n${completed}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the agent may bind port 179', () => {
    const agent = find(r.objects, 'DaemonSet').spec.template.spec.containers[0];
    assert.deepEqual(agent.securityContext.capabilities.add, ['NET_ADMIN', 'NET_BIND_SERVICE']);
    assert.equal(r.effective.pools[0]!.dataplane, 'bgp');
  });
});

describe('input render cannot use', () => {
  test('a bad node selector names the field', () => {
    assert.throws(
      () => render(installation({ ipPools: [{ name: 'a', cidr: '10.244.0.0/16', nodeSelector: 'zone in a' }] }), { nodes: [] }, options),
      (e: unknown) => e instanceof RenderInputError && e.problems[0]!.path === 'spec.network.ipPools[0].nodeSelector',
    );
  });
  test('bad facts name the node entry', () => {
    assert.throws(
      () => render(installation(), { nodes: [{ name: 'a', address: '198.18.0.5' }, { name: 'a', mtu: 10 }] }, options),
      (e: unknown) =>
        e instanceof RenderInputError &&
        JSON.stringify(e.problems.map((p) => p.path)) === JSON.stringify(['facts.nodes[0].address', 'facts.nodes[1].name', 'facts.nodes[1].mtu']),
    );
  });
});

describe('cluster problems', () => {
  test('nodes selected by no pool', () => {
    const r = render(installation({ ipPools: [{ name: 'a', cidr: '10.244.0.0/16', nodeSelector: 'zone=a' }] }), {
      nodes: [{ name: 'n1', labels: { zone: 'a' } }, { name: 'n2', labels: { zone: 'b' } }],
    }, options);
    assert.deepEqual(r.degraded.map((p) => p.reason), ['NodesWithoutPool']);
    assert.match(r.degraded[0]!.message, /\(n2\)/);
  });
  test('no pools at all', () => {
    assert.deepEqual(render(installation({ ipPools: [] }), { nodes: [] }, options).degraded.map((p) => p.reason), ['NoIPPools']);
  });
});

test('encapsulationSummary', () => {
  assert.equal(encapsulationSummary([{ name: 'a', encapsulation: 'None' }, { name: 'b', encapsulation: 'None' }]), 'None');
  assert.equal(encapsulationSummary([{ name: 'a', encapsulation: 'None' }, { name: 'b', encapsulation: 'VXLAN' }]), 'a=None,b=VXLAN');
});
