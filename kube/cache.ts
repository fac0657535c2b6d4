// The informer's object store: objects by "namespace/name" key plus secondary indexes, so
// controllers answer "which IPAMBlocks belong to node X" without a List call.
import type { KubeObject } from './client.ts';

/** client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`object of kind ${obj.kind ?? '?'} has no metadata.name`);
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Returns the index values an object is filed under (none = not indexed). */
export type IndexFunc<T extends KubeObject = KubeObject> = (obj: T) => string[];

export const byNamespace: IndexFunc = (o) => (o.metadata?.namespace ? [o.metadata.namespace] : []);

/** Every owner's UID from metadata.ownerReferences. */
export const byOwnerUid: IndexFunc = (o) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid);

/** Every owner as "Kind/name" (ownerReferences are same-namespace or cluster-scoped). */
export const byOwner: IndexFunc = (o) => (o.metadata?.ownerReferences ?? []).map((r) => `${r.kind}/${r.name}`);

/** The value of one label (e.g. the label naming an object's owner Installation). */
export function byLabel(label: string): IndexFunc {
  return (o) => {
    const v = o.metadata?.labels?.[label];
    return v === undefined ? [] : [v];
  };
}

/**
 * The node an object belongs to: spec.nodeName (Pods), else an ownerReference of kind Node
 * (NodeNetwork, IPAMBlock), else the object's own name if it is a Node.
 */
export const byNodeName: IndexFunc = (o) => {
  const spec = o.spec as { nodeName?: unknown } | undefined;
  if (typeof spec?.nodeName === 'string' && spec.nodeName) return [spec.nodeName];
  const owners = (o.metadata?.ownerReferences ?? []).filter((r) => r.kind === 'Node').map((r) => r.name);
  if (owners.length) return owners;
  if (o.kind === 'Node' && o.metadata?.name) return [o.metadata.name];
  return [];
};

export class Store<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  /** index name -> index value -> keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly indexers = new Map<string, IndexFunc<T>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    for (const [name, fn] of Object.entries(indexers)) this.addIndex(name, fn);
  }

  /** Adds an index; existing objects are indexed at once. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.indexers.has(name)) throw new Error(`index ${name} already exists on this store`);
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [key, obj] of this.items) for (const v of fn(obj)) addTo(idx, v, key);
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  /** Objects filed under one value of a named index. */
  byIndex(indexName: string, value: string): T[] {
    const idx = this.indices.get(indexName);
    if (!idx) throw new Error(`no index named ${indexName} on this store (have: ${[...this.indexers.keys()].join(', ') || 'none'})`);
    return [...(idx.get(value) ?? [])].map((k) => this.items.get(k)!).filter(Boolean);
  }

  /** Distinct values present in a named index. */
  indexValues(indexName: string): string[] {
    const idx = this.indices.get(indexName);
    if (!idx) throw new Error(`no index named ${indexName} on this store`);
    return [...idx.keys()];
  }

  /** Inserts or replaces; returns the previous object. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) addTo(idx, v, key);
    }
    return old;
  }

  /** Removes by key; returns the removed object. */
  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        const set = idx.get(v);
        if (!set) continue;
        set.delete(key);
        if (set.size === 0) idx.delete(v);
      }
    }
  }
}

function addTo(idx: Map<string, Set<string>>, value: string, key: string): void {
  let set = idx.get(value);
  if (!set) idx.set(value, (set = new Set()));
  set.add(key);
}
