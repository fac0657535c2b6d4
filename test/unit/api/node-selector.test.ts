// Node selectors in Calico syntax (what Tigera users paste, issue 21 item 8) next to Kubernetes
// label selectors: one parser (api/node-selector.ts) for validate, render, the agent and diagnose.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isCalicoSyntax, parseNodeSelector, selectsNode, SelectorSyntaxError } from '../../../api/node-selector.ts';
import { validateInstallation } from '../../../api/validation/validate.ts';
import { render } from '../../../render/index.ts';

const a = { zone: 'a', tier: 'edge', 'kubernetes.io/os': 'linux', name: 'worker-12' };
const b = { zone: 'b' };
const none = {};

describe('Calico selector syntax', () => {
  const cases: [string, boolean, boolean, boolean][] = [
    // selector, matches a, matches b, matches a node without labels
    ['all()', true, true, true],
    ['has(tier)', true, false, false],
    ['!has(tier)', false, true, true],
    ["zone == 'a'", true, false, false],
    ["zone != 'a'", false, true, true],
    ["zone in {'a', 'c'}", true, false, false],
    ["zone not in {'a'}", false, true, true],
    ["zone == 'a' && tier == 'edge'", true, false, false],
    ["zone == 'b' || has(tier)", true, true, false],
    ["!(zone == 'a' || zone == 'b')", false, false, true],
    ["has(zone) && (zone == 'b' || tier == 'edge')", true, true, false],
    ["kubernetes.io/os == \"linux\"", true, false, false],
    ["name starts with 'worker-'", true, false, false],
    ["name contains 'er-1'", true, false, false],
    ["name ends with '12'", true, false, false],
  ];
  for (const [sel, ma, mb, mn] of cases) {
    test(sel, () => {
      assert.ok(isCalicoSyntax(sel));
      assert.deepEqual([selectsNode(sel, a), selectsNode(sel, b), selectsNode(sel, none)], [ma, mb, mn]);
    });
  }

  test('bad Calico selectors say where and that they were read as Calico', () => {
    for (const bad of ["zone == a'", "zone == 'a' &&", 'has(zone', "zone in ('a')", "all() zone == 'a'"]) {
      assert.throws(() => parseNodeSelector(bad), (e: Error) => e instanceof SelectorSyntaxError && /Calico/.test(e.message) && /character \d+/.test(e.message), bad);
    }
  });
});

describe('Kubernetes label selectors keep working', () => {
  for (const [sel, ma, mb, mn] of [['', true, true, true], ['zone=a', true, false, false], ['zone!=a', false, true, true], ['zone in (a,b)', true, true, false], ['tier', true, false, false], ['!tier', false, true, true], ['zone=a,tier=edge', true, false, false]] as [string, boolean, boolean, boolean][]) {
    test(JSON.stringify(sel), () => {
      assert.ok(!isCalicoSyntax(sel));
      assert.deepEqual([selectsNode(sel, a), selectsNode(sel, b), selectsNode(sel, none)], [ma, mb, mn]);
    });
  }
});

describe('one parser everywhere', () => {
  const inst = (nodeSelector: string) => ({ apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default' }, spec: { network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16', nodeSelector }] } } });

  test('weft validate accepts all() — the Tigera default of every pool — and rejects a broken one', () => {
    assert.deepEqual(validateInstallation(inst('all()')), []);
    assert.deepEqual(validateInstallation(inst("zone == 'a' && !has(edge)")), []);
    assert.deepEqual(validateInstallation(inst("zone == 'a' &&")).map((p) => p.path), ['spec.network.ipPools[0].nodeSelector']);
  });

  test('render selects with its meaning', () => {
    const facts = { nodes: [{ name: 'n1', labels: a }, { name: 'n2', labels: b }, { name: 'n3' }] };
    const explain = (sel: string) => render(inst(sel) as never, facts).explain.find((e) => e.subject === 'pool default nodes')!;
    assert.equal(explain('all()').decision, '3 of 3');
    assert.equal(explain("zone != 'a'").decision, '2 of 3');
    assert.match(explain("zone != 'a'").reason, /Calico syntax/);
    assert.equal(explain('zone!=a').decision, '2 of 3');
  });
});
