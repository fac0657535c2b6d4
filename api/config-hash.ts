/**
 * Canonical JSON (keys sorted at every level) and the config hash that tells the operator a
 * node agent must be replaced: it covers what the agent runs with, and nothing informational.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../kube/json.ts';
import type { EffectiveConfig } from './effective-config.ts';

// Re-exported so render/ (which builds on api/) writes config.json in the same canonical form.
export { canonicalJson };

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
