// The node's part of the BIRD configuration: render's cluster-wide template (render/bird.ts, the
// one BIRD renderer; ConfigMap key bird.conf) completed with this node's router id, blocks and
// peers. Pure. With bgp.fullMesh every other node is a peer and the configured bgp.peers whose
// nodeSelector selects this node are ADDED to the mesh (as Calico's global BGPPeers); without
// fullMesh only the configured peers are.
import { birdTemplatePlaceholders as ph, type EffectiveBGP } from '../../../api/effective-config.ts';
import { normalizeCidr } from '../../../api/block-name.ts';
import { selectsNode } from '../../../api/node-selector.ts';
import { birdIdent, birdText, kv } from '../kernel/values.ts';

/** One `protocol bgp` of a node's configuration. */
export interface BirdPeer { name: string; address: string; asNumber: number; description: string }

/** A configured peer as the agent uses it: bgp.peers after the nodeSelector chose it. */
export interface ConfiguredBgpPeer { address: string; asNumber: number; name?: string }

/**
 * The configured bgp.peers whose nodeSelector selects a node with these labels ('' selects every
 * node; Kubernetes or Calico selector syntax, api/node-selector.ts). Throws SelectorSyntaxError
 * for a selector that does not parse (admission and render reject those first).
 */
export function configuredPeersFor(bgp: Pick<EffectiveBGP, 'peers'>, nodeLabels: Readonly<Record<string, string>>): ConfiguredBgpPeer[] {
  return bgp.peers.filter((p) => selectsNode(p.nodeSelector, nodeLabels)).map((p) => ({ address: p.peerIP, asNumber: p.asNumber }));
}

/**
 * A node's BGP peers: every other node (`node_<name>`, the cluster AS) when fullMesh, plus the
 * configured peers (`peer_<address>`, their own AS), sorted by protocol name so the file is
 * stable whatever order the peers were listed in.
 */
export function birdPeers<N extends { name: string; underlayAddress: string }>(
  nodes: readonly N[],
  fullMesh: boolean,
  asNumber: number,
  configured: readonly ConfiguredBgpPeer[],
): BirdPeer[] {
  const out: BirdPeer[] = [];
  if (fullMesh) for (const p of nodes) out.push({ name: birdIdent('node_', p.name), address: p.underlayAddress, asNumber, description: p.name });
  for (const p of configured) out.push({ name: birdIdent('peer_', p.address), address: p.address, asNumber: p.asNumber, description: p.name ?? p.address });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The template with every placeholder replaced by this node's facts: its IPv4 underlay address
 * (router id and session source), one blackhole per block it owns, one protocol per peer.
 * Throws when the template lacks a placeholder (rendered by a mismatched operator).
 */
export function completeBirdTemplate(template: string, local: { underlayAddress: string; blocks: readonly string[] }, peers: readonly BirdPeer[]): string {
  const missing = Object.values(ph).filter((p) => !template.includes(p));
  if (missing.length) throw new Error(`the BIRD template (ConfigMap weft-config key bird.conf) lacks the placeholders ${missing.join(', ')}; re-render it with a matching operator`);
  // Every value comes from the API (other nodes' NodeNetworks, config.json): validated before
  // it reaches BIRD (DESIGN invariant 9; ../kernel/values.ts).
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
