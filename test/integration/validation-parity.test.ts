// Parity between `weft validate` and the API server: every Installation in the invalid corpus is
// rejected by both, naming the same field; every sample is accepted by both; the document-level
// checks (overlapping pools) are the only ones the API server cannot make.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { validateInstallation } from '../../api/validation/validate.ts';

const env = await testenvAvailable();

function yamlFiles(dir: string): string[] {
  return readdirSync(join(repoRoot, dir)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(repoRoot, dir, f));
}

function expectedField(file: string): string {
  return readFileSync(file, 'utf8').split('\n')[0]!.replace('# expect: ', '').trim();
}

/** kubectl's server-side apply verdict; returns stderr on rejection, '' when accepted. */
async function serverVerdict(cp: ControlPlane, file: string, dryRun = true): Promise<string> {
  const r = await cp.kubectl(
    ['apply', '--server-side', '--field-manager=parity-test', '--validate=strict', ...(dryRun ? ['--dry-run=server'] : []), '-f', file],
    { allowFailure: true },
  );
  return r.code === 0 ? '' : r.stderr + r.stdout;
}

describe('weft validate and the API server agree', { skip: env.ok ? false : env.reason }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
    for (const f of yamlFiles('crds')) await cp.kubectl(['apply', '--server-side', '-f', f]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/installations.operator.weft.dev']);
  });
  after(async () => {
    await cp?.stop();
  });

  for (const file of yamlFiles('config/samples')) {
    test(`sample ${file.slice(repoRoot.length + 1)} is accepted by server-side apply and by weft validate`, async () => {
      assert.equal(await serverVerdict(cp, file, false), '');
      for (const doc of readFileSync(file, 'utf8').split(/^---$/m).map((d) => parse(d)).filter(Boolean)) {
        assert.deepEqual(validateInstallation(doc), []);
      }
      await cp.kubectl(['delete', 'installation', 'default', '--ignore-not-found']);
    });
  }

  for (const file of yamlFiles('test/fixtures/invalid')) {
    const field = expectedField(file);
    test(`${file.slice(repoRoot.length + 1)}: both reject it at ${field}`, async () => {
      const server = await serverVerdict(cp, file);
      assert.notEqual(server, '', 'the API server accepted it');
      const fieldInServer = field.replace(/\[(\d+)\]/g, '[$1]');
      assert.ok(server.includes(fieldInServer), `the API server's message does not name ${field}:\n${server}`);
      const ours = validateInstallation(parse(readFileSync(file, 'utf8')));
      assert.ok(ours.some((p) => p.path === field), `weft validate does not name ${field}: ${JSON.stringify(ours)}`);
    });
  }

  for (const file of yamlFiles('test/fixtures/document-invalid')) {
    test(`${file.slice(repoRoot.length + 1)}: only weft validate (and the operator) reject it`, async () => {
      assert.equal(await serverVerdict(cp, file), '', 'schema-level accepted by the API server');
      const ours = validateInstallation(parse(readFileSync(file, 'utf8')));
      assert.ok(ours.some((p) => p.path === expectedField(file)));
    });
  }

  test('immutable cidr: an update is rejected by both', async () => {
    await cp.kubectl(['apply', '--server-side', '--field-manager=parity-test', '-f', join(repoRoot, 'config/samples/installation.yaml')]);
    const changed = join(repoRoot, 'test/fixtures/valid/pool-cidr-changed.yaml');
    const server = await serverVerdict(cp, changed, false);
    assert.match(server, /spec\.network\.ipPools\[0\]\.cidr/);
    const ours = validateInstallation(parse(readFileSync(changed, 'utf8')), parse(readFileSync(join(repoRoot, 'config/samples/installation.yaml'), 'utf8')));
    assert.ok(ours.some((p) => p.path === 'spec.network.ipPools[0].cidr'));
    await cp.kubectl(['delete', 'installation', 'default']);
  });
});
