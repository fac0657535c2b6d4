// charts/weft renders the same objects as config/release/weft.yaml with its default values, and
// its values do what they say. helm is built by hack/tools/build (skips with the reason if not).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ensureHelm } from '../../../hack/tools/helm.ts';
import { DEFAULT_REGISTRY, RELEASE_MANIFEST, packageVersion } from '../../../hack/release/manifest.ts';
import { chartDir, helmTemplate, objectDifferences, parseObjects, repoRoot, withoutHelmLabels } from './objects.ts';

const release = () => parseObjects(readFileSync(join(repoRoot, RELEASE_MANIFEST), 'utf8'));

test('Chart.yaml follows package.json and values.yaml the release registry', () => {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  assert.equal(chart.apiVersion, 'v2');
  assert.equal(chart.version, packageVersion(repoRoot));
  assert.equal(chart.appVersion, packageVersion(repoRoot));
  assert.equal(values.image.registry, DEFAULT_REGISTRY);
});

const helm = await ensureHelm();
if (!helm.ok) console.log(`# skipping the helm tests: ${helm.reason}`);

describe('helm template charts/weft', { skip: helm.ok ? false : helm.reason }, () => {
  let bin = '';
  before(() => {
    if (helm.ok) bin = helm.helm;
  });

  test('helm lint passes', () => {
    const r = spawnSync(bin, ['lint', '--strict', chartDir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('with default values it renders exactly the objects of config/release/weft.yaml', () => {
    const r = helmTemplate(bin);
    assert.equal(r.code, 0, r.stderr);
    const diff = objectDifferences(release(), r.objects.map(withoutHelmLabels));
    assert.deepEqual(diff, [], `chart and release manifest differ:\n${diff.join('\n')}`);
  });

  test('the comparison can fail: a changed rule or a missing object is reported', () => {
    const rendered = helmTemplate(bin).objects.map(withoutHelmLabels);
    const changed = structuredClone(rendered);
    const role = changed.find((o) => o.kind === 'ClusterRole')!;
    (role.rules as { verbs: string[] }[])[0]!.verbs.push('delete');
    assert.match(objectDifferences(release(), changed).join('\n'), /differs: ClusterRole weft-operator: \.rules/);
    assert.match(objectDifferences(release(), rendered.filter((o) => o.kind !== 'Role')).join('\n'), /missing: Role weft-system\/weft-operator/);
  });

  test('values set the image, replicas, resources and leader election', () => {
    const r = helmTemplate(bin, [
      '--set', 'image.registry=registry.example.com/mirror', '--set', 'image.tag=9.9.9', '--set', 'replicas=1',
      '--set', 'leaderElection.enabled=false', '--set', 'resources.requests.cpu=250m', '--set', 'image.pullPolicy=Always',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const deploy = r.objects.find((o) => o.kind === 'Deployment')!;
    const spec = deploy.spec as any;
    const c = spec.template.spec.containers[0];
    assert.equal(spec.replicas, 1);
    assert.equal(c.image, 'registry.example.com/mirror/weft-operator:9.9.9');
    assert.equal(c.imagePullPolicy, 'Always');
    assert.ok(c.args.includes('--leader-elect=false'));
    assert.ok(c.args.includes('--version=9.9.9'), 'the operator deploys the agent of its own version');
    assert.ok(c.args.includes('--registry=registry.example.com/mirror'));
    assert.equal(c.resources.requests.cpu, '250m');
  });

  test('namespace.create=false leaves the Namespace out; objects still go to weft-system', () => {
    const r = helmTemplate(bin, ['--set', 'namespace.create=false', '--namespace', 'elsewhere']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.objects.some((o) => o.kind === 'Namespace'));
    for (const o of r.objects) if (o.metadata.namespace) assert.equal(o.metadata.namespace, 'weft-system', o.kind);
  });

  test('CRDs come from the chart crds/ dir (installed before templates; the operator upgrades them)', () => {
    const withCrds = helmTemplate(bin).objects.filter((o) => o.kind === 'CustomResourceDefinition');
    const r = spawnSync(bin, ['template', 'weft', chartDir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseObjects(r.stdout).filter((o) => o.kind === 'CustomResourceDefinition').length, 0);
    assert.equal(withCrds.length, release().filter((o) => o.kind === 'CustomResourceDefinition').length);
  });
});
