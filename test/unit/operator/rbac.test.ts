// The operator's kustomize base (config/operator): least-privilege RBAC without wildcards for
// the operator and (statically, issue 16) for the node agent, the agent's admission policy, a
// hardened Deployment, CRDs identical to crds/.
import { bgpPasswordSecret } from '../../../api/effective-config.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { managedKinds } from '../../../operator/kinds.ts';
import { repoRoot } from '../../../hack/testenv/assets.ts';

interface Rule { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }
interface Doc { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[]; spec?: any }

const base = join(repoRoot, 'config', 'operator');
const docs: Doc[] = readdirSync(base).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(readFileSync(join(base, f), 'utf8')).map((d) => d.toJS() as Doc));
const clusterRole = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'weft-operator')!;
const role = docs.find((d) => d.kind === 'Role' && d.metadata.name === 'weft-operator')!;
const agentClusterRole = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'weft-node')!;
const agentRole = docs.find((d) => d.kind === 'Role' && d.metadata.name === 'weft-node')!;

/** Every (group, resource, verb[, name]) a rule list grants, as "group/resource:verb[@name]". */
function grants(rules: Rule[]): string[] {
  return rules.flatMap((r) => r.apiGroups!.flatMap((g) => r.resources!.flatMap((res) => r.verbs.flatMap((v) =>
    (r.resourceNames ?? ['']).map((n) => `${g || 'core'}/${res}:${v}${n ? `@${n}` : ''}`))))).sort();
}

/** Whether some rule grants verb on group/resource (optionally for one name). */
function allows(rules: Rule[], group: string, resource: string, verb: string, name?: string): boolean {
  return rules.some((r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))));
}

test('no RBAC rule in config/operator uses a wildcard or touches Secrets, but the agent\'s get of the BGP password Secret by name', () => {
  const rbac = docs.filter((d) => d.rules);
  assert.ok(rbac.length >= 2);
  for (const d of rbac) {
    for (const r of d.rules!) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs'] as const) {
        for (const v of r[field] ?? []) assert.ok(!v.includes('*'), `${d.kind} ${d.metadata.name}: wildcard ${JSON.stringify(v)} in ${field}`);
      }
      if (r.resources?.some((x) => x.startsWith('secrets'))) {
        // Issue 19: BGP session passwords, one Secret by name, get only, in weft-system.
        assert.equal(d.kind, 'Role', `${d.kind} ${d.metadata.name} grants access to Secrets`);
        assert.deepEqual([r.resources, r.resourceNames, r.verbs], [['secrets'], [bgpPasswordSecret], ['get']], `${d.kind} ${d.metadata.name} grants more than get of Secret ${bgpPasswordSecret}`);
      }
      assert.ok(!r.verbs.some((v) => ['escalate', 'bind', 'impersonate'].includes(v)), `${d.kind} ${d.metadata.name} grants ${r.verbs}`);
    }
  }
});

test('the node agent holds exactly what its code calls: read, create and delete of its objects, status patches, no update', () => {
  assert.deepEqual(grants(agentClusterRole.rules!), [
    'core/events:create', 'core/nodes:get', 'core/nodes:list', 'core/nodes:watch', 'core/pods:list', 'core/pods:watch',
    'network.weft.dev/ipamblocks/status:patch', 'network.weft.dev/ipamblocks:create', 'network.weft.dev/ipamblocks:delete',
    'network.weft.dev/ipamblocks:get', 'network.weft.dev/ipamblocks:list', 'network.weft.dev/ipamblocks:watch',
    'network.weft.dev/nodenetworks/status:patch', 'network.weft.dev/nodenetworks:create', 'network.weft.dev/nodenetworks:get',
    'network.weft.dev/nodenetworks:list', 'network.weft.dev/nodenetworks:watch',
  ]);
  assert.deepEqual(grants(agentRole.rules!), ['core/configmaps:get@weft-config', 'core/configmaps:list@weft-config', 'core/configmaps:watch@weft-config']);
  const bindings = docs.filter((d) => (d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding') && d.metadata.name === 'weft-node') as any[];
  assert.equal(bindings.length, 2);
  for (const b of bindings) assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'weft-node', namespace: 'weft-system' }]);
});

test('the operator cannot create or change RBAC, nor any CRD but its own, nor read pods outside weft-system', () => {
  const all = [...grants(clusterRole.rules!), ...grants(role.rules!)];
  assert.deepEqual(all.filter((g) => g.startsWith('rbac.authorization.k8s.io/')), []);
  assert.deepEqual(grants(clusterRole.rules!).filter((g) => g.startsWith('core/pods') || g.startsWith('core/events') || g.startsWith('core/serviceaccounts')), []);
  const crd = grants(clusterRole.rules!).filter((g) => g.startsWith('apiextensions.k8s.io/'));
  // create cannot be limited by name (the name is in the body); every other verb is by name.
  assert.deepEqual(crd.filter((g) => !g.includes('@')), ['apiextensions.k8s.io/customresourcedefinitions:create']);
  assert.ok(!grants(clusterRole.rules!).some((g) => /network\.weft\.dev\/(nodenetworks|ipamblocks)(\/status)?:(create|update)/.test(g)), 'the operator never creates or updates agent objects');
});

test('the node agent admission policy and its bindings ship in the base, keyed on the token\'s node name', () => {
  const policies = docs.filter((d) => d.kind === 'ValidatingAdmissionPolicy') as any[];
  assert.deepEqual(policies.map((p) => p.metadata.name).sort(), ['weft-node-blocks-in-pools', 'weft-node-own-objects']);
  const own = policies.find((p) => p.metadata.name === 'weft-node-own-objects');
  assert.equal(own.spec.failurePolicy, 'Fail');
  assert.match(JSON.stringify(own.spec.variables), /authentication\.kubernetes\.io\/node-name/);
  const bindings = docs.filter((d) => d.kind === 'ValidatingAdmissionPolicyBinding') as any[];
  for (const p of policies) {
    const b = bindings.find((x) => x.spec.policyName === p.metadata.name);
    assert.ok(b, `no binding for ${p.metadata.name}`);
    assert.deepEqual(b.spec.validationActions, ['Deny']);
  }
});

test('the operator may watch, apply and prune every kind it renders', () => {
  for (const k of managedKinds) {
    const rules = k.namespaced ? role.rules! : clusterRole.rules!;
    const name = k.kind === 'Namespace' ? 'weft-system' : undefined;
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
