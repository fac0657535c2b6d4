// Typed values for kernel command lines. `ip -batch`, `bridge -batch`, `nft -f` and BIRD's
// config split their input on whitespace, newlines, ';' and braces, so a value read from the API
// (a peer's MAC or address, a block CIDR) that carried any of them could add a command or an
// argument. Every value a command builder interpolates goes through one of these formatters:
// each accepts only the canonical textual form of its type, which contains none of those
// characters, and throws KernelValueError otherwise. Peers are filtered earlier
// (agent/peers.ts); these checks are the last line, so a bug upstream fails a sync instead of
// running a different command.
import ipaddr from 'ipaddr.js';

/** A value that is not of the type a kernel command expects at that position. */
export class KernelValueError extends Error {
  constructor(readonly kind: string, readonly value: unknown) {
    super(`refusing ${kind} ${JSON.stringify(String(value).slice(0, 80))}${String(value).length > 80 ? '…' : ''} in a kernel command: not a valid ${kind}`);
    this.name = 'KernelValueError';
  }
}

/** 48-bit MAC, six colon-separated hex pairs (how iproute2 prints them). */
const MAC_RE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;
/** Linux interface names: at most IFNAMSIZ-1 = 15 bytes, no '/', ':' or whitespace (dev_valid_name);
 *  we allow the portable subset. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
/** nftables identifiers (table, set, chain names): a letter, then letters, digits, '_'. */
const NFT_IDENT_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const DECIMAL_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${DECIMAL_OCTET}(?:\\.${DECIMAL_OCTET}){3}$`);

export function isMac(s: unknown): s is string { return typeof s === 'string' && MAC_RE.test(s); }
/** Dotted-quad IPv4 only: ipaddr.js also accepts "127.1", hex and octal forms, which iproute2 reads differently. */
export function isIPv4Address(s: unknown): s is string { return typeof s === 'string' && IPV4_RE.test(s); }
/** Dotted-quad IPv4 CIDR with a prefix length of 0-32 (host bits may be set, as in an interface address). */
export function isIPv4CidrText(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const m = /^([0-9.]{7,15})\/([0-9]{1,2})$/.exec(s);
  return !!m && isIPv4Address(m[1]) && Number(m[2]) <= 32;
}
/** An IPv6 address in any RFC 4291 text form (BIRD peers); never contains whitespace or ';'. */
export function isIPv6Address(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 45 && /^[0-9A-Fa-f:.]+$/.test(s) && ipaddr.IPv6.isValid(s);
}
export function isIfName(s: unknown): s is string { return typeof s === 'string' && IFNAME_RE.test(s) && s !== '.' && s !== '..'; }
export function isNftIdent(s: unknown): s is string { return typeof s === 'string' && NFT_IDENT_RE.test(s); }

/**
 * A WireGuard key (public, here: peers' keys come from their NodeNetworks) as `wg` reads and
 * prints it: the standard base64 of exactly 32 bytes, 44 characters ending in one '='. Only the
 * canonical encoding is accepted (the 43rd character carries 4 bits, the rest must be zero), so
 * one key has one spelling and no '+'-or-'/'-free alias can smuggle anything into `wg set`.
 */
const WG_KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
export function isWireGuardKey(s: unknown): s is string {
  return typeof s === 'string' && WG_KEY_RE.test(s) && Buffer.from(s, 'base64').length === 32;
}
/** `IPV4:PORT`, a WireGuard endpoint as `wg` prints it (dotted quad, port 1-65535, no leading zeros). */
export function isIPv4Endpoint(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const m = /^([0-9.]{7,15}):([1-9][0-9]{0,4})$/.exec(s);
  return !!m && isIPv4Address(m[1]) && Number(m[2]) <= 65535;
}

/** A 4-byte BGP AS number (RFC 6793): an integer 1..4294967295 (0 is reserved, RFC 7607). */
export function isAsNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffffffff;
}

function check<T>(ok: (v: unknown) => v is T, kind: string) {
  return (v: unknown): T => {
    if (!ok(v)) throw new KernelValueError(kind, v);
    return v;
  };
}

/** Formatters: return the value unchanged when it is of the type, throw KernelValueError otherwise. */
export const kv = {
  mac: check(isMac, 'MAC address'),
  ipv4: check(isIPv4Address, 'IPv4 address'),
  cidr4: check(isIPv4CidrText, 'IPv4 CIDR'),
  ip: check((v: unknown): v is string => isIPv4Address(v) || isIPv6Address(v), 'IP address'),
  ifname: check(isIfName, 'interface name'),
  nftIdent: check(isNftIdent, 'nftables identifier'),
  wgKey: check(isWireGuardKey, 'WireGuard key'),
  endpoint4: check(isIPv4Endpoint, 'IPv4 endpoint'),
  /** An absolute file path without whitespace or control characters (an argument of `wg set`). */
  path: check((v: unknown): v is string => typeof v === 'string' && /^\/[A-Za-z0-9_.\/+-]{1,4095}$/.test(v) && !v.split('/').includes('..'), 'file path'),
  /** A non-negative integer below 2^32 (VNI, port, MTU, metric, protocol, AS number). */
  uint: check((v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'unsigned integer'),
};

/** BIRD identifiers (protocol names): letters, digits, '_', starting with a letter. */
export function birdIdent(prefix: string, s: string): string {
  return `${prefix}${s.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 64);
}

/** Text inside a BIRD double-quoted string: only characters that cannot end the string or the
 *  statement (node names are DNS subdomains, so nothing legitimate is lost). */
export function birdText(s: string): string {
  return s.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 253);
}
