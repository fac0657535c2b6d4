// `npm run operator -- --kubeconfig K` against a cluster without the weft-system namespace (issue
// 21, item 9): one line on stderr saying what to do and exit code 4, within seconds — not a
// leader-election warning every retry period forever. Real kube-apiserver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { EXIT } from '../../operator/preflight.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;

function runOperator(cp: ControlPlane, args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'operator/main.ts'), '--kubeconfig', cp.kubeconfigPath, '--apply-crds=false', ...args],
      { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr, ms: Date.now() - t0 }));
  });
}

describe('operator started by hand without its namespace (real kube-apiserver)', { skip }, () => {
  let cp: ControlPlane;
  before(async () => { cp = await startControlPlane(); });
  after(async () => { await cp?.stop(); });

  test('one clear error, exit code 4', { timeout: 90_000 }, async () => {
    const out = await runOperator(cp, ['--health-port', '0', '--metrics-port', '0']);
    assert.equal(out.code, EXIT.noNamespace, `${out.stdout}${out.stderr}`);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0]!, /namespace weft-system does not exist.*apply the release manifest.*--namespace/);
    assert.doesNotMatch(out.stdout, /lease/i, 'no leader-election retries before the error');
  });

  test('the namespace given with --namespace is the one checked', { timeout: 90_000 }, async () => {
    const out = await runOperator(cp, ['--namespace', 'nope-does-not-exist', '--health-port', '0', '--metrics-port', '0']);
    assert.equal(out.code, EXIT.noNamespace);
    assert.match(out.stderr, /namespace nope-does-not-exist does not exist/);
  });
});
