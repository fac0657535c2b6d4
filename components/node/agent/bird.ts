// BGP: the agent completes render's BIRD template (ConfigMap key bird.conf) with this node's
// router id, blocks and peers, and hands the text to the kernel engineer's BIRD reconciler
// (write atomically after `bird -p`, start or `birdc configure`, leave alone when unchanged).
import { birdTemplatePlaceholders as ph } from '../../../api/effective-config.ts';
import { normalizeCidr } from '../../../api/block-name.ts';
import { birdSessions, reconcileBird } from '../backends/bgp.ts';
import { backendFor } from '../backends/registry.ts';
import type { BgpPeerConfig, DataplaneBackend, LocalNode, PeerNode } from '../backends/types.ts';
import { birdIdent, birdText, kv } from '../kernel/values.ts';

export interface BirdPeer { name: string; address: string; asNumber: number; description: string }

/** Every other node (full mesh) plus the configured peers that select this node, by name. */
export function birdPeers(peers: PeerNode[], fullMesh: boolean, asNumber: number, configured: BgpPeerConfig[]): BirdPeer[] {
  const out: BirdPeer[] = [];
  if (fullMesh) for (const p of peers) out.push({ name: birdIdent('node_', p.name), address: p.underlayAddress, asNumber, description: p.name });
  for (const p of configured) out.push({ name: birdIdent('peer_', p.address), address: p.address, asNumber: p.asNumber, description: p.name ?? p.address });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Pure: render's template with every placeholder replaced. */
export function completeBirdTemplate(template: string, local: LocalNode, peers: BirdPeer[]): string {
  const missing = Object.values(ph).filter((p) => !template.includes(p));
  if (missing.length) throw new Error(`the BIRD template (ConfigMap weft-config key bird.conf) lacks the placeholders ${missing.join(', ')}; re-render it with a matching operator`);
  const blocks = local.blocks.map((b) => `  route ${kv.cidr4(normalizeCidr(b))} blackhole;`).join('\n');
  const peerText = peers.map((p) =>
    `protocol bgp ${birdIdent('', p.name)} from weft_peer {\n  description "${birdText(p.description)}";\n  neighbor ${kv.ip(p.address)} as ${kv.uint(p.asNumber)};\n}`).join('\n\n');
  const address = kv.ipv4(local.underlayAddress);
  // Function replacements: a string replacement would expand `$&`, `$'` and friends.
  return template
    .replaceAll(ph.routerId, () => address)
    .replaceAll(ph.localAddress, () => address)
    .replaceAll(ph.blockRoutes, () => blocks)
    .replaceAll(ph.peers, () => peerText);
}

/** The bgp backend with its daemon step driven by render's template instead of the backend's
 *  built-in renderer; kernel state (blackholes, NAT) is the backend's own. */
export function templatedBgpBackend(template: string, fullMesh: boolean, configured: BgpPeerConfig[]): DataplaneBackend {
  const base = backendFor('bgp');
  return {
    ...base,
    async reconcileDaemon(local, peers, cfg, ctx) {
      if (!cfg.bgp) throw new Error(`node ${local.name}: BGP is the dataplane mode but bgp is disabled in config.json`);
      const text = completeBirdTemplate(template, local, birdPeers(peers, fullMesh, cfg.bgp.asNumber, configured));
      const action = await reconcileBird(text, cfg.bgp, ctx);
      return { action, sessions: await birdSessions(cfg.bgp) };
    },
  };
}
