// loadKubeConfig: a program with no credentials at all stops with one line that says so, instead
// of client-node's silent fallback to http://localhost:8080 (what a weft-node or weft-operator
// container started outside a cluster used to hit, with a misleading TLS error).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConfig } from '../../../kube/kubeconfig.ts';

const kubeconfig = (server: string) => [
  'apiVersion: v1', 'kind: Config', 'current-context: c',
  'clusters: [{name: k, cluster: {server: "' + server + '"}}]',
  'users: [{name: u, user: {token: t}}]',
  'contexts: [{name: c, context: {cluster: k, user: u}}]', '',
].join('\n');

test('no $KUBECONFIG, no ~/.kube/config, no service account token: one line naming all three', () => {
  const home = mkdtempSync(join(tmpdir(), 'weft-kc-'));
  try {
    assert.throws(() => loadKubeConfig(undefined, { env: {}, home, tokenPath: join(home, 'no-token'), hint: 'test' }), (e: Error) => {
      assert.doesNotMatch(e.message, /\n/);
      assert.match(e.message, /^no Kubernetes credentials: \$KUBECONFIG is unset, .*\.kube\/config does not exist and this is not a pod with a service account token .*no-token\); pass --kubeconfig \(test\)$/);
      return true;
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('an explicit kubeconfig is loaded; one without a current cluster is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-kc-'));
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'good'), kubeconfig('https://127.0.0.1:6443'));
    assert.equal(loadKubeConfig(join(dir, 'good')).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    writeFileSync(join(dir, 'empty'), 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    assert.throws(() => loadKubeConfig(join(dir, 'empty')), /has no current cluster/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
