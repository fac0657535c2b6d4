// What render produces is accepted by a real kube-apiserver: every golden case's rendered.yaml
// passes a server-side-apply dry run (schema validation, defaulting, admission: Priority,
// PodSecurity, RBAC escalation checks), and applying it for real twice changes nothing the
// second time (invariant 3, zero drift).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { names } from '../../api/index.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';

const goldenDir = join(repoRoot, 'test', 'golden');
const cases = readdirSync(goldenDir).filter((c) => existsSync(join(goldenDir, c, 'rendered.yaml'))).sort();
const FIELD_MANAGER = names.fieldManager;

const env = await testenvAvailable();
if (!env.ok) console.log(`# skipping the render dry-run tests: ${env.reason}`);

describe('rendered objects are accepted by a real kube-apiserver', { skip: env.ok ? false : env.reason }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
    // Namespaced objects can only be dry-run in a namespace that exists.
    const ns = parseAllDocuments(readFileSync(join(goldenDir, cases[0]!, 'rendered.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string })
      .filter((o) => o.kind === 'Namespace');
    await cp.kubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], { input: stringify(ns[0]) });
  });
  after(async () => {
    await cp?.stop();
  });

  test('there are golden cases to check', () => assert.ok(cases.length > 0, `no rendered.yaml under ${goldenDir}`));

  for (const c of cases) {
    test(`${c}: server-side apply dry run accepts every object`, { timeout: 60_000 }, async () => {
      const file = join(goldenDir, c, 'rendered.yaml');
      const r = await cp.kubectl(['apply', '--server-side', '--dry-run=server', `--field-manager=${FIELD_MANAGER}`, '-f', file], { allowFailure: true });
      assert.equal(r.code, 0, `${c}: ${r.stderr}`);
      const kinds = readFileSync(file, 'utf8').match(/^kind: /gm)?.length ?? 0;
      assert.equal(r.stdout.match(/serverside-applied \(server dry run\)/g)?.length, kinds, r.stdout);
      assert.equal(r.stderr.trim(), '', `${c}: warnings from the API server: ${r.stderr}`);
    });
  }

  test('the dry run does reject a broken DaemonSet (control)', async () => {
    const docs = parseAllDocuments(readFileSync(join(goldenDir, cases[0]!, 'rendered.yaml'), 'utf8')).map((d) => d.toJS());
    const ds = docs.find((o) => o.kind === 'DaemonSet');
    ds.spec.selector.matchLabels = { 'app.kubernetes.io/name': 'something-else' };
    const r = await cp.kubectl(['apply', '--server-side', '--dry-run=server', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], {
      input: stringify(ds),
      allowFailure: true,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /`selector` does not match template `labels`/);
  });

  test('applying the rendered objects twice changes nothing the second time', { timeout: 60_000 }, async () => {
    const file = join(goldenDir, 'bgp-full-mesh', 'rendered.yaml');
    const apply = () => cp.kubectl(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', file]);
    const versions = async () => {
      const out = await cp.kubectl(['get', '-f', file, '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}']);
      return out.stdout.trim();
    };
    await apply();
    const first = await versions();
    await apply();
    assert.equal(await versions(), first);
  });
});
