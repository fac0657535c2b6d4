/**
 * The CNI conflist template (ConfigMap key `cni-conflist`). The agent fills the ptp plugin's
 * host-local `ranges` with its node's blocks and sets `dataDir` before writing the file.
 */
import type { EffectiveConfig } from '../api/index.ts';

export const CNI_VERSION = '1.0.0';
export const NETWORK_NAME = 'weft';

export function renderConflist(cfg: EffectiveConfig): string {
  const plugins: Record<string, unknown>[] = [
    { type: 'ptp', mtu: cfg.mtu, ipam: { type: 'host-local', ranges: [] } },
  ];
  if (cfg.hostPorts) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  if (cfg.bandwidth) plugins.push({ type: 'bandwidth', capabilities: { bandwidth: true } });
  return `${JSON.stringify({ cniVersion: CNI_VERSION, name: NETWORK_NAME, plugins }, null, 2)}\n`;
}
