/**
 * The weft-config ConfigMap: config.json (the EffectiveConfig as canonical JSON), the CNI
 * conflist template, with BGP the BIRD template, and the config hash of all of it (also the
 * weft.dev/config-hash annotation). A running agent applies a changed ConfigMap in place only once
 * the operator hands its node that hash (NodeNetwork annotation network.weft.dev/config-hash,
 * docs/adr/0010), so a new configuration still reaches the nodes one health gate at a time.
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
    [configMapKeys.hash]: hash,
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
