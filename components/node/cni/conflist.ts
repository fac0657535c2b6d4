// The CNI conflist this node's pods are created with: render's template (ConfigMap key
// cni-conflist) with the ptp plugin's host-local `ranges` set to this node's blocks and its
// `dataDir` to the agent's store. Written atomically, and only when the bytes change, so the
// container runtime never reads half a file and an agent restart does not touch it.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import ipaddr from 'ipaddr.js';

export interface ConflistTemplate { cniVersion: string; name: string; plugins: Record<string, unknown>[]; [k: string]: unknown }

export function parseConflistTemplate(text: string, source: string): ConflistTemplate {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) {
    throw new Error(`${source}: the CNI conflist template is not JSON (${(e as Error).message}); the operator renders it into ConfigMap weft-system/weft-config key cni-conflist`);
  }
  const t = doc as Partial<ConflistTemplate>;
  if (typeof t.name !== 'string' || !t.name || !Array.isArray(t.plugins)) {
    throw new Error(`${source}: the CNI conflist template needs "name" and "plugins"`);
  }
  if (!t.plugins.some((p) => (p as { ipam?: { type?: string } }).ipam?.type === 'host-local')) {
    throw new Error(`${source}: no plugin in the CNI conflist template has ipam.type host-local; the agent fills that plugin's ranges`);
  }
  return t as ConflistTemplate;
}

/**
 * The template with every host-local IPAM section filled: one range set per address family
 * (a pod gets one address of each family), its ranges this node's blocks in the given order
 * (host-local fills them in order), and dataDir. A template without ipam.routes gets a default
 * route per family, because ptp installs only the routes IPAM hands it.
 */
export function fillConflist(template: ConflistTemplate, blocks: string[], dataDir: string): ConflistTemplate {
  const v4 = blocks.filter((b) => ipaddr.parseCIDR(b)[0].kind() === 'ipv4');
  const v6 = blocks.filter((b) => ipaddr.parseCIDR(b)[0].kind() === 'ipv6');
  const ranges = [v4, v6].filter((f) => f.length).map((f) => f.map((subnet) => ({ subnet })));
  const out = structuredClone(template);
  for (const plugin of out.plugins) {
    const ipam = plugin.ipam as Record<string, unknown> | undefined;
    if (ipam?.type !== 'host-local') continue;
    ipam.ranges = ranges;
    ipam.dataDir = dataDir;
    if (!Array.isArray(ipam.routes) || ipam.routes.length === 0) {
      ipam.routes = [...(v4.length ? [{ dst: '0.0.0.0/0' }] : []), ...(v6.length ? [{ dst: '::/0' }] : [])];
    }
  }
  return out;
}

export function conflistText(c: ConflistTemplate): string {
  return JSON.stringify(c, null, 2) + '\n';
}

/** Writes path atomically (temp file in the same directory, fsync, rename, fsync of the
 *  directory) unless it already holds exactly text, so a crash or power loss leaves either the
 *  old or the new file, never an empty one. Returns whether it wrote. */
export async function writeFileIfChanged(path: string, text: string, mode = 0o644): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) return false;
  await mkdir(dirname(path), { recursive: true });
  // A dot-name: the runtime loads *.conflist from confDir and must never see the temp file.
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
  return true;
}

/** fsync(2) of a directory, so a rename or unlink in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}
