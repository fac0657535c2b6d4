// Helpers of the packaging tests: run helm template, parse YAML streams, and compare two sets of
// objects by identity and content, ignoring only Helm's own bookkeeping labels.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KObject } from '../../../hack/release/kustomize.ts';

export const repoRoot = join(import.meta.dirname, '../../..');
export const chartDir = join(repoRoot, 'charts/weft');

export function parseObjects(text: string): KObject[] {
  return parseAllDocuments(text).map((d) => d.toJS() as KObject).filter(Boolean);
}

export function idOf(o: KObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** Labels Helm adds that a kubectl-applied manifest cannot have; nothing else is ignored. */
const HELM_LABELS: Record<string, (v: string) => boolean> = {
  'helm.sh/chart': () => true,
  'app.kubernetes.io/managed-by': (v) => v === 'Helm',
};

export function withoutHelmLabels(o: KObject): KObject {
  const copy = structuredClone(o);
  const labels = copy.metadata.labels;
  if (labels) {
    for (const [k, keep] of Object.entries(HELM_LABELS)) if (labels[k] !== undefined && keep(labels[k]!)) delete labels[k];
  }
  return copy;
}

/** Differences between two object sets, one line each; empty when they are the same. */
export function objectDifferences(expected: KObject[], actual: KObject[]): string[] {
  const a = new Map(actual.map((o) => [idOf(o), o]));
  const e = new Map(expected.map((o) => [idOf(o), o]));
  const out: string[] = [];
  for (const id of e.keys()) if (!a.has(id)) out.push(`missing: ${id}`);
  for (const id of a.keys()) if (!e.has(id)) out.push(`extra: ${id}`);
  for (const [id, want] of e) {
    const got = a.get(id);
    if (got && !isDeepStrictEqual(got, want)) out.push(`differs: ${id}: ${firstDifference(want, got, '')}`);
  }
  return out;
}

function firstDifference(want: unknown, got: unknown, path: string): string {
  if (typeof want !== 'object' || typeof got !== 'object' || want === null || got === null || Array.isArray(want) !== Array.isArray(got)) {
    return `${path || '.'}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
  }
  const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
  for (const k of keys) {
    const w = (want as Record<string, unknown>)[k];
    const g = (got as Record<string, unknown>)[k];
    if (!isDeepStrictEqual(w, g)) return firstDifference(w, g, `${path}.${k}`);
  }
  return `${path || '.'}: differs`;
}

export function helmTemplate(helm: string, args: string[] = []): { objects: KObject[]; stderr: string; code: number | null; stdout: string } {
  const r = spawnSync(helm, ['template', 'weft', chartDir, '--include-crds', ...args], { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: join(repoRoot, '.cache/helm'), HELM_CONFIG_HOME: join(repoRoot, '.cache/helm'), HELM_DATA_HOME: join(repoRoot, '.cache/helm') } });
  return { objects: r.status === 0 ? parseObjects(r.stdout) : [], stderr: r.stderr, code: r.status, stdout: r.stdout };
}
