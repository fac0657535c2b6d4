// The configuration the agent runs: the weft-config ConfigMap, mounted as files in --config-dir.
// Read at start, and read again when the operator hands this node a new configuration hash
// (NodeNetwork annotation network.weft.dev/config-hash): the agent applies it in place once the
// mounted copy holds that hash (docs/adr/0010).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configMapKeys, nodeAgentRuntime, type EffectiveConfig } from '../../../api/effective-config.ts';
// render's hash is pure (no I/O); the agent must compute exactly what render puts on the pod
// template, so it imports it rather than copying it (to move to api/: noted for the lead).
import { configHash as renderConfigHash } from '../../../api/config-hash.ts';
import { parseConflistTemplate, type ConflistTemplate } from '../cni/conflist.ts';
import ipaddr from 'ipaddr.js';

export interface LoadedConfig {
  dir: string;
  config: EffectiveConfig;
  conflistTemplate: ConflistTemplate;
  /** BIRD template (bird.conf), present when BGP is on. */
  birdTemplate?: string;
  /** The raw files, by ConfigMap key. */
  files: Record<string, string>;
  /** render's config hash of these files and the image when the image is known, else the hash
   *  the ConfigMap states (key config-hash). */
  hash?: string;
}

/** The `weft.dev/config-hash` render puts on the DaemonSet pod template, recomputed from the
 *  files the agent runs: render hashes (effective config, conflist template, BIRD template,
 *  image), so without the image there is nothing to compare. */
export function configHash(files: Record<string, string>, config: EffectiveConfig, image: string): string {
  return renderConfigHash({ effective: config, conflist: files[configMapKeys.conflist] ?? '', bird: files[configMapKeys.bird], image });
}

/** The host directories an Installation may name (its CRD's x-kubernetes-validations). */
export const CNI_BIN_DIRS: readonly string[] = ['/opt/cni/bin', '/usr/libexec/cni', '/usr/lib/cni', '/home/kubernetes/bin', '/var/lib/rancher/k3s/data/cni'];
export const CNI_CONF_DIRS: readonly string[] = ['/etc/cni/net.d', '/etc/kubernetes/cni/net.d', '/var/lib/rancher/k3s/agent/etc/cni/net.d'];
/** The CRD's cni.confName pattern: a plain file name, no '/', not starting with '.'. */
export const CONF_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.conflist$/;

function checkConfig(c: unknown, source: string): EffectiveConfig {
  const cfg = c as Partial<EffectiveConfig>;
  const problems: string[] = [];
  if (cfg.version !== 1) problems.push(`version is ${JSON.stringify(cfg.version)}, this agent understands 1 (is the agent older than the operator?)`);
  if (typeof cfg.mtu !== 'number') problems.push('mtu is missing');
  if (!Array.isArray(cfg.pools)) problems.push('pools is missing');
  if (!cfg.cni?.confDir || !cfg.cni.confName || !cfg.cni.binDir) problems.push('cni.{binDir,confDir,confName} is missing');
  if (!cfg.autodetection?.v4) problems.push('autodetection.v4 is missing');
  if (problems.length) throw new Error(`${source}: ${problems.join('; ')}`);
  // The ConfigMap is the operator's word, but its values become host paths (the CNI dirs, the
  // conflist name that also names the host-local store uninstall removes) and kernel input
  // (pool CIDRs): hold them to the rules the Installation was admitted with (issue 16). The
  // image carries no schema files, so the rules are here; test/unit/node/config-load.test.ts
  // checks they equal the CRD's (api/schemas/installation.yaml).
  const schema: string[] = [];
  if (!CNI_BIN_DIRS.includes(cfg.cni!.binDir)) schema.push(`cni.binDir: ${JSON.stringify(cfg.cni!.binDir)} is not one of ${CNI_BIN_DIRS.join(', ')}`);
  if (!CNI_CONF_DIRS.includes(cfg.cni!.confDir)) schema.push(`cni.confDir: ${JSON.stringify(cfg.cni!.confDir)} is not one of ${CNI_CONF_DIRS.join(', ')}`);
  if (!CONF_NAME_RE.test(cfg.cni!.confName) || cfg.cni!.confName.length > 253) schema.push(`cni.confName: ${JSON.stringify(cfg.cni!.confName)} is not a file name like 10-weft.conflist`);
  cfg.pools!.forEach((p, i) => {
    let ok = false;
    try { ipaddr.parseCIDR(p.cidr); ok = true; } catch { ok = false; }
    if (!ok || !/^[0-9a-fA-F:.]+\/[0-9]{1,3}$/.test(p.cidr)) schema.push(`pools[${i}].cidr: ${JSON.stringify(String(p.cidr).slice(0, 64))} is not a CIDR`);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.name) || p.name.length > 63) schema.push(`pools[${i}].name: ${JSON.stringify(String(p.name).slice(0, 64))} is not a DNS label`);
  });
  // Encryption: the port becomes a `wg set listen-port` argument (the CRD's range and exclusions).
  const enc = cfg.encryption as unknown;
  if (enc !== undefined) {
    const e = enc as { mode?: unknown; port?: unknown };
    if (e.mode !== 'WireGuard') schema.push(`encryption.mode: ${JSON.stringify(String(e.mode).slice(0, 32))} is not WireGuard (Disabled is written as no encryption key)`);
    if (typeof e.port !== 'number' || !Number.isInteger(e.port) || e.port < 1024 || e.port > 65535 || e.port === nodeAgentRuntime.healthPort || e.port === 179) {
      schema.push(`encryption.port: ${JSON.stringify(e.port)} is not a UDP port 1024-65535 other than ${nodeAgentRuntime.healthPort} and 179`);
    }
  }
  if (schema.length) throw new Error(`${source}: ${schema.join('; ')} (the operator renders only admitted values: is this ConfigMap edited by hand?)`);
  return cfg as EffectiveConfig;
}

export async function loadConfig(dir: string, image?: string): Promise<LoadedConfig> {
  const files: Record<string, string> = {};
  for (const key of Object.values(configMapKeys)) {
    const text = await readFile(join(dir, key), 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (text !== undefined) files[key] = text;
  }
  const cfgPath = join(dir, configMapKeys.config);
  if (files[configMapKeys.config] === undefined) {
    throw new Error(`${cfgPath} not found: mount ConfigMap weft-system/weft-config at --config-dir (${dir})`);
  }
  if (files[configMapKeys.conflist] === undefined) {
    throw new Error(`${join(dir, configMapKeys.conflist)} not found: ConfigMap weft-system/weft-config needs key ${configMapKeys.conflist}`);
  }
  let parsed: unknown;
  try { parsed = JSON.parse(files[configMapKeys.config]!); } catch (e) {
    throw new Error(`${cfgPath} is not JSON: ${(e as Error).message}`);
  }
  const config = checkConfig(parsed, cfgPath);
  return {
    dir,
    config,
    conflistTemplate: parseConflistTemplate(files[configMapKeys.conflist]!, join(dir, configMapKeys.conflist)),
    ...(files[configMapKeys.bird] !== undefined ? { birdTemplate: files[configMapKeys.bird] } : {}),
    files,
    ...(image ? { hash: configHash(files, config, image) } : files[configMapKeys.hash] ? { hash: files[configMapKeys.hash]!.trim() } : {}),
  };
}
