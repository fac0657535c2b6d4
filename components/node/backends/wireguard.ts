// wireguard: encryption of pod traffic between nodes over any backend (spec.network.encryption
// WireGuard). Kernel scheme, on top of what the backend programs:
//  - device <prefix>.wg: the kernel's (`ip link add DEV type wireguard`) where the module loads,
//    else wireguard-go's TUN (`wireguard-go DEV`, run in the node's network namespace: it creates
//    the TUN where it runs, daemonizes, and survives agent restarts; deleting the link ends it).
//    Its UAPI socket /var/run/wireguard/DEV.sock is not per namespace, so two nodes sharing one
//    machine (the dataplane tests) need different device names, i.e. different link prefixes.
//    MTU = cluster MTU; address = the node's tunnel address /32 (first address of its first
//    block): the source of what the node itself sends to pods elsewhere, inside what peers allow.
//  - `wg set DEV private-key <stateDir>/wireguard/private.key listen-port PORT` and, per peer that
//    publishes a public key, `peer KEY endpoint IP:PORT allowed-ips ITS_BLOCKS persistent-keepalive 25`
//    (../kernel/wireguard.ts diffs it against `wg show DEV dump`, so sessions are never reset).
//  - routes: every block of a peer whose handshake completed — or whose blocks already route
//    through the device (a restarted agent keeps them there; no downgrade once encrypted) —
//    becomes `BLOCK dev DEV proto weft`, replacing the backend's route. Every other peer keeps the
//    backend's route and is reached in plain. The backend's devices, FDB and neighbours stay, so
//    every node accepts plain and encrypted packets from its peers: switching on loses nothing,
//    since a node encrypts to a peer only after a handshake proved the peer holds its key.
//  - encryption turned off: routes go back to the backend's at once, and the device stays, with
//    its peers, while peers still send through it (they stop once this node's NodeNetwork drops
//    its public key); it is deleted once no encrypted byte arrived for drainQuietMs.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalCidr } from '../kernel/cidr.ts';
import { runChecked, type CommandRunner } from '../kernel/exec.ts';
import { isWireGuardKey, kv } from '../kernel/values.ts';
import type { DesiredKernelState, ObservedKernelState, ObservedLink, RouteSpec } from '../kernel/types.ts';
import { parseWgDump, type ObservedWireGuard, type WireGuardPeerSpec, type WireGuardSpec } from '../kernel/wireguard.ts';
import { tunnelAddress, wireguardDevice } from './common.ts';
import type { DataplaneConfig, LocalNode, PeerNode } from './types.ts';

/** Seconds between keepalives to each peer (wg(8)'s suggested value for NAT; it also proves a
 *  peer's session alive to the agent's handshake check). */
export const WIREGUARD_KEEPALIVE_S = 25;
/** A handshake older than this no longer stands for a session (WireGuard's Reject-After-Time, 180 s). */
export const HANDSHAKE_FRESH_S = 180;

/** What the agent reports about its device (NodeNetwork status.wireguard). */
export interface WireGuardReport {
  implementation: 'Kernel' | 'Userspace';
  /** Absent while draining (encryption off, device kept for peers that still send through it). */
  publicKey?: string;
  endpoint?: string;
  /** Peers routed through the device. */
  encrypted: string[];
  /** Peers routed by the backend: no key published, or no handshake yet. */
  plain: string[];
  /** Configured peers without a completed handshake: the agent looks again soon. */
  pending: string[];
  draining: boolean;
}

// ---- keys --------------------------------------------------------------------------------

/** PKCS#8 DER prefix of an X25519 private key (RFC 8410): the raw 32 bytes follow it. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The WireGuard public key (base64) of a raw X25519 private key. */
export function publicKeyOf(privateKey: Buffer): string {
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as { x: string };
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/**
 * This node's key pair: the private key from `path` (base64, as `wg genkey` writes it), created
 * on first use with Node's X25519 generator and written with mode 0600 (temp file + rename, so a
 * crash never leaves half a key). The file is the only copy: it is never logged, sent or put on a
 * command line (`wg set` reads it). A file of another mode is set back to 0600.
 */
export async function ensureKeyPair(path: string): Promise<{ publicKey: string; created: boolean }> {
  const existing = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return undefined; throw e; });
  if (existing !== undefined) {
    const text = existing.trim();
    if (!isWireGuardKey(text)) throw new Error(`${path} does not hold a WireGuard private key (base64 of 32 bytes); delete it and the agent makes a new key pair`);
    if (((await stat(path)).mode & 0o777) !== 0o600) await chmod(path, 0o600);
    return { publicKey: publicKeyOf(Buffer.from(text, 'base64')), created: false };
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const jwk = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' }) as { d: string };
  const raw = Buffer.from(jwk.d, 'base64url');
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${raw.toString('base64')}\n`, { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return { publicKey: publicKeyOf(raw), created: true };
}


// ---- the device --------------------------------------------------------------------------

/**
 * Makes sure DEV exists: kept when it does; else the kernel's WireGuard, else wireguard-go
 * (which daemonizes: the command returns once the TUN is up and the UAPI socket listens).
 * Throws naming both failures when neither works.
 */
export async function ensureWireGuardDevice(runner: CommandRunner, dev: string, wireguardGo = 'wireguard-go'): Promise<'existing' | 'Kernel' | 'Userspace'> {
  const shown = await runner.run(['ip', '-json', 'link', 'show', 'dev', kv.ifname(dev)]);
  if (shown.code === 0) return 'existing';
  const kernel = await runner.run(['ip', 'link', 'add', dev, 'type', 'wireguard']);
  if (kernel.code === 0) return 'Kernel';
  // wireguard-go prints a banner recommending the kernel module on every start; its exit code
  // and the device's existence are what count.
  const user = await runner.run([wireguardGo, dev], undefined, { timeoutMs: 20_000 });
  if (user.code === 0 && (await runner.run(['ip', 'link', 'show', 'dev', dev])).code === 0) return 'Userspace';
  throw new Error(`cannot create WireGuard device ${dev}${runner.netns ? ` in netns ${runner.netns}` : ''}: kernel WireGuard failed (${kernel.stderr.trim() || `exit ${kernel.code}`}) and ${wireguardGo} failed (${(user.stderr.trim() || user.stdout.trim()).split('\n').filter((l) => !/[│┌└]/.test(l)).join(' ').slice(0, 300) || `exit ${user.code}`}); load the wireguard module or install wireguard-go (the node image ships it), and /dev/net/tun must exist`);
}

export async function readWireGuard(runner: CommandRunner, dev: string): Promise<ObservedWireGuard> {
  return parseWgDump(await runChecked(runner, ['wg', 'show', kv.ifname(dev), 'dump']));
}

// ---- desired state (pure) ----------------------------------------------------------------

/** The device's configuration: this node's key and port, and every peer that publishes a key. */
export function wireguardSpec(peers: PeerNode[], cfg: DataplaneConfig, publicKey: string): WireGuardSpec {
  const enc = cfg.encryption!;
  const wgPeers: WireGuardPeerSpec[] = [];
  for (const p of peers) {
    // A peer publishing this node's own key is refused by the device; leave it plain.
    if (!p.wireguard || !p.blocks.length || p.wireguard.publicKey === publicKey) continue;
    wgPeers.push({ publicKey: p.wireguard.publicKey, endpoint: p.wireguard.endpoint, allowedIps: p.blocks.map(canonicalCidr).sort(), keepalive: WIREGUARD_KEEPALIVE_S });
  }
  return { dev: wireguardDevice(cfg), listenPort: enc.port, privateKeyFile: enc.privateKeyFile, publicKey, peers: wgPeers };
}

/**
 * Which peers go through the device: those with a key whose handshake is fresh, or whose blocks
 * the kernel already routes through the device. Pure; `now` in Unix seconds.
 */
export function encryptedPeers(spec: WireGuardSpec, peers: PeerNode[], observedRoutes: RouteSpec[], wg: ObservedWireGuard, now: number): { encrypted: string[]; plain: string[]; pending: string[] } {
  const viaDevice = new Set(observedRoutes.filter((r) => r.dev === spec.dev).map((r) => r.dst));
  const configured = new Map(wg.peers.map((p) => [p.publicKey, p]));
  const encrypted: string[] = [];
  const plain: string[] = [];
  const pending: string[] = [];
  for (const p of peers) {
    if (!p.wireguard || !p.blocks.length || p.wireguard.publicKey === spec.publicKey) { plain.push(p.name); continue; }
    const seen = configured.get(p.wireguard.publicKey);
    const fresh = !!seen && seen.latestHandshake > 0 && now - seen.latestHandshake <= HANDSHAKE_FRESH_S;
    const already = p.blocks.some((b) => viaDevice.has(canonicalCidr(b)));
    if (fresh || already) encrypted.push(p.name);
    else { plain.push(p.name); pending.push(p.name); }
  }
  return { encrypted, plain, pending };
}

/** The backend's state with the device and with the encrypted peers' blocks routed through it. */
export function withWireGuard(state: DesiredKernelState, local: LocalNode, peers: PeerNode[], cfg: DataplaneConfig, encrypted: readonly string[]): DesiredKernelState {
  const dev = wireguardDevice(cfg);
  const enc = new Set(encrypted);
  const through = new Set(peers.filter((p) => enc.has(p.name)).flatMap((p) => p.blocks.map(canonicalCidr)));
  const routes = state.routes.filter((r) => !through.has(r.dst));
  for (const dst of [...through].sort()) routes.push({ dst, type: 'unicast', dev });
  return {
    ...state,
    links: [...state.links, { name: dev, kind: 'wireguard', mtu: cfg.mtu, addresses: local.blocks.length ? [`${tunnelAddress(local)}/32`] : [] }],
    routes,
  };
}

/** While draining, the device as the kernel has it stays desired (the diff leaves it alone). */
export function keepDevice(state: DesiredKernelState, link: ObservedLink): DesiredKernelState {
  return { ...state, links: [...state.links, { name: link.name, kind: 'wireguard', mtu: link.mtu, addresses: link.addresses }] };
}

/** The WireGuard link among observed links, if any. */
export function observedDevice(observed: ObservedKernelState, dev: string): ObservedLink | undefined {
  return observed.links.find((l) => l.name === dev && l.kind === 'wireguard');
}
