// NodeNetwork.status as the agent computes it, and the diff that decides whether to write it:
// the agent writes status only when something in it changed (no periodic no-op writes).
import type { NodeNetworkStatus, Condition } from '../../../api/types/nodenetwork.ts';

export interface ConditionInput { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string }

/** Conditions with lastTransitionTime carried over from the previous status unless the status
 *  flipped, so an unchanged condition never makes a write. */
export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], now: Date): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime };
  });
}

/** JSON with object keys sorted, so two statuses compare by content, not by key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(Object.entries(val as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return val;
  });
}

export function statusEqual(a: NodeNetworkStatus | undefined, b: NodeNetworkStatus | undefined): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

/** A JSON merge patch (RFC 7386) turning status `from` into `to`: top-level keys that disappeared
 *  are set to null; arrays and objects are replaced whole. */
export function statusMergePatch(from: object | undefined, to: object): { status: Record<string, unknown> } {
  const patch: Record<string, unknown> = { ...to };
  for (const k of Object.keys(from ?? {})) if (!(k in to)) patch[k] = null;
  return { status: patch };
}
