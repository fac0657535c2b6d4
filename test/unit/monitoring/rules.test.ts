// config/monitoring: every metric a rule or a dashboard panel uses must be one the code registers
// (the registries are created here, not grepped), and the rules must pass promtool's check and
// unit tests when promtool is installed (Debian package prometheus, hack/install-deps).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { createAgentMetrics } from '../../../components/node/health/metrics.ts';
import { createOperatorMetrics } from '../../../operator/metrics.ts';
import { createRuntimeMetrics } from '../../../kube/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const ruleFile = join(root, 'config', 'monitoring', 'prometheusrule.yaml');
const dashboardFile = join(root, 'config', 'monitoring', 'grafana-dashboard.json');

/** Metrics the rules need that the agent and operator do not export yet. Empty: the agent exports
 *  the MTU and BGP gauges and the operator the pool gauges (issue 10). Keep the check: a rule
 *  written ahead of its metric goes here, with who is to export it. */
const PENDING = new Set<string>([]);

/** The series the issue-10 rules were written for, with the labels their expressions group by. */
const RULE_METRICS: Record<string, string[]> = {
  weft_ipam_pool_allocated_addresses: ['pool'],
  weft_ipam_pool_capacity_addresses: ['pool'],
  weft_node_pod_mtu_bytes: [],
  weft_node_underlay_mtu_bytes: [],
  weft_node_encapsulation_overhead_bytes: [],
  weft_node_bgp_session_up: ['peer'],
};

/** Label names of every metric the code registers. */
const labelsOf = new Map<string, string[]>();

/** Every series name the code can export: metric names plus the histogram and summary suffixes. */
function exported(): Set<string> {
  const names = new Set<string>();
  const agent = createAgentMetrics(true);
  const operator = new Registry();
  createRuntimeMetrics(operator, 'weft_');
  createOperatorMetrics(operator, 'weft_');
  for (const reg of [agent.registry, operator]) {
    for (const m of reg.getMetricsAsArray()) {
      const type = (m as unknown as { type: string }).type;
      labelsOf.set(m.name, [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])].sort());
      names.add(m.name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan', 'le']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or label values. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const out = new Set<string>();
  for (const m of stripped.matchAll(/(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0]) || /^\d/.test(m[0])) continue;
    if (/^\d+[smhdwy]$/.test(m[0])) continue;
    out.add(m[0]);
  }
  return [...out];
}

interface Rule { alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const rules = (): Rule[] => (parse(readFileSync(ruleFile, 'utf8')) as { spec: { groups: { rules: Rule[] }[] } }).spec.groups.flatMap((g) => g.rules);

function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

describe('config/monitoring', () => {
  const known = exported();

  test('the metric-name extraction finds names and nothing else', () => {
    assert.deepEqual(metricNames('sum by (pool) (rate(a_total{x="y", le="0.5"}[5m])) / on() group_left b > bool 0.8 and c offset 5m'), ['a_total', 'b', 'c']);
    assert.deepEqual(metricNames('histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))'), ['x_bucket']);
  });

  test('every rule and dashboard expression uses only metrics the agent or operator registers', () => {
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const [where, expr] of [...rules().map((r) => [`rule ${r.alert ?? r.record}`, r.expr] as const), ...dashboardExprs().map((e) => ['dashboard', e] as const)]) {
      for (const name of metricNames(expr)) {
        used.add(name);
        if (!known.has(name) && !PENDING.has(name)) unknown.push(`${where}: ${name}`);
      }
    }
    assert.deepEqual(unknown, [], 'metrics no registry defines (typo, or a renamed metric)');
    const nowExported = [...PENDING].filter((n) => known.has(n));
    assert.deepEqual(nowExported, [], 'these are exported now: remove them from PENDING');
    assert.deepEqual([...PENDING].filter((n) => !used.has(n)), [], 'PENDING lists only metrics a rule uses');
  });

  test('the metrics the issue-10 rules need are registered, with the labels the rules group by', () => {
    for (const [name, labels] of Object.entries(RULE_METRICS)) {
      assert.ok(known.has(name), `${name} is registered`);
      assert.deepEqual(labelsOf.get(name), labels, `${name} labels`);
    }
    const used = new Set(rules().flatMap((r) => metricNames(r.expr)));
    assert.deepEqual(Object.keys(RULE_METRICS).filter((n) => !used.has(n)), [], 'every one of them is used by a rule');
  });

  test('the alerts the issue asks for exist, each with severity and a pointer to weft diagnose', () => {
    const all = rules();
    for (const name of ['WeftIPPoolUsageHigh', 'WeftLeakedAddresses', 'WeftMTUMismatch', 'WeftBGPSessionDown', 'WeftRolloutStalled', 'WeftAgentNotReady', 'WeftOperatorDegraded']) {
      const r = all.find((x) => x.alert === name);
      assert.ok(r, `alert ${name}`);
      assert.match(r.labels?.severity ?? '', /^(warning|critical)$/);
      assert.match(r.annotations?.description ?? '', /weft diagnose|logs/);
    }
  });

  test('promtool check rules and promtool test rules', (t) => {
    if (spawnSync('sh', ['-c', 'command -v promtool']).status !== 0) {
      t.skip('promtool is not installed (Debian package prometheus; hack/install-deps installs it)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'weft-rules-'));
    try {
      const groups = (parse(readFileSync(ruleFile, 'utf8')) as { spec: { groups: unknown[] } }).spec.groups;
      writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups }, null, 2));
      copyFileSync(join(here, 'rules-test-series.yaml'), join(dir, 'tests.yaml'));
      const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool check rules:\n${check.stdout}${check.stderr}`);
      const unit = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yaml')], { encoding: 'utf8', cwd: dir });
      assert.equal(unit.status, 0, `promtool test rules:\n${unit.stdout}${unit.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
