// Every CRD the project ships installs on a real kube-apiserver (which checks structural schemas,
// CEL rules and their cost budget, which nothing else here can) and becomes Established.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';

const crdDir = join(repoRoot, 'crds');
const files = readdirSync(crdDir).filter((f) => /\.ya?ml$/.test(f)).sort();

interface CRDDoc {
  kind?: string;
  metadata?: { name?: string };
  spec?: { names?: { plural?: string }; group?: string; versions?: { name: string; served?: boolean }[] };
}

function crdsIn(file: string): CRDDoc[] {
  return parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))
    .map((d) => d.toJS() as CRDDoc | null)
    .filter((d): d is CRDDoc => d?.kind === 'CustomResourceDefinition');
}

const env = await testenvAvailable();

describe('CRDs in crds/ install on a real kube-apiserver', { skip: env.ok ? false : env.reason }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    await cp?.stop();
  });

  test('crds/ holds at least one CustomResourceDefinition', () => {
    const count = files.flatMap(crdsIn).length;
    assert.ok(count > 0, `no CustomResourceDefinition in ${crdDir} (${files.length} YAML files); run \`npm run generate\``);
  });

  for (const file of files) {
    test(`${file} applies and every CRD in it becomes Established and served`, { timeout: 60_000 }, async () => {
      const crds = crdsIn(file);
      assert.ok(crds.length > 0, `${file} holds no CustomResourceDefinition`);
      // Server-side apply, as GitOps tools and the operator do; the same field manager twice must be a no-op.
      await cp.kubectl(['apply', '--server-side', '--field-manager=weft-crd-test', '-f', join(crdDir, file)]);
      for (const crd of crds) {
        const name = crd.metadata?.name;
        assert.ok(name, `${file}: a CRD without metadata.name`);
        await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', `crd/${name}`]);
        const applied = JSON.parse((await cp.kubectl(['get', 'crd', name, '-o', 'json'])).stdout);
        const names = applied.status?.conditions?.find((c: { type: string }) => c.type === 'NamesAccepted');
        assert.equal(names?.status, 'True', `${name}: NamesAccepted is ${JSON.stringify(names)}`);
        for (const v of crd.spec?.versions?.filter((v) => v.served !== false) ?? []) {
          // Listing proves the version is actually served, not just accepted.
          const list = JSON.parse((await cp.kubectl(['get', '--raw', `/apis/${crd.spec?.group}/${v.name}/${crd.spec?.names?.plural}`])).stdout);
          assert.ok(Array.isArray(list.items), `${name} ${v.name}: list returned ${JSON.stringify(list).slice(0, 200)}`);
        }
      }
      const again = await cp.kubectl(['apply', '--server-side', '--field-manager=weft-crd-test', '-f', join(crdDir, file)]);
      assert.doesNotMatch(again.stderr, /conflict/i);
    });
  }
});
