/**
 * The single-file release manifest, config/release/weft.yaml: the CRDs from crds/ and the
 * operator base config/operator/, with the operator image pinned to the release, ordered so one
 * `kubectl apply -f` creates everything in one pass (CRDs and the Namespace before what uses
 * them). Also the chart's crds/ copies. Pure: same inputs, byte-identical output.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { imageName, isClusterScoped, kustomizeBuild, readObjects, type KObject } from './kustomize.ts';

import { DEFAULT_REGISTRY } from '../../render/index.ts';
import { compareForInstall } from '../../kube/kinds.ts';

/** Where release images are published (the operator's default too); the chart's values.yaml must match. */
export { DEFAULT_REGISTRY };
export const OPERATOR_IMAGE = 'weft-operator';
export const NODE_IMAGE = 'weft-node';

export const RELEASE_MANIFEST = 'config/release/weft.yaml';
export const OPERATOR_BASE = 'config/operator';
export const CHART_CRD_DIR = 'charts/weft/crds';


function firstDifferencePath(a: unknown, b: unknown, path = ''): string {
  if (isDeepStrictEqual(a, b)) return '';
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return path || '.';
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const ak = (a as Record<string, unknown>)[k];
    const bk = (b as Record<string, unknown>)[k];
    if (!isDeepStrictEqual(ak, bk)) return firstDifferencePath(ak, bk, Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`);
  }
  return path || '.';
}

/** Objects in the one install order (kube/kinds.ts). */
export function sortForApply(objects: KObject[]): KObject[] {
  return [...objects].sort(compareForInstall);
}

export function packageVersion(root: string): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The image tag of a release: package.json's version, which is also the version the operator
 * reports and the tag of the node agent image it renders (operator/main.ts --version default).
 */
export function releaseTag(root: string): string {
  return packageVersion(root);
}

export function crdFiles(root: string): string[] {
  return readdirSync(join(root, 'crds')).filter((f) => /\.ya?ml$/.test(f)).sort();
}

export function loadCrds(root: string): KObject[] {
  return crdFiles(root).flatMap((f) => readObjects(join(root, 'crds', f))).filter((o) => o.kind === 'CustomResourceDefinition');
}

export interface ReleaseOptions {
  registry?: string;
  tag?: string;
}

/** The objects of the release manifest, in apply order. */
export function releaseObjects(root: string, opts: ReleaseOptions = {}): KObject[] {
  const registry = opts.registry ?? DEFAULT_REGISTRY;
  const tag = opts.tag ?? releaseTag(root);
  const crds = loadCrds(root);
  if (crds.length === 0) throw new Error('crds/ holds no CustomResourceDefinition: run `npm run generate`');
  const byName = new Map(crds.map((c) => [c.metadata.name, c]));

  const base = kustomizeBuild(join(root, OPERATOR_BASE), root);
  const rest: KObject[] = [];
  for (const o of base) {
    if (o.kind !== 'CustomResourceDefinition') {
      rest.push(o);
      continue;
    }
    // The base may list the CRDs too (for `kubectl apply -k`); they must be crds/ verbatim.
    const generated = byName.get(o.metadata.name);
    if (!generated) throw new Error(`${OPERATOR_BASE} contains CRD ${o.metadata.name}, which is not in crds/`);
    if (!isDeepStrictEqual(generated, o)) {
      throw new Error(
        `${OPERATOR_BASE} contains CRD ${o.metadata.name} that differs from crds/ at ${firstDifferencePath(generated, o)}: ` +
          'crds/ (generated from api/schemas) is the source of truth; fix api/schemas, run npm run generate and refresh the copy',
      );
    }
  }

  let pinned = 0;
  for (const o of rest) {
    if (o.kind !== 'Deployment') continue;
    const pod = (o.spec as any)?.template?.spec;
    for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])] as { image?: string }[]) {
      if (c.image && imageName(c.image).split('/').pop() === OPERATOR_IMAGE) {
        c.image = `${registry}/${OPERATOR_IMAGE}:${tag}`;
        // The version and registry flags decide the node agent image the operator renders.
        const args = (c as { args?: string[] }).args;
        if (args) {
          (c as { args?: string[] }).args = args.map((a) =>
            a.startsWith('--version=') ? `--version=${tag}` : a.startsWith('--registry=') ? `--registry=${registry}` : a,
          );
        }
        pinned++;
      }
    }
  }
  if (pinned === 0) {
    throw new Error(`${OPERATOR_BASE} has no Deployment container whose image is named ${OPERATOR_IMAGE}; the release cannot pin the operator image`);
  }

  const names = new Set<string>();
  for (const o of rest) {
    const id = `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (names.has(id)) throw new Error(`${OPERATOR_BASE} yields ${id} twice`);
    names.add(id);
    if (!isClusterScoped(o.kind) && !o.metadata.namespace) {
      throw new Error(`${OPERATOR_BASE}: ${o.kind} ${o.metadata.name} has no namespace; set one (or \`namespace:\` in the kustomization)`);
    }
  }
  return sortForApply([...crds, ...rest]);
}

const HEADER = (tag: string, registry: string) =>
  [
    `# Weft ${tag} — generated by \`npm run release-manifest\` (hack/release.ts) from crds/ and config/operator/. Do not edit.`,
    `# Install: kubectl apply -f weft.yaml, then kubectl apply -f installation.yaml (config/samples/).`,
    `# Images: ${registry}/${OPERATOR_IMAGE}:${tag} (the operator renders ${registry}/${NODE_IMAGE}:<its version>).`,
  ].join('\n');

export function toYamlStream(objects: KObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, indent: 2 })}`).join('');
}

export function releaseManifest(root: string, opts: ReleaseOptions = {}): string {
  const registry = opts.registry ?? DEFAULT_REGISTRY;
  const tag = opts.tag ?? releaseTag(root);
  return `${HEADER(tag, registry)}\n${toYamlStream(releaseObjects(root, { registry, tag }))}`;
}

/** charts/weft/crds/<file>: the CRDs, copied from crds/ with a header saying so. */
export function chartCrdFiles(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of crdFiles(root)) {
    const text = readFileSync(join(root, 'crds', f), 'utf8').replace(/^# Generated by .*\n/, '');
    out.set(f, `# Copied from crds/${f} by \`npm run release-manifest\` (hack/release.ts). Do not edit.\n${text}`);
  }
  return out;
}
