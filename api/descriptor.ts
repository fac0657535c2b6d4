/**
 * Loads the resource descriptors in api/schemas: the single source of truth from which the
 * CRDs, the TypeScript types and the offline validator are all derived.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
  description?: string;
}

export type JSONSchema = { [key: string]: unknown };

export interface ResourceDescriptor {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  listKind: string;
  scope: 'Cluster' | 'Namespaced';
  /** Bumped on every schema change; the operator refuses CRDs with a higher revision than it knows. */
  revision: number;
  shortNames?: string[];
  categories?: string[];
  printerColumns?: PrinterColumn[];
  /** The resource's schema; may use $ref into $defs, which is inlined for the CRD. */
  schema: JSONSchema;
  $defs?: Record<string, JSONSchema>;
}

export const schemaDir = join(dirname(fileURLToPath(import.meta.url)), 'schemas');

export function loadDescriptors(dir = schemaDir): ResourceDescriptor[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as ResourceDescriptor);
}

export function descriptorFor(kind: string, dir = schemaDir): ResourceDescriptor {
  const found = loadDescriptors(dir).find((d) => d.kind === kind);
  if (!found) throw new Error(`no schema for kind ${kind} in ${dir}`);
  return found;
}

/** The schema with every `$ref: '#/$defs/X'` replaced by a copy of X (CRDs allow no $ref). */
export function inlineRefs(node: unknown, defs: Record<string, JSONSchema> = {}): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineRefs(n, defs));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  if (typeof obj.$ref === 'string') {
    const name = obj.$ref.replace(/^#\/\$defs\//, '');
    const target = defs[name];
    if (!target) throw new Error(`unresolved $ref ${obj.$ref}`);
    const { $ref: _ignored, ...rest } = obj;
    return inlineRefs({ ...target, ...rest }, defs);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = inlineRefs(v, defs);
  return out;
}

/** The fully inlined schema of a descriptor: what the API server and ajv see. */
export function resolvedSchema(d: ResourceDescriptor): JSONSchema {
  return inlineRefs(d.schema, d.$defs ?? {}) as JSONSchema;
}

export function apiVersionOf(d: ResourceDescriptor): string {
  return `${d.group}/${d.version}`;
}
