// NodeNetwork.status as the agent computes it, and the diff that decides whether to write it:
// the agent writes status only when something in it changed (no periodic no-op writes).
import type { NodeNetworkStatus, Condition } from '../../../api/types/nodenetwork.ts';
import { canonicalJson } from '../../../kube/json.ts';
import { mergeConditions as mergeKubeConditions, type ConditionInput } from '../../../kube/conditions.ts';

export type { ConditionInput } from '../../../kube/conditions.ts';

/** Conditions with lastTransitionTime carried over from the previous status unless the status
 *  flipped, so an unchanged condition never makes a write (NodeNetwork carries no observedGeneration). */
export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], now: Date): Condition[] {
  return mergeKubeConditions(previous, next, { now });
}

export function statusEqual(a: NodeNetworkStatus | undefined, b: NodeNetworkStatus | undefined): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: a merge patch merges objects key by key, so a key gone from `to` at any depth must be
 *  sent as null (status.wireguard.publicKey disappears while a device drains). */
function mergeDelta(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...to };
  for (const k of Object.keys(from)) {
    if (!(k in to)) patch[k] = null;
    else if (isPlainObject(from[k]) && isPlainObject(to[k])) patch[k] = mergeDelta(from[k], to[k]);
  }
  return patch;
}

/** A JSON merge patch (RFC 7386) turning status `from` into `to`: keys that disappeared, at any
 *  depth, are set to null; arrays are replaced whole. */
export function statusMergePatch(from: object | undefined, to: object): { status: Record<string, unknown> } {
  return { status: mergeDelta((from ?? {}) as Record<string, unknown>, to as Record<string, unknown>) };
}
