// The node's part of the BIRD configuration: render's cluster-wide template (render/bird.ts, the
// one BIRD renderer; ConfigMap key bird.conf) completed with this node's router id, blocks and
// peers. Pure. Node-to-node sessions follow the topology: with bgp.fullMesh every other node;
// with route reflectors a reflector peers with every other node (its clients, and the other
// reflectors), any other node with the reflectors only. The configured bgp.peers whose
// nodeSelector selects this node (routers) are ADDED (as Calico's global BGPPeers).
import { birdTemplatePlaceholders as ph, type EffectiveBGP } from '../../../api/effective-config.ts';
import { normalizeCidr } from '../../../api/block-name.ts';
import { selectsNode } from '../../../api/node-selector.ts';
import { birdIdent, birdText, kv } from '../kernel/values.ts';

/** The BIRD template (render/bird.ts) a session derives from. */
export type BirdTemplateName = 'weft_peer' | 'weft_reflector' | 'weft_router';

/** One `protocol bgp` of a node's configuration. */
export interface BirdPeer {
  name: string;
  address: string;
  asNumber: number;
  description: string;
  template: BirdTemplateName;
  /** This node reflects routes to the peer (RFC 4456; iBGP only). */
  rrClient?: boolean;
  /** TTL of a peer routed hops away (BIRD multihop); absent: the peer shares the segment. */
  multihop?: number;
  /** TCP MD5 password (RFC 2385). */
  password?: string;
  /** This node's AS when it is not the cluster's (a Node annotation). */
  localAs?: number;
  /** Import nothing from it (the node's pools are not routed by BGP: VXLAN, host-gw). */
  importNone?: boolean;
}

/** A configured peer as the agent uses it: bgp.peers after the nodeSelector chose it. */
export interface ConfiguredBgpPeer { address: string; asNumber: number; name?: string; multihop?: number; passwordSecretKey?: string; password?: string }

/** A node as the BIRD configuration needs it: its address, and its AS and role as it reported them. */
export interface BgpNode { name: string; underlayAddress: string; asNumber?: number; routeReflector?: boolean }

/**
 * The configured bgp.peers whose nodeSelector selects a node with these labels ('' selects every
 * node; Kubernetes or Calico selector syntax, api/node-selector.ts). Throws SelectorSyntaxError
 * for a selector that does not parse (admission and render reject those first).
 */
export function configuredPeersFor(bgp: Pick<EffectiveBGP, 'peers'>, nodeLabels: Readonly<Record<string, string>>): ConfiguredBgpPeer[] {
  return bgp.peers.filter((p) => selectsNode(p.nodeSelector, nodeLabels)).map((p) => ({
    address: p.peerIP, asNumber: p.asNumber,
    ...(p.ebgpMultihop !== undefined ? { multihop: p.ebgpMultihop } : {}),
    ...(p.passwordSecretKey ? { passwordSecretKey: p.passwordSecretKey } : {}),
  }));
}

/** Which node-to-node sessions a node has, and as what. */
export interface BgpTopology {
  /** 'mesh': every node with every other; 'reflectors': see routeReflector; 'none': configured peers only. */
  mode: 'mesh' | 'reflectors' | 'none';
  /** This node's AS (the cluster's unless its Node's annotation says otherwise). */
  asNumber: number;
  /** The cluster's AS (the template's `local ... as`); a node of another AS says so per session. */
  clusterAsNumber?: number;
  /** This node is a route reflector (mode 'reflectors'). */
  routeReflector?: boolean;
  /** Import nothing from configured peers (this node's pools are not BGP-routed). */
  importNone?: boolean;
}

/**
 * A node's BGP peers, sorted by protocol name so the file is stable whatever order they came in:
 * node-to-node sessions (`node_<name>`, the peer's reported AS or the cluster's) as the topology
 * says, plus the configured peers (`peer_<address>`, their own AS, template weft_router).
 */
export function birdPeers(nodes: readonly BgpNode[], topo: BgpTopology, configured: readonly ConfiguredBgpPeer[]): BirdPeer[] {
  const out: BirdPeer[] = [];
  const localAs = topo.clusterAsNumber !== undefined && topo.asNumber !== topo.clusterAsNumber ? { localAs: topo.asNumber } : {};
  const peerAs = (p: BgpNode) => p.asNumber ?? topo.clusterAsNumber ?? topo.asNumber;
  const node = (p: BgpNode, template: BirdTemplateName, rrClient: boolean): BirdPeer => ({
    name: birdIdent('node_', p.name), address: p.underlayAddress, asNumber: peerAs(p), description: p.name, template,
    // A route-reflector client relation exists only inside one AS (BIRD refuses it for eBGP).
    ...(rrClient && peerAs(p) === topo.asNumber ? { rrClient: true } : {}),
    ...localAs,
  });
  if (topo.mode === 'mesh') for (const p of nodes) out.push(node(p, 'weft_peer', false));
  if (topo.mode === 'reflectors') {
    for (const p of nodes) {
      if (topo.routeReflector) out.push(node(p, 'weft_reflector', !p.routeReflector));
      else if (p.routeReflector) out.push(node(p, 'weft_peer', false));
    }
  }
  for (const p of configured) {
    out.push({
      name: birdIdent('peer_', p.address), address: p.address, asNumber: p.asNumber, description: p.name ?? p.address, template: 'weft_router',
      ...(p.multihop !== undefined ? { multihop: p.multihop } : {}),
      ...(p.password !== undefined ? { password: p.password } : {}),
      ...(topo.importNone ? { importNone: true } : {}),
      ...localAs,
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A BGP session password as BIRD reads it inside double quotes: printable ASCII without `"` or `\`, 1-80 characters (the TCP MD5 key limit). */
export function birdPassword(s: string): string {
  if (!/^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,80}$/.test(s)) throw new Error('a BGP password must be 1-80 printable ASCII characters without " or \\');
  return s;
}

function protocolText(p: BirdPeer): string {
  const lines = [
    `protocol bgp ${birdIdent('', p.name)} from ${p.template} {`,
    `  description "${birdText(p.description)}";`,
    `  neighbor ${kv.ip(p.address)} as ${kv.uint(p.asNumber)};`,
  ];
  if (p.localAs !== undefined) lines.push(`  local as ${kv.uint(p.localAs)};`);
  if (p.rrClient) lines.push('  rr client;');
  if (p.password !== undefined) lines.push(`  password "${birdPassword(p.password)}";`);
  // BIRD refuses `gateway direct` on a multihop session: its next hops are resolved recursively.
  if (p.multihop !== undefined) lines.push(`  multihop ${kv.uint(p.multihop)};`);
  const channel = [...(p.multihop !== undefined ? ['gateway recursive;'] : []), ...(p.importNone || p.multihop !== undefined ? ['import none;'] : [])];
  if (channel.length) lines.push(`  ipv4 { ${channel.join(' ')} };`);
  lines.push('}');
  return lines.join('\n');
}

/**
 * The template with every placeholder replaced by this node's facts: its IPv4 underlay address
 * (router id and session source), one blackhole per block it owns, one protocol per peer.
 * Throws when the template lacks a placeholder (rendered by a mismatched operator) or a value is
 * not of its type.
 */
export function completeBirdTemplate(template: string, local: { underlayAddress: string; blocks: readonly string[] }, peers: readonly BirdPeer[]): string {
  const missing = Object.values(ph).filter((p) => !template.includes(p));
  if (missing.length) throw new Error(`the BIRD template (ConfigMap weft-config key bird.conf) lacks the placeholders ${missing.join(', ')}; re-render it with a matching operator`);
  // Every value comes from the API (other nodes' NodeNetworks, config.json, a Secret): validated
  // before it reaches BIRD (DESIGN invariant 9; ../kernel/values.ts).
  const blocks = local.blocks.map((b) => `  route ${kv.cidr4(normalizeCidr(b))} blackhole;`).join('\n');
  const peerText = peers.map(protocolText).join('\n\n');
  const address = kv.ipv4(local.underlayAddress);
  // Function replacements: a string replacement would expand `$&`, `$'` and friends.
  return template
    .replaceAll(ph.routerId, () => address)
    .replaceAll(ph.localAddress, () => address)
    .replaceAll(ph.blockRoutes, () => blocks)
    .replaceAll(ph.peers, () => peerText);
}
