// Decides whether a live object already carries everything the operator wants in it, so a
// steady-state reconcile can skip the server-side apply entirely (invariant 2: zero writes).
//
// "Desired is a subset of live" after normalising what the API server rewrites on the way in:
// defaulted fields appear (extra fields in live are fine), omitempty drops zero values (a
// desired false/0/""/{}/[] matches a missing field), quantities are canonicalised ("0.5" ->
// "500m", "1024Mi" -> "1Gi"), and lists other managers own may hold extra elements.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../kube/json.ts';

export interface Mismatch {
  /** JSON path of the first difference, e.g. .spec.template.spec.containers[name=agent].image */
  path: string;
  desired: unknown;
  live: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isPlainObject(v)) return Object.values(v).every(isZero);
  return false;
}

const QUANTITY = /^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[+-]?[0-9]+|E[+-]?[0-9]+)?$/;
const SUFFIX: Record<string, number> = {
  m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** A Kubernetes resource.Quantity as a number, or undefined when the text is not one. */
export function parseQuantity(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = QUANTITY.exec(v.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (!Number.isFinite(base)) return undefined;
  const suf = m[2];
  if (!suf) return base;
  if (/^[eE]/.test(suf)) return base * 10 ** Number(suf.slice(1));
  return base * SUFFIX[suf]!;
}

/** Quantities only live under resource maps; elsewhere "1" and 1 are different values. */
function inQuantityContext(path: string): boolean {
  return /\.(limits|requests|capacity|allocatable|overhead|hard|sizeLimit)(\.|$)/.test(path) || /\.sizeLimit$/.test(path);
}

function scalarEqual(d: unknown, l: unknown, path: string): boolean {
  if (d === l) return true;
  if (inQuantityContext(path)) {
    const a = parseQuantity(d);
    const b = parseQuantity(l);
    if (a !== undefined && b !== undefined) return Math.abs(a - b) <= Math.abs(a) * 1e-12;
  }
  return false;
}

/** Key that identifies a list element across desired and live (merge keys of the common lists). */
function elementKey(v: unknown): string | undefined {
  if (!isPlainObject(v)) return undefined;
  for (const k of ['name', 'mountPath', 'devicePath', 'containerPort', 'type', 'key', 'ip']) {
    if (v[k] !== undefined && (typeof v[k] === 'string' || typeof v[k] === 'number')) {
      return k === 'containerPort' ? `${k}=${v[k]}/${(v.protocol as string | undefined) ?? 'TCP'}` : `${k}=${v[k]}`;
    }
  }
  return undefined;
}

/** First place where desired is not contained in live, or undefined when it is. */
export function findMismatch(desired: unknown, live: unknown, path = ''): Mismatch | undefined {
  if (live === undefined || live === null) {
    return isZero(desired) ? undefined : { path: path || '.', desired, live };
  }
  if (isPlainObject(desired)) {
    if (!isPlainObject(live)) return { path: path || '.', desired, live };
    for (const [k, dv] of Object.entries(desired)) {
      const m = findMismatch(dv, live[k], `${path}.${k}`);
      if (m) return m;
    }
    return undefined;
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return isZero(desired) ? undefined : { path, desired, live };
    const keyed = desired.length > 0 && desired.every((e) => elementKey(e) !== undefined);
    if (keyed) {
      // Map-type lists: each desired element must match the live element with its key, in order.
      let from = 0;
      for (const de of desired) {
        const key = elementKey(de)!;
        const idx = live.findIndex((le, i) => i >= from && elementKey(le) === key);
        if (idx < 0) return { path: `${path}[${key}]`, desired: de, live: undefined };
        const m = findMismatch(de, live[idx], `${path}[${key}]`);
        if (m) return m;
        from = idx + 1;
      }
      return undefined;
    }
    // Atomic lists (args, command, rules, tolerations): the server stores exactly what was applied.
    if (desired.length !== live.length) return { path, desired, live };
    for (let i = 0; i < desired.length; i++) {
      const m = findMismatch(desired[i], live[i], `${path}[${i}]`);
      if (m) return m;
    }
    return undefined;
  }
  return scalarEqual(desired, live, path) ? undefined : { path: path || '.', desired, live };
}

/** Short content hash of an object (what the operator last applied), for the applied-hash annotation. */
export function contentHash(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 20);
}
