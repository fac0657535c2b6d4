// The operator's kustomize base (config/operator): least-privilege RBAC without wildcards that
// still covers what the operator does and what it grants the node agent (Kubernetes only lets it
// create a role with permissions it holds), a hardened Deployment, CRDs identical to crds/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { managedKinds } from '../../../operator/kinds.ts';
import { nodeAgentClusterRules, nodeAgentConfigRules } from '../../../render/rbac.ts';
import { repoRoot } from '../../../hack/testenv/assets.ts';

interface Rule { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }
interface Doc { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[]; spec?: any }

const base = join(repoRoot, 'config', 'operator');
const docs: Doc[] = readdirSync(base).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(readFileSync(join(base, f), 'utf8')).map((d) => d.toJS() as Doc));
const clusterRole = docs.find((d) => d.kind === 'ClusterRole')!;
const role = docs.find((d) => d.kind === 'Role')!;

/** Whether some rule grants verb on group/resource (optionally for one name). */
function allows(rules: Rule[], group: string, resource: string, verb: string, name?: string): boolean {
  return rules.some((r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))));
}

test('no RBAC rule in config/operator uses a wildcard or touches Secrets', () => {
  const rbac = docs.filter((d) => d.rules);
  assert.ok(rbac.length >= 2);
  for (const d of rbac) {
    for (const r of d.rules!) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs'] as const) {
        for (const v of r[field] ?? []) assert.ok(!v.includes('*'), `${d.kind} ${d.metadata.name}: wildcard ${JSON.stringify(v)} in ${field}`);
      }
      assert.ok(!r.resources?.some((x) => x.startsWith('secrets')), `${d.kind} ${d.metadata.name} grants access to Secrets`);
      assert.ok(!r.verbs.some((v) => ['escalate', 'bind', 'impersonate'].includes(v)), `${d.kind} ${d.metadata.name} grants ${r.verbs}`);
    }
  }
});

test('the operator holds every permission it grants the node agent (RBAC escalation prevention)', () => {
  for (const r of nodeAgentClusterRules) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) {
      assert.ok(allows(clusterRole.rules!, g, res, v), `the agent's ClusterRole grants ${v} ${g || 'core'}/${res}; the operator's ClusterRole must too`);
    }
  }
  for (const r of nodeAgentConfigRules) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) {
      for (const n of r.resourceNames) assert.ok(allows(role.rules!, g, res, v, n) || allows(clusterRole.rules!, g, res, v, n), `the agent's Role grants ${v} ${res}/${n} in weft-system; the operator must hold it there`);
    }
  }
});

test('the operator may watch, apply and prune every kind it renders', () => {
  for (const k of managedKinds) {
    const rules = k.namespaced ? role.rules! : clusterRole.rules!;
    const name = k.kind === 'Namespace' ? 'weft-system' : k.namespaced ? undefined : 'weft-node';
    for (const v of ['list', 'watch', 'create']) assert.ok(allows(rules, k.group, k.plural, v), `${v} ${k.plural}`);
    for (const v of ['get', 'patch']) assert.ok(allows(rules, k.group, k.plural, v, name), `${v} ${k.plural}`);
    if (k.kind !== 'Namespace') assert.ok(allows(rules, k.group, k.plural, 'delete', name), `delete ${k.plural} (pruning)`);
  }
  const cr = clusterRole.rules!;
  assert.ok(allows(cr, 'operator.weft.dev', 'installations', 'watch'));
  assert.ok(allows(cr, 'operator.weft.dev', 'installations/status', 'patch'));
  assert.ok(!allows(cr, 'operator.weft.dev', 'installations', 'patch'), 'the operator never writes the Installation spec');
  assert.ok(allows(cr, 'network.weft.dev', 'ipamblocks', 'delete'), 'IPAM housekeeping');
  assert.ok(allows(cr, 'events.k8s.io', 'events', 'create'));
  for (const crd of ['installations.operator.weft.dev', 'ipamblocks.network.weft.dev', 'nodenetworks.network.weft.dev']) {
    assert.ok(allows(cr, 'apiextensions.k8s.io', 'customresourcedefinitions', 'patch', crd), `apply CRD ${crd}`);
  }
  assert.ok(!allows(cr, 'apiextensions.k8s.io', 'customresourcedefinitions', 'patch', 'other.example.com'), 'only its own CRDs');
  assert.ok(allows(role.rules!, 'coordination.k8s.io', 'leases', 'update', 'weft-operator'), 'leader election');
});

test('the Deployment runs 2 replicas with leader election, probes, resources, as non-root with a read-only root filesystem', () => {
  const d = docs.find((x) => x.kind === 'Deployment')!;
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  assert.ok(c.args.includes('--leader-elect=true'));
  assert.equal(pod.serviceAccountName, 'weft-operator');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.ok(c.livenessProbe.httpGet.path === '/healthz' && c.readinessProbe.httpGet.path === '/readyz');
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
});

test('config/crd holds exactly the generated CRDs of crds/', () => {
  const gen = readdirSync(join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
  const copy = readdirSync(join(repoRoot, 'config', 'crd')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  assert.deepEqual(copy, gen);
  for (const f of gen) {
    assert.equal(readFileSync(join(repoRoot, 'config', 'crd', f), 'utf8'), readFileSync(join(repoRoot, 'crds', f), 'utf8'), `config/crd/${f} differs from crds/${f}: cp crds/*.yaml config/crd/`);
  }
  const kust = readFileSync(join(repoRoot, 'config', 'crd', 'kustomization.yaml'), 'utf8');
  for (const f of gen) assert.ok(kust.includes(f), `config/crd/kustomization.yaml does not list ${f}`);
});
