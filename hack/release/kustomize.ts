/**
 * A small, offline `kustomize build` for the bases Weft ships (config/operator/ and what it
 * includes): resources (files and directories), namespace, images, labels, commonLabels,
 * commonAnnotations. Anything else in a kustomization is refused with a message naming the field,
 * so the release manifest can never silently differ from what `kubectl apply -k` would apply;
 * test/unit/packaging/release.test.ts also compares it with the real kustomize in the cached
 * kubectl when hack/testenv has built one.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [field: string]: unknown;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'labels', 'commonLabels', 'commonAnnotations']);

/** Kinds that are not namespaced, for `namespace:` (the ones a Weft base can contain). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding', 'Installation', 'APIService', 'StorageClass', 'Node',
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

interface LabelSet {
  pairs: Record<string, string>;
  includeSelectors?: boolean;
  includeTemplates?: boolean;
}

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: ImageOverride[];
  labels?: LabelSet[];
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
}

export class KustomizeError extends Error {}

function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((p) => existsSync(p));
}

/** Parses a multi-document YAML file into objects, skipping empty documents. */
export function readObjects(path: string): KObject[] {
  const out: KObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length > 0) throw new KustomizeError(`${path}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as KObject | null;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || !value.kind || !value.apiVersion || !value.metadata?.name) {
      throw new KustomizeError(`${path}: a document without apiVersion, kind or metadata.name`);
    }
    out.push(value);
  }
  return out;
}

/** The image's name without tag or digest: `reg:5000/a/b:tag@sha256:..` -> `reg:5000/a/b`. */
export function imageName(image: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function applyImage(image: string, overrides: ImageOverride[]): string {
  const name = imageName(image);
  const o = overrides.find((x) => x.name === name);
  if (!o) return image;
  const rest = image.slice(name.length);
  let tag = rest.startsWith(':') ? rest.split('@')[0]! : '';
  let digest = rest.includes('@') ? `@${rest.split('@')[1]}` : '';
  if (o.newTag !== undefined) tag = `:${o.newTag}`;
  if (o.digest !== undefined) {
    digest = `@${o.digest}`;
    tag = '';
  }
  return `${o.newName ?? name}${tag}${digest}`;
}

/** Pod specs inside an object: Deployment/DaemonSet/StatefulSet/Job templates, CronJob, Pod. */
function podSpecs(obj: KObject): Record<string, unknown>[] {
  const spec = obj.spec as Record<string, any> | undefined;
  if (!spec) return [];
  if (obj.kind === 'Pod') return [spec];
  if (obj.kind === 'CronJob') return spec.jobTemplate?.spec?.template?.spec ? [spec.jobTemplate.spec.template.spec] : [];
  return spec.template?.spec ? [spec.template.spec] : [];
}

function templateMeta(obj: KObject): Record<string, any> | undefined {
  const spec = obj.spec as Record<string, any> | undefined;
  if (obj.kind === 'CronJob') return spec?.jobTemplate?.spec?.template ? (spec.jobTemplate.spec.template.metadata ??= {}) : undefined;
  return spec?.template ? (spec.template.metadata ??= {}) : undefined;
}

function addLabels(obj: KObject, pairs: Record<string, string>, selectors: boolean, templates: boolean): void {
  obj.metadata.labels = { ...obj.metadata.labels, ...pairs };
  if (templates || selectors) {
    const meta = templateMeta(obj);
    if (meta) meta.labels = { ...meta.labels, ...pairs };
  }
  if (selectors) {
    const spec = obj.spec as Record<string, any> | undefined;
    if (spec?.selector && ['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet'].includes(obj.kind)) {
      spec.selector.matchLabels = { ...spec.selector.matchLabels, ...pairs };
    } else if (obj.kind === 'Service' && spec) {
      spec.selector = { ...spec.selector, ...pairs };
    }
  }
}

/** Builds the kustomization in dir into a flat list of objects, in the order kustomize emits them (resource order). */
export function kustomizeBuild(dir: string, repoRoot: string = dir): KObject[] {
  const file = kustomizationFile(dir);
  const where = relative(repoRoot, file ?? dir) || '.';
  if (!file) throw new KustomizeError(`${relative(repoRoot, dir) || dir} has no kustomization.yaml`);
  const k = (parse(readFileSync(file, 'utf8')) ?? {}) as Kustomization & Record<string, unknown>;
  const unknown = Object.keys(k).filter((f) => !SUPPORTED.has(f));
  if (unknown.length > 0) {
    throw new KustomizeError(
      `${where}: hack/release.ts does not understand the kustomization field(s) ${unknown.join(', ')}; ` +
        `extend hack/release/kustomize.ts (the test compares it with the real kustomize) or express it in the resources`,
    );
  }
  let objects: KObject[] = [];
  for (const r of k.resources ?? []) {
    if (/^[a-z]+:\/\//.test(r) || r.startsWith('github.com/')) {
      throw new KustomizeError(`${where}: remote resource ${r} is not allowed: the release manifest is built offline`);
    }
    const p = resolve(dir, r);
    if (!existsSync(p)) throw new KustomizeError(`${where}: resource ${r} does not exist (${p})`);
    objects.push(...(statSync(p).isDirectory() ? kustomizeBuild(p, repoRoot) : readObjects(p)));
  }
  objects = objects.map((o) => structuredClone(o));

  if (k.namespace) {
    const serviceAccounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name));
    for (const o of objects) {
      if (!isClusterScoped(o.kind)) o.metadata.namespace = k.namespace;
      // Like kustomize: bindings follow the ServiceAccounts of this build into the new namespace.
      if ((o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') && Array.isArray(o.subjects)) {
        for (const s of o.subjects as { kind: string; name: string; namespace?: string }[]) {
          if (s.kind === 'ServiceAccount' && serviceAccounts.has(s.name)) s.namespace = k.namespace;
        }
      }
    }
  }
  for (const set of k.labels ?? []) {
    for (const o of objects) addLabels(o, set.pairs ?? {}, set.includeSelectors === true, set.includeTemplates === true);
  }
  if (k.commonLabels) for (const o of objects) addLabels(o, k.commonLabels, true, true);
  if (k.commonAnnotations) {
    for (const o of objects) {
      o.metadata.annotations = { ...o.metadata.annotations, ...k.commonAnnotations };
      const meta = templateMeta(o);
      if (meta) meta.annotations = { ...meta.annotations, ...k.commonAnnotations };
    }
  }
  if (k.images?.length) {
    for (const o of objects) {
      for (const spec of podSpecs(o)) {
        for (const list of ['initContainers', 'containers'] as const) {
          for (const c of (spec[list] as { image?: string }[] | undefined) ?? []) {
            if (c.image) c.image = applyImage(c.image, k.images);
          }
        }
      }
    }
  }
  return objects;
}
