// The operator's own CustomResourceDefinitions, applied at start (issue 12): a Helm or
// kustomize upgrade that leaves old CRDs behind is healed by the new operator. Revisions
// (annotation weft.dev/crd-revision) order them: the operator applies a CRD only when its
// revision is at least the cluster's, and refuses to run against a newer one — an older
// operator would write objects the newer schema may reject, or prune fields it does not know.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { parseAllDocuments } from 'yaml';
import { annotations } from '../api/index.ts';
import { findMismatch } from './apply/compare.ts';
import { isNotFound, sleep, type KubeClient, type KubeObject } from '../kube/index.ts';

export const embeddedCrdDir = fileURLToPath(new URL('../crds/', import.meta.url));

export interface CrdDocument extends KubeObject {
  apiVersion: string;
  kind: 'CustomResourceDefinition';
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

export class CrdDowngradeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrdDowngradeError';
  }
}

export function loadCrds(dir = embeddedCrdDir): CrdDocument[] {
  const out: CrdDocument[] = [];
  for (const f of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const obj = d.toJS() as CrdDocument | null;
      if (obj?.kind === 'CustomResourceDefinition') out.push(obj);
    }
  }
  if (out.length === 0) throw new Error(`no CustomResourceDefinition found in ${dir}; the operator image must ship crds/`);
  return out;
}

/** The revision annotation as a number; 0 when absent (CRDs from before revisions existed). */
export function crdRevision(o: { metadata?: { annotations?: Record<string, string> } } | undefined): number {
  const v = Number(o?.metadata?.annotations?.[annotations.crdRevision] ?? 0);
  return Number.isFinite(v) ? v : 0;
}

export type CrdAction = 'create' | 'upgrade' | 'repair' | 'unchanged';

export interface CrdPlanEntry {
  name: string;
  action: CrdAction;
  ours: number;
  cluster?: number;
}

/** What to do with each CRD; throws CrdDowngradeError when the cluster holds a newer revision of any. */
export function planCrds(embedded: readonly CrdDocument[], live: ReadonlyMap<string, KubeObject>, operatorVersion: string): CrdPlanEntry[] {
  const newer: string[] = [];
  const plan: CrdPlanEntry[] = embedded.map((crd) => {
    const ours = crdRevision(crd);
    const l = live.get(crd.metadata.name);
    if (!l) return { name: crd.metadata.name, action: 'create', ours };
    const cluster = crdRevision(l);
    if (cluster > ours) newer.push(`${crd.metadata.name} (cluster revision ${cluster}, this operator knows ${ours})`);
    if (cluster < ours) return { name: crd.metadata.name, action: 'upgrade', ours, cluster };
    return { name: crd.metadata.name, action: findMismatch(crd, l) ? 'repair' : 'unchanged', ours, cluster };
  });
  if (newer.length > 0) {
    throw new CrdDowngradeError(
      `refusing to run: the cluster has newer Weft CRDs than operator ${operatorVersion} knows: ${newer.join('; ')}. ` +
        'An older operator could write objects the newer schema rejects or drop fields it does not know. ' +
        'Run an operator release that ships these CRD revisions (or newer); to really downgrade, first apply the older CRDs yourself ' +
        '(kubectl apply --server-side --force-conflicts -f crds/ from the older release) and accept the risk.',
    );
  }
  return plan;
}

const crdPath = (name: string) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`;

export interface EnsureCrdsOptions {
  client: KubeClient;
  fieldManager: string;
  operatorVersion: string;
  dir?: string;
  logger?: Logger;
  /** How long to wait for an applied CRD to become Established. Default 60 s. */
  establishTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Applies the embedded CRDs where needed (server-side apply) and waits until they are Established. */
export async function ensureCrds(o: EnsureCrdsOptions): Promise<CrdPlanEntry[]> {
  const embedded = loadCrds(o.dir);
  const live = new Map<string, KubeObject>();
  for (const crd of embedded) {
    try {
      live.set(crd.metadata.name, await o.client.request<KubeObject>(crdPath(crd.metadata.name), { verb: 'get', signal: o.signal }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  const plan = planCrds(embedded, live, o.operatorVersion);
  for (const entry of plan) {
    if (entry.action === 'unchanged') continue;
    const crd = embedded.find((c) => c.metadata.name === entry.name)!;
    o.logger?.info({ crd: entry.name, action: entry.action, revision: entry.ours, clusterRevision: entry.cluster }, 'applying CRD');
    await o.client.request(crdPath(entry.name), {
      verb: 'patch',
      method: 'PATCH',
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: o.fieldManager, force: true },
      body: crd,
      signal: o.signal,
    });
  }
  const deadline = Date.now() + (o.establishTimeoutMs ?? 60_000);
  for (const entry of plan.filter((e) => e.action !== 'unchanged')) {
    for (;;) {
      const c = await o.client.request<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(crdPath(entry.name), { verb: 'get', signal: o.signal });
      if (c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${entry.name} did not become Established within ${(o.establishTimeoutMs ?? 60_000) / 1000}s; check kubectl describe crd ${entry.name}`);
      await sleep(200, o.signal);
    }
  }
  return plan;
}
