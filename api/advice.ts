/**
 * Advice that suggests a setting, as data: render's problems and diagnose's findings carry the
 * settings they recommend as `Fix`es, and their message text is written from them (`describeFix`).
 * A test applies every fix to the Installation it was given for (`applyFix`), validates the result
 * with the API server's rules and renders it against the same facts, so no advice can name a
 * field the schema rejects or lead to a new problem.
 */

/** Set one Installation field: `path` as the API server prints it (spec.network.ipPools[0].encapsulation). */
export interface Setting {
  path: string;
  value: unknown;
}

/**
 * One way to fix a problem: settings applied together. Array indexes in paths address existing
 * list items; the index one past the end appends (spec.network.ipPools[2] for a third pool).
 */
export type Fix = Setting[];

function formatValue(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'string' && /^[A-Za-z0-9./_-]+$/.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  return `{${Object.entries(v).map(([k, x]) => `${k}: ${formatValue(x)}`).join(', ')}}`;
}

/** "spec.network.mtu: 1450" or "spec.a: 1 and spec.b: 2" — YAML-like, for a message. */
export function describeFix(fix: Fix): string {
  return fix.map((s) => `${s.path}: ${formatValue(s.value)}`).join(' and ');
}

/** "set A, or set B": the alternatives of a problem, in the order given. */
export function describeFixes(fixes: readonly Fix[]): string {
  return fixes.map(describeFix).join(', or ');
}

/** The path split into keys and indexes: spec.network.ipPools[0].cidr -> [spec, network, ipPools, 0, cidr]. */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (!m) throw new Error(`bad field path ${JSON.stringify(path)} at ${JSON.stringify(part)}`);
    out.push(m[1]!);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** A copy of `obj` with every setting of the fix applied (missing objects are created). */
export function applyFix<T>(obj: T, fix: Fix): T {
  const out = structuredClone(obj) as unknown as Record<string | number, unknown>;
  for (const s of fix) {
    const keys = parsePath(s.path);
    let at: Record<string | number, unknown> = out;
    keys.forEach((k, i) => {
      if (i === keys.length - 1) {
        at[k] = structuredClone(s.value);
        return;
      }
      if (at[k] === undefined || at[k] === null) at[k] = typeof keys[i + 1] === 'number' ? [] : {};
      at = at[k] as Record<string | number, unknown>;
    });
  }
  return out as unknown as T;
}
