/** Labels every rendered object carries: who manages it and which Installation owns it (pruning). */
import { labels } from '../api/index.ts';
import type { ObjectMeta } from './types.ts';

export const COMPONENT_NODE_AGENT = 'node-agent';

export function commonLabels(installationName: string, component?: string): Record<string, string> {
  return {
    [labels.managedBy]: labels.managedByValue,
    [labels.partOf]: 'weft',
    [labels.owner]: installationName,
    ...(component ? { [labels.component]: component } : {}),
  };
}

export function objectMeta(
  installationName: string,
  name: string,
  opts: { namespace?: string; component?: string; extraLabels?: Record<string, string>; annotations?: Record<string, string> } = {},
): ObjectMeta {
  return {
    name,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    labels: sortedRecord({ ...commonLabels(installationName, opts.component), ...opts.extraLabels }),
    ...(opts.annotations ? { annotations: sortedRecord(opts.annotations) } : {}),
  };
}

/** A copy with keys in sorted order, so YAML output does not depend on insertion order. */
export function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}
