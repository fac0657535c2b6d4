/**
 * The weft-config ConfigMap: config.json (the EffectiveConfig as canonical JSON), the CNI
 * conflist template and, with BGP, the BIRD template. Annotated with the config hash so an agent
 * can tell whether the ConfigMap still holds the config it was started with (it compares it with
 * WEFT_CONFIG_HASH) and must not pick up a newer one before the operator replaces it.
 */
import { annotations, configMapKeys, names, type EffectiveConfig } from '../api/index.ts';
import { canonicalJson } from '../api/config-hash.ts';
import { COMPONENT_NODE_AGENT, objectMeta, sortedRecord } from './metadata.ts';
import type { KubernetesObject } from './types.ts';

export function renderConfigMap(
  installationName: string,
  effective: EffectiveConfig,
  conflist: string,
  bird: string | undefined,
  hash: string,
): KubernetesObject {
  const data: Record<string, string> = {
    [configMapKeys.config]: `${canonicalJson(effective, 2)}\n`,
    [configMapKeys.conflist]: conflist,
    ...(bird !== undefined ? { [configMapKeys.bird]: bird } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(installationName, names.configMap, {
      namespace: names.namespace,
      component: COMPONENT_NODE_AGENT,
      annotations: { [annotations.configHash]: hash },
    }),
    data: sortedRecord(data),
  };
}
