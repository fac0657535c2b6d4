/**
 * Offline validation of custom resources with the API server's own rules: the JSON Schema
 * (ajv, with unknown fields rejected as `kubectl --validate=strict` does), list-map key
 * uniqueness, and the CEL rules (x-kubernetes-validations), including transition rules when the
 * previous version of the object is given.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { plan, parse, celEnv, isCelError, type CelInput } from '@bufbuild/cel';
import {
  apiVersionOf,
  descriptorFor,
  resolvedSchema,
  type JSONSchema,
  type ResourceDescriptor,
} from '../descriptor.ts';
import { kubernetesCelFunctions } from './k8s-cel-library.ts';
import { findPoolOverlaps } from './pools.ts';
import { parseNodeSelector, SelectorSyntaxError } from '../node-selector.ts';

export interface Problem {
  /** Field path as the API server prints it, e.g. spec.network.ipPools[0].blockSize */
  path: string;
  message: string;
}

interface Rule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** A copy of the schema in which objects reject fields they do not declare. */
function strictCopy(node: unknown, path: string[] = []): unknown {
  if (Array.isArray(node)) return node.map((n) => strictCopy(n, path));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = strictCopy(v, [...path, k]);
  // ObjectMeta is the API server's, not ours: its schema here only adds rules to `name`.
  const isMetadata = path.length === 2 && path[0] === 'properties' && path[1] === 'metadata';
  const isOpenObject = obj['x-kubernetes-preserve-unknown-fields'] === true || isMetadata;
  if (obj.properties && obj.additionalProperties === undefined && !isOpenObject) {
    out.additionalProperties = false;
  }
  return out;
}

function makeAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, strictTypes: false });
  addFormats(ajv);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  for (const kw of [
    'x-kubernetes-validations',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-int-or-string',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-map-type',
  ]) {
    ajv.addKeyword(kw);
  }
  return ajv;
}

export function jsonPointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function joinPath(base: string, seg: string | number): string {
  if (typeof seg === 'number') return `${base}[${seg}]`;
  return base === '' ? seg : `${base}.${seg}`;
}

function joinFieldPath(base: string, fieldPath: string): string {
  return base === '' ? fieldPath.replace(/^\./, '') : base + fieldPath;
}

function describeAjvError(e: ErrorObject): Problem {
  let path = jsonPointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const at = (field: string) => joinPath(path, field);
  switch (e.keyword) {
    case 'required':
      return { path: at(String(p.missingProperty)), message: 'required field is missing; add it' };
    case 'additionalProperties':
      return {
        path: at(String(p.additionalProperty)),
        message: 'unknown field; check its spelling and indentation (kubectl explain shows the fields)',
      };
    case 'enum':
      return { path, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { path, message: `must be of type ${String(p.type)}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `${e.message ?? 'is out of range'}` };
    case 'pattern':
      return { path, message: `must match the pattern ${String(p.pattern)}` };
    case 'anyOf':
      return { path, message: 'must be an integer or a string' };
    default:
      if (path === '') path = '<root>';
      return { path, message: e.message ?? `fails ${e.keyword}` };
  }
}

/** Converts JSON values to CEL inputs: integers the schema calls integers become CEL ints. */
function toCel(schema: JSONSchema | undefined, value: unknown): CelInput {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    const intLike = schema?.type === 'integer' || schema?.['x-kubernetes-int-or-string'] === true;
    return intLike && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) {
    const items = schema?.items as JSONSchema | undefined;
    return value.map((v) => toCel(items, v));
  }
  if (typeof value === 'object') {
    const props = (schema?.properties ?? {}) as Record<string, JSONSchema>;
    const extra = schema?.additionalProperties as JSONSchema | undefined;
    const out: Record<string, CelInput> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCel(props[k] ?? (typeof extra === 'object' ? extra : undefined), v);
    return out as CelInput;
  }
  return value as CelInput;
}

type Program = (ctx: Record<string, CelInput>) => unknown;
const programCache = new Map<string, Program>();
const env = celEnv({ funcs: kubernetesCelFunctions });

function compileRule(rule: string): Program {
  let prog = programCache.get(rule);
  if (!prog) {
    prog = plan(env, parse(rule)) as unknown as Program;
    programCache.set(rule, prog);
  }
  return prog;
}

function listMapKeys(schema: JSONSchema): string[] | undefined {
  return schema['x-kubernetes-list-type'] === 'map' ? (schema['x-kubernetes-list-map-keys'] as string[]) : undefined;
}

function keyOf(item: unknown, keys: string[]): string {
  const obj = (item ?? {}) as Record<string, unknown>;
  return JSON.stringify(keys.map((k) => obj[k]));
}

/**
 * The message of a failed rule: its messageExpression evaluated on the object as the API server
 * does (falling back to `message` when it does not yield a non-empty string), else `message`.
 */
function ruleMessage(r: Rule, schema: JSONSchema, value: unknown): string {
  if (r.messageExpression) {
    try {
      const m = compileRule(r.messageExpression)({ self: toCel(schema, value) });
      if (typeof m === 'string' && m.trim() !== '') return m;
    } catch {
      // fall through to the static message, as the API server does
    }
  }
  return r.message ?? `failed rule: ${r.rule}`;
}

/** Walks schema and value together, checking list-map keys and evaluating CEL rules. */
function walk(schema: JSONSchema, value: unknown, old: unknown, hasOld: boolean, path: string, out: Problem[]): void {
  if (value === undefined) return;
  const rules = (schema['x-kubernetes-validations'] ?? []) as Rule[];
  for (const r of rules) {
    const usesOld = /\boldSelf\b/.test(r.rule);
    if (usesOld && !hasOld) continue;
    const where = r.fieldPath ? joinFieldPath(path, r.fieldPath) : path;
    let result: unknown;
    try {
      result = compileRule(r.rule)({ self: toCel(schema, value), ...(usesOld ? { oldSelf: toCel(schema, old) } : {}) });
    } catch (err) {
      result = err instanceof Error ? { message: err.message } : { message: String(err) };
    }
    if (result === true) continue;
    if (isCelError(result as never) || (result !== false && typeof result === 'object')) {
      const msg = (result as { message?: string }).message ?? String(result);
      // Rules are written so an invalid value fails a narrower rule; an evaluation error on top
      // of that would only repeat it.
      if (out.some((p) => p.path.startsWith(path))) continue;
      out.push({ path: where || '<root>', message: `rule could not be evaluated (${msg}); fix the other problems at this field first` });
      continue;
    }
    out.push({ path: where || '<root>', message: ruleMessage(r, schema, value) });
  }
  if (Array.isArray(value)) {
    const items = schema.items as JSONSchema | undefined;
    const keys = listMapKeys(schema);
    if (keys) {
      const seen = new Map<string, number>();
      value.forEach((item, i) => {
        const k = keyOf(item, keys);
        if (seen.has(k)) {
          out.push({
            path,
            message: `duplicate entries for ${keys.map((key) => `${key}=${JSON.stringify((item as Record<string, unknown>)[key])}`).join(',')} (indexes ${seen.get(k)} and ${i}); each entry needs a unique ${keys.join('/')}`,
          });
        } else seen.set(k, i);
      });
    }
    if (!items) return;
    const oldByKey = new Map<string, unknown>();
    if (keys && hasOld && Array.isArray(old)) for (const o of old) oldByKey.set(keyOf(o, keys), o);
    value.forEach((item, i) => {
      const k = keys ? keyOf(item, keys) : '';
      const correlated = keys !== undefined && oldByKey.has(k);
      walk(items, item, correlated ? oldByKey.get(k) : undefined, correlated, joinPath(path, i), out);
    });
    return;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const oldObj = (hasOld && old && typeof old === 'object' ? old : undefined) as Record<string, unknown> | undefined;
    const props = (schema.properties ?? {}) as Record<string, JSONSchema>;
    const extra = schema.additionalProperties;
    for (const [k, v] of Object.entries(obj)) {
      const sub = props[k] ?? (extra && typeof extra === 'object' ? (extra as JSONSchema) : undefined);
      if (!sub) continue;
      const oldHas = oldObj !== undefined && k in oldObj;
      walk(sub, v, oldHas ? oldObj[k] : undefined, oldHas, joinPath(path, k), out);
    }
  }
}

export class ResourceValidator {
  readonly descriptor: ResourceDescriptor;
  private readonly schema: JSONSchema;
  private readonly ajvValidate: ValidateFunction;

  constructor(descriptor: ResourceDescriptor) {
    this.descriptor = descriptor;
    this.schema = resolvedSchema(descriptor);
    this.ajvValidate = makeAjv().compile(strictCopy(this.schema) as JSONSchema);
  }

  /**
   * Problems with `obj` as the API server would report them, after applying schema defaults.
   * `old` is the object's previous version, for transition rules (immutability).
   */
  validate(obj: unknown, old?: unknown): Problem[] {
    const problems: Problem[] = [];
    const d = this.descriptor;
    const o = (obj ?? {}) as Record<string, unknown>;
    if (o.apiVersion !== apiVersionOf(d)) {
      problems.push({ path: 'apiVersion', message: `must be ${apiVersionOf(d)} (got ${JSON.stringify(o.apiVersion)})` });
    }
    if (o.kind !== d.kind) problems.push({ path: 'kind', message: `must be ${d.kind} (got ${JSON.stringify(o.kind)})` });
    const meta = o.metadata as Record<string, unknown> | undefined;
    if (!meta || typeof meta.name !== 'string' || meta.name === '') {
      problems.push({ path: 'metadata.name', message: 'required field is missing; add it' });
    }
    const withDefaults = structuredClone(obj);
    const oldWithDefaults = old === undefined ? undefined : structuredClone(old);
    if (!this.ajvValidate(withDefaults)) {
      for (const e of this.ajvValidate.errors ?? []) {
        if (e.keyword === 'if') continue;
        problems.push(describeAjvError(e));
      }
    }
    if (oldWithDefaults !== undefined) this.ajvValidate(oldWithDefaults);
    const celProblems: Problem[] = [];
    walk(this.schema, withDefaults, oldWithDefaults, oldWithDefaults !== undefined, '', celProblems);
    for (const p of celProblems) {
      if (!problems.some((q) => q.path === p.path && q.message === p.message)) problems.push(p);
    }
    return dedupe(problems);
  }
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const validators = new Map<string, ResourceValidator>();

export function validatorFor(kind: string): ResourceValidator {
  let v = validators.get(kind);
  if (!v) {
    v = new ResourceValidator(descriptorFor(kind));
    validators.set(kind, v);
  }
  return v;
}

/**
 * Everything wrong with an Installation that can be judged from the document alone: the API
 * server's schema and CEL verdict, plus checks across pools (overlapping CIDRs).
 */
export function validateInstallation(obj: unknown, old?: unknown): Problem[] {
  const problems = validatorFor('Installation').validate(obj, old);
  const pools = ((obj as { spec?: { network?: { ipPools?: unknown } } })?.spec?.network?.ipPools ?? []) as unknown[];
  if (Array.isArray(pools)) {
    const named = pools.filter(
      (p): p is { name: string; cidr: string } =>
        typeof p === 'object' && p !== null && typeof (p as { cidr?: unknown }).cidr === 'string',
    );
    for (const o of findPoolOverlaps(named)) {
      problems.push({ path: `spec.network.ipPools[${pools.indexOf(named[o.second])}].cidr`, message: o.message });
    }
  }
  problems.push(...selectorProblems(obj));
  return problems;
}

/** Label selectors are strings in the schema; their syntax is checked here, as the operator would. */
function selectorProblems(obj: unknown): Problem[] {
  const network = (obj as { spec?: { network?: Record<string, unknown> } })?.spec?.network ?? {};
  const out: Problem[] = [];
  const check = (value: unknown, path: string) => {
    if (typeof value !== 'string') return;
    try {
      parseNodeSelector(value);
    } catch (err) {
      if (!(err instanceof SelectorSyntaxError)) throw err;
      out.push({ path, message: `${err.message}; use a Kubernetes label selector such as "zone=a,tier!=edge" or a Calico selector such as "all()" or "zone == 'a' && !has(edge)"` });
    }
  };
  const pools = Array.isArray(network.ipPools) ? network.ipPools : [];
  pools.forEach((p, i) => check((p as { nodeSelector?: unknown })?.nodeSelector, `spec.network.ipPools[${i}].nodeSelector`));
  const peers = (network.bgp as { peers?: unknown } | undefined)?.peers;
  if (Array.isArray(peers)) peers.forEach((p, i) => check((p as { nodeSelector?: unknown })?.nodeSelector, `spec.network.bgp.peers[${i}].nodeSelector`));
  return out;
}
