/**
 * Canonical JSON (keys sorted at every level) and the config hash that tells the operator a
 * node agent must be replaced: it covers what the agent runs with, and nothing informational.
 */
import { createHash } from 'node:crypto';
import type { EffectiveConfig } from './effective-config.ts';

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = sortKeys(x);
  }
  return out;
}

/** JSON with sorted keys: equal values give equal text, whatever order they were built in. */
export function canonicalJson(v: unknown, indent = 0): string {
  return JSON.stringify(sortKeys(v), null, indent);
}

export interface HashInput {
  effective: EffectiveConfig;
  conflist: string;
  /** The BIRD template, or undefined without BGP. */
  bird: string | undefined;
  image: string;
}

/**
 * sha256 (hex) of the agent's inputs. mtuReason is left out: it names nodes, and a node joining
 * without changing the MTU must not roll every agent in the cluster.
 */
export function configHash(input: HashInput): string {
  const { mtuReason: _informational, ...effective } = input.effective;
  const text = canonicalJson({ effective, conflist: input.conflist, bird: input.bird ?? null, image: input.image });
  return createHash('sha256').update(text).digest('hex');
}
