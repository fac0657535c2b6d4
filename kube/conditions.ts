// Status conditions as Kubernetes API conventions define them (metav1.Condition): type, status,
// reason, message, lastTransitionTime and, for kstatus, observedGeneration.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A condition as a reconciler computes it: no times, those come from mergeConditions. */
export interface ConditionInput<T extends string = string> {
  type: T;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** A condition as stored in an object's status. */
export interface Condition<T extends string = string> extends ConditionInput<T> {
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** metav1.Time's wire form: RFC 3339 in UTC with whole seconds. */
export function rfc3339Seconds(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface MergeAt {
  /** The time a flipped condition gets; a Date is written as RFC 3339 seconds, a string as is. */
  now: Date | string;
  /**
   * metadata.generation the conditions were computed from (kstatus). When this key is present
   * every condition carries observedGeneration (even undefined); when absent it is left out.
   */
  observedGeneration?: number | undefined;
}

/**
 * The next conditions, each with lastTransitionTime carried over from the previous condition of
 * the same type unless its status flipped (a changed reason or message is no transition), so an
 * unchanged condition never causes a status write. Order and set follow `next`.
 */
export function mergeConditions<T extends string>(
  previous: readonly { type: string; status: string; lastTransitionTime?: string }[] | undefined,
  next: readonly ConditionInput<T>[],
  at: MergeAt,
): Condition<T>[] {
  const now = typeof at.now === 'string' ? at.now : rfc3339Seconds(at.now);
  const withGeneration = 'observedGeneration' in at;
  return next.map((c) => {
    const prev = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now;
    const base = { type: c.type, status: c.status, reason: c.reason, message: c.message };
    return withGeneration ? { ...base, observedGeneration: at.observedGeneration, lastTransitionTime } : { ...base, lastTransitionTime };
  });
}
