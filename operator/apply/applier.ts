// Server-side apply of rendered objects, skipping every object that is already as desired.
//
// Idempotence has three layers (see docs/adr/0005-idempotent-apply.md):
//  1. the applied-hash annotation: a hash of what we last applied, so a change in what render
//     produces — including a field it stopped producing, which a subset check cannot see —
//     always leads to an apply;
//  2. "desired is a subset of live" after normalisation (compare.ts), so a hand edit or a
//     deleted field is repaired even though the annotation still matches;
//  3. a memo of the resourceVersion our own last apply returned: while the live object still
//     has it, nobody has touched it since, whatever the normaliser thinks — so a representation
//     the normaliser does not know can cost one extra apply, never an apply per reconcile.
import type { Logger } from 'pino';
import { ApiError, isNotFound, type KubeClient, type KubeObject } from '../../kube/index.ts';
import { kindOf, objectPath, type ManagedKind } from '../kinds.ts';
import { contentHash, findMismatch, type Mismatch } from './compare.ts';

export const APPLIED_HASH_ANNOTATION = 'operator.weft.dev/applied-hash';

export interface DesiredObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export type ApplyDecision =
  | { action: 'skip' }
  | { action: 'apply'; why: 'missing' | 'hash-changed' | 'drift'; mismatch?: Mismatch };

interface Memo {
  hash: string;
  /** resourceVersion our apply returned. */
  rv: string;
  /** resourceVersion the object had before our apply: a cache still showing it is merely behind. */
  before?: string;
}

function identity(o: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
}

/** The object as it will be applied: desired plus the annotation holding its own hash. */
export function withAppliedHash(desired: DesiredObject): { obj: DesiredObject; hash: string } {
  const hash = contentHash(desired);
  const obj: DesiredObject = {
    ...desired,
    metadata: { ...desired.metadata, annotations: { ...desired.metadata.annotations, [APPLIED_HASH_ANNOTATION]: hash } },
  };
  return { obj, hash };
}

export interface ApplierOptions {
  client: KubeClient;
  fieldManager: string;
  logger?: Logger;
}

export class Applier {
  private readonly memo = new Map<string, Memo>();
  private readonly warned = new Set<string>();

  constructor(private readonly opts: ApplierOptions) {}

  /** Whether desired needs an apply given the live object from the cache (undefined = absent). */
  decide(desired: DesiredObject, live: KubeObject | undefined): ApplyDecision {
    const { obj, hash } = withAppliedHash(desired);
    if (!live || live.metadata?.deletionTimestamp) return { action: 'apply', why: 'missing' };
    const memo = this.memo.get(identity(desired));
    const rv = live.metadata?.resourceVersion;
    if (memo && memo.hash === hash && rv !== undefined && (rv === memo.rv || rv === memo.before)) return { action: 'skip' };
    if (live.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] !== hash) return { action: 'apply', why: 'hash-changed' };
    const mismatch = findMismatch(obj, live);
    if (mismatch) return { action: 'apply', why: 'drift', mismatch };
    return { action: 'skip' };
  }

  /**
   * Server-side apply with force: the operator is the one owner of what it renders, so a
   * field a person changed by hand is taken back rather than reported as a conflict.
   */
  async apply(desired: DesiredObject, live: KubeObject | undefined, signal?: AbortSignal): Promise<KubeObject> {
    const k = this.kind(desired);
    const { obj, hash } = withAppliedHash(desired);
    const path = objectPath(k, desired.metadata.name, desired.metadata.namespace);
    const result = await this.opts.client.request<KubeObject>(path, {
      verb: 'patch',
      method: 'PATCH',
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: this.opts.fieldManager, force: true },
      body: obj,
      signal,
    });
    const after = result.metadata?.resourceVersion ?? '';
    this.memo.set(identity(desired), { hash, rv: after, before: live?.metadata?.resourceVersion });
    // If what the server stored still does not contain what we sent, the normaliser is missing a
    // representation: the memo keeps us from re-applying, the warning says where to fix it.
    const m = findMismatch(obj, result);
    const id = identity(desired);
    if (m && !this.warned.has(id)) {
      this.warned.add(id);
      this.opts.logger?.warn({ object: id, path: m.path, desired: m.desired, live: m.live }, 'applied object differs from what was sent after normalisation; extend operator/apply/compare.ts');
    }
    return result;
  }

  /** Deletes an object the operator owns and no longer renders; the garbage collector removes its dependents (pods). */
  async delete(live: KubeObject, signal?: AbortSignal): Promise<boolean> {
    const k = this.kind(live);
    const path = objectPath(k, live.metadata!.name!, live.metadata?.namespace);
    this.memo.delete(identity(live));
    try {
      await this.opts.client.request(path, {
        verb: 'delete',
        method: 'DELETE',
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: live.metadata?.uid } },
        signal,
      });
      return true;
    } catch (err) {
      // Already gone, or replaced by a new object of the same name (uid precondition): nothing to do.
      if (isNotFound(err) || (err instanceof ApiError && err.status === 409)) return false;
      throw err;
    }
  }

  forget(o: KubeObject): void {
    this.memo.delete(identity(o));
  }

  private kind(o: { apiVersion?: string; kind?: string }): ManagedKind {
    const k = kindOf(o.apiVersion ?? '', o.kind ?? '');
    if (!k) throw new Error(`the operator does not manage ${o.apiVersion} ${o.kind}; add it to operator/kinds.ts and to the operator's ClusterRole`);
    return k;
  }
}
