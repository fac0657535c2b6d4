// Markers that say "this kernel object belongs to Weft". The agent reads, changes and deletes
// only objects carrying one of them, so it can share a node with kube-proxy, other CNIs'
// leftovers, DHCP clients and BIRD without ever flushing what it does not own.
import { BGP_KERNEL_METRIC } from '../../../api/effective-config.ts';

/** Route protocol number written on every route the agent installs (0x57 = 'W'). Unused by
 *  iproute2's /etc/iproute2/rt_protos and by the kernel's RTPROT_* list. Register the name
 *  with `echo "87 weft" > /etc/iproute2/rt_protos.d/weft.conf` to make `ip route` print it. */
export const WEFT_ROUTE_PROTOCOL = 0x57;
export const WEFT_ROUTE_PROTOCOL_NAME = 'weft';
/** Line for /etc/iproute2/rt_protos.d/weft.conf. */
export const WEFT_RT_PROTOS_LINE = `${WEFT_ROUTE_PROTOCOL} ${WEFT_ROUTE_PROTOCOL_NAME}`;

/** Interfaces whose name starts with this prefix (and whose kind the agent manages) are Weft's. */
export const DEFAULT_LINK_PREFIX = 'weft';
/** Default nftables table (family inet). Tests prefix it per run. */
export const DEFAULT_NFT_TABLE = 'weft';
/** Kernel metric of the peer routes BIRD installs in BGP mode. BIRD 2 always writes routes with
 *  protocol 12 (bird), so in BGP mode the metric is the Weft marker on imported routes. */
export const WEFT_BGP_KERNEL_METRIC = BGP_KERNEL_METRIC;
/** The WireGuard device is `<link prefix>.wg`; a TUN of that name is wireguard-go's (read.ts). */
export const WIREGUARD_DEVICE_SUFFIX = '.wg';
