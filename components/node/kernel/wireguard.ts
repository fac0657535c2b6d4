// The WireGuard device's configuration as plain data, read back with `wg show DEV dump` and
// changed with one `wg set` per sync: the same level-triggered diff as diff.ts, so a restarted
// agent that finds the device right runs no `wg set` at all, and established sessions are never
// touched (`wg set` changes only the peers it names; `wg setconf` would drop every other peer's
// session). Works on the kernel module and on wireguard-go alike (`wg` speaks netlink to the
// first and the UAPI socket /var/run/wireguard/DEV.sock to the second). Parsing and planning are
// pure; every value reaching an argument goes through ./values.ts.
import { kv } from './values.ts';

/** One peer as this node wants it: the peer's key, where it listens, and what it may send. */
export interface WireGuardPeerSpec {
  publicKey: string;
  /** IPV4:PORT of the peer's device. */
  endpoint: string;
  /** The peer's blocks (CIDRs): the only sources accepted from it, the only destinations sent to it. */
  allowedIps: string[];
  /** Seconds between keepalives; also what starts a handshake without waiting for pod traffic. */
  keepalive: number;
}

export interface WireGuardSpec {
  dev: string;
  listenPort: number;
  /** File holding this node's private key (mode 0600); `wg set` reads it, so it is never an argument. */
  privateKeyFile: string;
  /** The public key of that private key: how the device's current key is recognised. */
  publicKey: string;
  peers: WireGuardPeerSpec[];
}

export interface ObservedWireGuardPeer {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds of the last completed handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** 0 = off. */
  keepalive: number;
}

export interface ObservedWireGuard {
  /** null when the device has no private key yet. The private key itself is never kept. */
  publicKey: string | null;
  listenPort: number;
  peers: ObservedWireGuardPeer[];
}

const none = (s: string | undefined) => (s === undefined || s === '(none)' || s === 'off' ? '' : s);

/**
 * Parses `wg show DEV dump`: a device line (private key, public key, listen port, fwmark), then
 * one line per peer (public key, preshared key, endpoint, allowed ips, latest handshake, rx, tx,
 * persistent keepalive), tab-separated, "(none)"/"off" for unset values (wg(8)).
 */
export function parseWgDump(text: string): ObservedWireGuard {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = (lines[0] ?? '').split('\t');
  const peers = lines.slice(1).map((l): ObservedWireGuardPeer => {
    const f = l.split('\t');
    return {
      publicKey: f[0] ?? '',
      endpoint: none(f[2]) || null,
      allowedIps: none(f[3]).split(',').filter(Boolean).sort(),
      latestHandshake: Number(f[4] ?? 0) || 0,
      rxBytes: Number(f[5] ?? 0) || 0,
      txBytes: Number(f[6] ?? 0) || 0,
      keepalive: Number(none(f[7]) || 0) || 0,
    };
  });
  return { publicKey: none(head[1]) || null, listenPort: Number(head[2] ?? 0) || 0, peers };
}

const sameList = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

/** `wg set DEV` arguments in two steps around the kernel sync: `before` adds and changes (a route
 *  moves to the device only for a peer already on it), `after` removes peers (once no route
 *  leads to them any more: a packet routed to the device for a removed peer would be dropped). */
export interface WireGuardPlan { before: string[]; after: string[] }

/**
 * The `wg set` arguments (after `wg set DEV`) that make the device match spec, both empty when it
 * already does: the private key when the device's public key differs, the listen port, peers
 * added or changed (endpoint, allowed ips and keepalive are set together; `allowed-ips`
 * replaces the peer's list), and peers removed.
 */
export function planWireGuard(spec: WireGuardSpec, observed: ObservedWireGuard): WireGuardPlan {
  const args: string[] = [];
  const after: string[] = [];
  if (observed.publicKey !== spec.publicKey) args.push('private-key', kv.path(spec.privateKeyFile));
  if (observed.listenPort !== spec.listenPort) args.push('listen-port', String(kv.uint(spec.listenPort)));
  const want = new Map(spec.peers.map((p) => [p.publicKey, p]));
  const have = new Map(observed.peers.map((p) => [p.publicKey, p]));
  for (const p of observed.peers) if (!want.has(p.publicKey)) after.push('peer', kv.wgKey(p.publicKey), 'remove');
  for (const p of spec.peers) {
    const h = have.get(p.publicKey);
    if (h && h.endpoint === p.endpoint && sameList(h.allowedIps, p.allowedIps) && h.keepalive === p.keepalive) continue;
    args.push('peer', kv.wgKey(p.publicKey), 'endpoint', kv.endpoint4(p.endpoint),
      'allowed-ips', p.allowedIps.map((c) => kv.cidr4(c)).join(','), 'persistent-keepalive', String(kv.uint(p.keepalive)));
  }
  return { before: args, after };
}

/**
 * Arguments that make the device start a handshake with each of these peers now: turning the
 * persistent keepalive off and on sends a keepalive, which needs a session (wireguard-go
 * device/uapi.go, the kernel's wg_packet_send_keepalive). A device gives up on a peer after 90 s
 * of unanswered handshakes and tries again only on new traffic, and until the handshake
 * completes no pod traffic goes to that peer through the device, so nothing else would.
 */
export function handshakeNudge(peers: WireGuardPeerSpec[]): string[] {
  return peers.flatMap((p) => ['peer', kv.wgKey(p.publicKey), 'persistent-keepalive', '0', 'peer', p.publicKey, 'persistent-keepalive', String(kv.uint(p.keepalive))]);
}
