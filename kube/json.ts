// Canonical JSON: object keys sorted at every level, so equal values give equal text whatever
// order they were built in. Used to compare live and desired objects, to decide whether a status
// changed, and as the input of content hashes (a hash must not depend on key order).

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * JSON.stringify with plain objects' keys sorted (by UTF-16 code unit, like Array.sort) and
 * undefined-valued keys dropped (as JSON.stringify drops them). Values with toJSON (Date) are
 * serialised by it first. `indent` is JSON.stringify's space argument (0: one line).
 */
export function canonicalJson(v: unknown, indent = 0): string {
  return JSON.stringify(
    v,
    (_k, val: unknown) => {
      if (!isPlainObject(val)) return val;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(val).sort()) if (val[k] !== undefined) out[k] = val[k];
      return out;
    },
    indent,
  );
}
