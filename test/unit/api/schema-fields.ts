// The Installation schema as a set of field paths, for tests that check advice names real fields.
import { descriptorFor, resolvedSchema, type JSONSchema } from '../../../api/descriptor.ts';
import { parsePath } from '../../../api/advice.ts';

const schema = resolvedSchema(descriptorFor('Installation'));

/** The schema node a field path leads to (indexes step into items), or undefined if the schema has no such field. */
export function schemaAt(path: string): JSONSchema | undefined {
  let at: JSONSchema | undefined = schema;
  for (const k of parsePath(path)) {
    if (!at) return undefined;
    if (typeof k === 'number') at = at.items as JSONSchema | undefined;
    else at = (at.properties as Record<string, JSONSchema> | undefined)?.[k];
  }
  return at;
}

/** Every property name and every enum value anywhere in the schema. */
export function schemaWords(): Set<string> {
  const out = new Set<string>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== 'object') return;
    const o = n as JSONSchema;
    for (const k of Object.keys((o.properties as object | undefined) ?? {})) out.add(k);
    for (const v of (o.enum as unknown[] | undefined) ?? []) out.add(String(v));
    for (const v of Object.values(o)) walk(v);
  };
  walk(schema);
  return out;
}

/** camelCase words messages use that are no Installation field: protocol, kernel and Kubernetes names. */
export const NOT_FIELDS: ReadonlySet<string> = new Set(['iBGP', 'eBGP', 'hostNetwork', 'hostPort', 'providerID', 'nodeName', 'podCIDR']);

/**
 * Field-like words in a text that the schema does not have: dotted paths starting at spec. whose
 * field does not exist, and camelCase words that are neither a property nor an enum value.
 * `allowed` lists camelCase words that are not fields (kernel or Kubernetes names).
 */
export function unknownFieldWords(text: string, allowed: ReadonlySet<string> = NOT_FIELDS): string[] {
  const words = schemaWords();
  const out: string[] = [];
  for (const m of text.matchAll(/\bspec(?:\.[A-Za-z0-9_]+(?:\[\d+\])*)+/g)) {
    if (!schemaAt(m[0])) out.push(m[0]);
  }
  for (const m of text.matchAll(/(?<![\w./-])[a-z]+[A-Z][A-Za-z0-9]*(?![\w/-])/g)) {
    if (!words.has(m[0]) && !allowed.has(m[0])) out.push(m[0]);
  }
  return [...new Set(out)];
}
