// The Argo CD health check Weft ships (config/gitops/argocd-cm-health.yaml), run by a real Lua
// interpreter through hack/kind/argocd-health.ts — the same path the kind e2e uses against a live
// Installation — on the status shapes the operator writes (kstatus: observedGeneration, Ready,
// Progressing, Degraded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../../..');
const lua = ['lua5.4', 'lua5.3', 'lua'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);

function health(obj: unknown): { status: string; message: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'hack/kind/argocd-health.ts')], { input: JSON.stringify(obj), encoding: 'utf8', cwd: root });
  assert.equal(r.status, 0, r.stderr);
  const [status = '', message = ''] = r.stdout.trimEnd().split('\t');
  return { status, message };
}

const cond = (type: string, status: string, message = '') => ({ type, status, reason: type, message });

test('Argo CD health of an Installation, evaluated in Lua', { skip: lua ? false : 'no Lua interpreter (hack/install-deps installs lua5.4)' }, () => {
  assert.deepEqual(health({ metadata: { generation: 1 } }), { status: 'Progressing', message: 'Waiting for the Weft operator to report status' });
  assert.equal(health({ metadata: { generation: 3 }, status: { observedGeneration: 2, conditions: [cond('Ready', 'True')] } }).status, 'Progressing');
  assert.deepEqual(
    health({ metadata: { generation: 2 }, status: { observedGeneration: 2, conditions: [cond('Ready', 'False', 'rolling'), cond('Progressing', 'True', '1/3 nodes'), cond('Degraded', 'False')] } }),
    { status: 'Progressing', message: '1/3 nodes' },
  );
  assert.deepEqual(
    health({ metadata: { generation: 2 }, status: { observedGeneration: 2, conditions: [cond('Ready', 'False'), cond('Degraded', 'True', 'rollout halted: node kind-worker2 did not become healthy')] } }),
    { status: 'Degraded', message: 'rollout halted: node kind-worker2 did not become healthy' },
  );
  assert.deepEqual(
    health({ metadata: { generation: 2 }, status: { observedGeneration: 2, conditions: [cond('Ready', 'True', 'pod network ready on 3 node(s)'), cond('Degraded', 'False')] } }),
    { status: 'Healthy', message: 'pod network ready on 3 node(s)' },
  );
});
