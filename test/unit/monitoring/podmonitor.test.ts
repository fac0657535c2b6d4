// config/monitoring/podmonitor.yaml must keep pointing at what Weft runs: each PodMonitor's
// selector matches the pod labels of the operator Deployment (config/release/weft.yaml) or of the
// rendered weft-node DaemonSet, and its port name is a container port those pods declare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { render, type KubernetesObject } from '../../../render/index.ts';
import { installation, options } from '../render/fixtures.ts';

interface PodTemplate { metadata?: { labels?: Record<string, string> }; spec?: { containers?: { ports?: { name?: string; containerPort?: number }[] }[] } }
interface Workload { kind: string; metadata: { name: string }; spec: { template: PodTemplate } }
interface PodMonitor { metadata: { name: string }; spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string }[] } }

const docs = (file: string) => parseAllDocuments(readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8')).map((d) => d.toJS() as { kind?: string }).filter((d) => d?.kind);
const monitors = docs('config/monitoring/podmonitor.yaml').filter((d) => d.kind === 'PodMonitor') as unknown as PodMonitor[];
const operator = docs('config/release/weft.yaml').find((d) => d.kind === 'Deployment') as unknown as Workload;
const daemonset = render(installation(), { nodes: [] }, options).objects.find((o: KubernetesObject) => o.kind === 'DaemonSet') as unknown as Workload;

test('config/monitoring lists the PodMonitors', () => {
  const kustomization = readFileSync(new URL('../../../config/monitoring/kustomization.yaml', import.meta.url), 'utf8');
  assert.match(kustomization, /^\s+- podmonitor\.yaml$/m);
  assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), ['weft-node', 'weft-operator']);
});

for (const [name, workload] of [['weft-operator', operator], ['weft-node', daemonset]] as const) {
  test(`PodMonitor ${name} selects the ${workload.kind} pods and scrapes a port they declare`, () => {
    const m = monitors.find((x) => x.metadata.name === name);
    assert.ok(m, `no PodMonitor ${name}`);
    const labels = workload.spec.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(m.spec.selector.matchLabels)) assert.equal(labels[k], v, `pod label ${k} of ${workload.metadata.name}`);
    const ports = (workload.spec.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []).map((p) => p.name);
    for (const e of m.spec.podMetricsEndpoints) {
      assert.ok(ports.includes(e.port), `${workload.metadata.name} declares no port named ${e.port} (has ${ports.join(', ')})`);
      assert.equal(e.path, '/metrics');
    }
  });
}
