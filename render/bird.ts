/**
 * Weft's one BIRD 2 renderer: the cluster-wide TEMPLATE (ConfigMap key `bird.conf`, only when
 * BGP is enabled) — AS number, pool filter, kernel export — with the placeholders of api
 * birdTemplatePlaceholders where a node's facts go. The node agent fills those in on each node
 * (components/node/backends/bird-config.ts: router id, blocks, peers); the BGP dataplane tests
 * and the dataplane bench run the same two steps, so they check the configuration the product
 * writes. Peers: with bgp.fullMesh every other node, plus the configured bgp.peers that select
 * the node (they are added to the mesh); without fullMesh only the configured peers.
 */
import { BGP_KERNEL_METRIC, BIRD_RECOVERY_WAIT_SECONDS, bgpDefaults, birdTemplatePlaceholders as ph, normalizeCidr, type EffectiveConfig } from '../api/index.ts';

/** The cluster-wide template, or undefined when BGP is disabled. */
export function renderBirdTemplate(cfg: EffectiveConfig): string | undefined {
  if (!cfg.bgp.enabled) return undefined;
  const v4Pools = cfg.pools.filter((p) => p.family === 4).map((p) => `${normalizeCidr(p.cidr)}+`);
  const b = { ...bgpDefaults, ...definedOnly(cfg.bgp) };
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
    // A BIRD started with -R (the agent does so when the kernel still holds the routes of the
    // BIRD before it) keeps the kernel as it is until every peer sent End-of-RIB, at most this long.
    `graceful restart wait ${BIRD_RECOVERY_WAIT_SECONDS};`,
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
    // persist: a BIRD that exits (killed, upgraded) leaves its routes in the kernel; graceful
    // restart: the BIRD started after it (with -R) does not prune them before its peers resent theirs.
    '  persist;',
    `  graceful restart ${b.gracefulRestart ? 'on' : 'off'};`,
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
    `  hold time ${b.holdTime};`,
    `  keepalive time ${b.keepaliveTime};`,
    // RFC 4724: a peer whose session drops without a NOTIFICATION (BIRD killed) keeps its routes,
    // marked stale, for the restart time; the restarted BIRD announces them again and sends End-of-RIB.
    ...(b.gracefulRestart ? ['  graceful restart on;', `  graceful restart time ${b.restartTime};`] : ['  graceful restart off;']),
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

/** The fields of o that are not undefined (an older operator's config.json lacks the timers). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
