/**
 * Weft's one BIRD 2 renderer: the cluster-wide TEMPLATE (ConfigMap key `bird.conf`, only when
 * BGP is enabled) — AS number, pool filter, kernel export — with the placeholders of api
 * birdTemplatePlaceholders where a node's facts go. The node agent fills those in on each node
 * (components/node/backends/bird-config.ts: router id, blocks, peers); the BGP dataplane tests
 * and the dataplane bench run the same two steps, so they check the configuration the product
 * writes. Peers: with bgp.fullMesh every other node, plus the configured bgp.peers that select
 * the node (they are added to the mesh); without fullMesh only the configured peers.
 */
import ipaddr from 'ipaddr.js';
import { BGP_KERNEL_METRIC, BIRD_RECOVERY_WAIT_SECONDS, bgpDefaults, birdTemplatePlaceholders as ph, normalizeCidr, type EffectiveConfig } from '../api/index.ts';

/** The cluster-wide template, or undefined when BGP is disabled. */
export function renderBirdTemplate(cfg: EffectiveConfig): string | undefined {
  if (!cfg.bgp.enabled) return undefined;
  const v4 = cfg.pools.filter((p) => p.family === 4);
  // Routes are imported (and reflected) for the pools BGP routes only: a VXLAN or host-gw pool's
  // blocks are routed by the agent, and a BGP route beside its route would compete with it.
  const imported = v4.filter((p) => p.dataplane === 'bgp' && !p.disableBGPExport).map((p) => `${normalizeCidr(p.cidr)}+`);
  const notExported = v4.filter((p) => p.disableBGPExport).map((p) => `${normalizeCidr(p.cidr)}+`);
  const ownBlocks = `proto = "weft_blocks"${notExported.length ? ` && !(net ~ [ ${notExported.join(', ')} ])` : ''}`;
  const services = (cfg.bgp.serviceCIDRs ?? []).filter((c) => !c.includes(':')).map((c) => `  route ${normalizeCidr(c)} blackhole;`);
  const clusterID = cfg.bgp.routeReflectors ? ipv4Text(cfg.bgp.routeReflectors.clusterID) : undefined;
  const b = { ...bgpDefaults, ...definedOnly(cfg.bgp) };
  const lines = [
    '# BIRD 2 configuration template rendered by the Weft operator. The node agent replaces the',
    '# placeholders (names in double braces, api birdTemplatePlaceholders; none appear in comments):',
    "#   ROUTER_ID      this node's IPv4 underlay address (router id)",
    '#   LOCAL_ADDRESS  the same address, source of the BGP sessions',
    '#   BLOCK_ROUTES   one "  route <block> blackhole;" line per IPv4 block this node owns',
    '#   PEERS          one "protocol bgp <name> from <template> { neighbor <ip> as <asn>; }" per peer:',
    `#                  ${cfg.bgp.fullMesh ? 'every other node (full mesh) plus ' : cfg.bgp.routeReflectors ? 'the reflectors (on a reflector: every other node) plus ' : ''}the bgp.peers of config.json that select this node`,
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
    ...(services.length ? ['# Advertised to configured peers (routers) only: spec.network.bgp.serviceClusterIPs and serviceExternalIPs.', 'protocol static weft_services {', '  ipv4;', ...services, '}', ''] : []),
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
    imported.length > 0 ? `    import where net ~ [ ${imported.join(', ')} ];` : '    import none;',
    `    export where ${ownBlocks};`,
    // No `next hop self`: BIRD sends its own address for the blocks it originates anyway, and a
    // reflected route must keep its originator as next hop, or traffic would pass the reflector
    // (and stop with it).
    '    gateway direct;',
    '  };',
    '}',
    '',
    '# A reflector (RFC 4456) also passes on the routes it learned, to its clients and the other reflectors.',
    'template bgp weft_reflector from weft_peer {',
    `  ipv4 { export where (${ownBlocks})${imported.length ? ` || (source = RTS_BGP && net ~ [ ${imported.join(', ')} ])` : ''}; };`,
    ...(clusterID ? [`  rr cluster id ${clusterID};`] : []),
    '}',
    '',
    '# Configured peers (routers) also get the Service CIDRs.',
    'template bgp weft_router from weft_peer {',
    `  ipv4 { export where (${ownBlocks})${services.length ? ' || proto = "weft_services"' : ''}; };`,
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

/** An IPv4 address in dotted form, checked (it is written into bird.conf); throws otherwise. */
function ipv4Text(s: string): string {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) throw new Error(`spec.network.bgp.routeReflectors.clusterID ${JSON.stringify(s)} is not an IPv4 address in dotted form, e.g. 244.0.0.1`);
  return ipaddr.IPv4.parse(s).toString();
}
