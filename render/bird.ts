/**
 * Weft's one BIRD 2 renderer. Two pure steps:
 *  - renderBirdTemplate: the cluster-wide TEMPLATE (ConfigMap key `bird.conf`, only when BGP is
 *    enabled): AS number, pool filter, kernel export, with the placeholders of api
 *    birdTemplatePlaceholders where a node's facts go;
 *  - completeBirdTemplate (+ birdPeers, configuredPeersFor): what the node agent makes of it on
 *    each node — its router id, its blocks, its peers.
 * Peers: with bgp.fullMesh every other node is a peer, and the configured bgp.peers whose
 * nodeSelector selects the node are ADDED to that mesh (Calico's global BGPPeers behave the
 * same); without fullMesh only the configured peers are. The agent, the BGP dataplane tests and
 * the dataplane bench all use these functions, so the tests check the config the product writes.
 */
import { BGP_KERNEL_METRIC, birdTemplatePlaceholders as ph, normalizeCidr, selectsNode, type EffectiveBGP, type EffectiveConfig } from '../api/index.ts';

/** The cluster-wide template, or undefined when BGP is disabled. */
export function renderBirdTemplate(cfg: EffectiveConfig): string | undefined {
  if (!cfg.bgp.enabled) return undefined;
  const v4Pools = cfg.pools.filter((p) => p.family === 4).map((p) => `${normalizeCidr(p.cidr)}+`);
  const lines = [
    '# BIRD 2 configuration template rendered by the Weft operator. The node agent replaces the',
    '# placeholders (names in double braces, api birdTemplatePlaceholders; none appear in comments):',
    "#   ROUTER_ID      this node's IPv4 underlay address (router id)",
    '#   LOCAL_ADDRESS  the same address, source of the BGP sessions',
    '#   BLOCK_ROUTES   one "  route <block> blackhole;" line per IPv4 block this node owns',
    '#   PEERS          one "protocol bgp <name> from weft_peer { neighbor <ip> as <asn>; }" per peer:',
    `#                  ${cfg.bgp.fullMesh ? 'every other node (full mesh) plus ' : ''}the bgp.peers of config.json that select this node`,
    `router id ${ph.routerId};`,
    'timeformat protocol iso long;',
    '',
    'protocol device { scan time 10; }',
    '',
    'protocol static weft_blocks {',
    '  ipv4;',
    ph.blockRoutes,
    '}',
    '',
    'protocol kernel weft_kernel {',
    '  ipv4 { import none; export where source = RTS_BGP; };',
    `  metric ${BGP_KERNEL_METRIC};`,
    '  persist;',
    '}',
    '',
    'template bgp weft_peer {',
    `  local ${ph.localAddress} as ${cfg.bgp.asNumber};`,
    // iBGP defaults to multihop, which BIRD refuses to combine with `gateway direct`; the peers
    // share the node's segment (DESIGN.md: iBGP in namespaces needs gateway direct).
    '  direct;',
    // BIRD waits 5 s before the first connect to a new peer by default; nodes join faster.
    '  connect delay time 1;',
    '  connect retry time 5;',
    '  ipv4 {',
    v4Pools.length > 0 ? `    import where net ~ [ ${v4Pools.join(', ')} ];` : '    import none;',
    '    export where proto = "weft_blocks";',
    '    gateway direct;',
    '    next hop self;',
    '  };',
    '}',
    '',
    ph.peers,
  ];
  return `${lines.join('\n')}\n`;
}

function ident(s: string): string { return s.replace(/[^A-Za-z0-9_]/g, '_'); }

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
  if (fullMesh) for (const p of nodes) out.push({ name: `node_${ident(p.name)}`, address: p.underlayAddress, asNumber, description: p.name });
  for (const p of configured) out.push({ name: `peer_${ident(p.address)}`, address: p.address, asNumber: p.asNumber, description: p.name ?? p.address });
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
  const blocks = local.blocks.map((b) => `  route ${normalizeCidr(b)} blackhole;`).join('\n');
  const peerText = peers.map((p) => `protocol bgp ${p.name} from weft_peer {\n  description "${p.description.replace(/"/g, '')}";\n  neighbor ${p.address} as ${p.asNumber};\n}`).join('\n\n');
  return template
    .replaceAll(ph.routerId, local.underlayAddress)
    .replaceAll(ph.localAddress, local.underlayAddress)
    .replaceAll(ph.blockRoutes, blocks)
    .replaceAll(ph.peers, peerText);
}
