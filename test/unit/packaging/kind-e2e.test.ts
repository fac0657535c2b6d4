// What can be checked of the kind e2e without a cluster (the e2e tier, test/e2e, runs it): the
// workflow and kind config parse and say what the e2e needs, every dataplane mode is covered by a
// valid Installation, and the scripts are shellcheck-clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { validateInstallation } from '../../../api/validation/validate.ts';

const root = join(import.meta.dirname, '../../..');
const script = join(root, 'hack/kind-e2e.sh');

function parseStrict(path: string): any {
  const docs = parseAllDocuments(readFileSync(join(root, path), 'utf8'));
  assert.equal(docs.length, 1, `${path}: expected one YAML document, found ${docs.length}`);
  assert.deepEqual(docs[0]!.errors.map((e) => e.message), [], `${path} is not valid YAML`);
  return docs[0]!.toJS();
}

function e2e(...args: string[]) {
  return spawnSync('bash', [script, ...args], { cwd: root, encoding: 'utf8' });
}

const modes = e2e('--list-modes').stdout.trim().split(/\s+/);

test('the e2e covers VXLAN, VXLANCrossSubnet, IPIP, host-gw (None), BGP full mesh and BGP with a route reflector, each with a valid Installation', () => {
  assert.deepEqual([...modes].sort(), ['bgp', 'bgp-reflector', 'host-gw', 'ipip', 'vxlan', 'vxlan-crosssubnet']);
  const want: Record<string, { encapsulation: string; bgp: string }> = {
    vxlan: { encapsulation: 'VXLAN', bgp: 'Disabled' },
    'vxlan-crosssubnet': { encapsulation: 'VXLANCrossSubnet', bgp: 'Disabled' },
    ipip: { encapsulation: 'IPIP', bgp: 'Disabled' },
    'host-gw': { encapsulation: 'None', bgp: 'Disabled' },
    bgp: { encapsulation: 'None', bgp: 'FullMesh' },
    'bgp-reflector': { encapsulation: 'None', bgp: 'RouteReflectors' },
  };
  for (const mode of modes) {
    const r = e2e('--print-installation', mode);
    assert.equal(r.status, 0, r.stderr);
    const inst = parse(r.stdout);
    assert.deepEqual(validateInstallation(inst), [], `${mode}: the e2e Installation is invalid`);
    assert.equal(inst.spec.network.ipPools[0].encapsulation, want[mode]!.encapsulation, mode);
    assert.equal(inst.spec.network.bgp.mode, want[mode]!.bgp, mode);
  }
});

test('an unknown mode is refused, naming the modes', () => {
  const r = e2e('--mode', 'geneve', '--print-installation', 'vxlan');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown mode 'geneve'.*vxlan vxlan-crosssubnet host-gw bgp bgp-reflector ipip/);
});

test('hack/kind/cluster.yaml: default CNI disabled, pod subnet of the e2e pool, 1 control plane + 2 workers', () => {
  const cfg = parseStrict('hack/kind/cluster.yaml');
  assert.equal(cfg.kind, 'Cluster');
  assert.equal(cfg.apiVersion, 'kind.x-k8s.io/v1alpha4');
  assert.equal(cfg.networking?.disableDefaultCNI, true);
  assert.equal(cfg.networking?.podSubnet, '10.244.0.0/16');
  const roles = (cfg.nodes as { role: string }[]).map((n) => n.role);
  assert.deepEqual(roles.filter((r) => r === 'control-plane').length, 1);
  assert.deepEqual(roles.filter((r) => r === 'worker').length, 2);
  const pool = parse(e2e('--print-installation', 'vxlan').stdout).spec.network.ipPools[0].cidr;
  assert.equal(pool, cfg.networking.podSubnet, 'the Installation pool must be the cluster pod subnet');
});

test('.github/workflows/e2e.yml runs hack/kind-e2e.sh for every mode on the kind config', () => {
  const wf = parseStrict('.github/workflows/e2e.yml');
  assert.ok(wf.on ?? wf[true as unknown as string], 'workflow has no trigger');
  const jobs = Object.values(wf.jobs ?? {}) as any[];
  assert.ok(jobs.length > 0, 'workflow has no jobs');
  const covered = new Set<string>();
  for (const job of jobs) {
    const runs = (job.steps as any[]).map((s) => String(s.run ?? '')).filter((r) => r.includes('hack/kind-e2e.sh'));
    if (runs.length === 0) continue;
    assert.ok(job['timeout-minutes'] > 0, 'the e2e job needs a timeout');
    const matrixModes: string[] = job.strategy?.matrix?.mode ?? [];
    for (const r of runs) {
      if (r.includes('${{ matrix.mode }}')) matrixModes.forEach((m) => covered.add(m));
      else if (!r.includes('--mode')) modes.forEach((m) => covered.add(m));
    }
    for (const m of matrixModes) assert.ok(modes.includes(m), `workflow mode ${m} is not a mode of hack/kind-e2e.sh`);
  }
  assert.deepEqual([...covered].sort(), [...modes].sort(), 'every mode must run in CI');
  for (const job of jobs) {
    for (const step of job.steps as any[]) {
      if (step.uses) assert.match(step.uses, /@v\d+/, `action ${step.uses} must be pinned to a version`);
    }
  }
  const text = readFileSync(join(root, '.github/workflows/e2e.yml'), 'utf8');
  assert.doesNotMatch(text, /:latest\b/, 'no floating latest tags in CI');
});

test('hack/kind-e2e.sh installs the release manifest and checks reachability, DF ping at the MTU, the upgrade', () => {
  const text = readFileSync(script, 'utf8');
  assert.match(text, /apply --server-side -f config\/release\/weft\.yaml/);
  assert.match(text, /--config hack\/kind\/cluster\.yaml/);
  assert.match(text, /load image-archive/);
  assert.match(text, /ping -M "do" -s "\$payload"/);
  assert.match(text, /payload=\$\(\(mtu - 28\)\)/);
  assert.match(text, /observedGeneration/);
  assert.match(text, /wait_agents_on "\$upgrade_image"/);
});

test('shell scripts are shellcheck-clean', (t) => {
  if (spawnSync('shellcheck', ['--version']).status !== 0) {
    t.skip('shellcheck is not installed (hack/install-deps installs it)');
    return;
  }
  const files = ['hack/kind-e2e.sh', 'hack/kind/build-kind', 'hack/kind/build-node-image', 'hack/install-deps', 'hack/tools/build', 'images/operator/weft-operator', 'images/node/weft-node'];
  const r = spawnSync('shellcheck', ['--external-sources', ...files], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
