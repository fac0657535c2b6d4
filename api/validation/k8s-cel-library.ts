/**
 * The Kubernetes CEL extension functions our CRD rules use (the IP and CIDR libraries), for
 * @bufbuild/cel. CEL custom object types need protobuf messages, so an IP or CIDR value is a
 * one-entry CEL map ({"__cidr": canonical}) — equality then compares canonical forms, which is
 * what the API server's equality on these types does.
 */
import { celFunc, celMethod, CelScalar, mapType, type CelFunc } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import ipaddr from 'ipaddr.js';

const Net = mapType(CelScalar.STRING, CelScalar.STRING);
type NetValue = { get(key: string): unknown };

export function parseStrictIP(s: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  // Zones and IPv4-mapped forms are rejected by the API server's netip-based parser.
  if (!s.includes('%') && ipaddr.IPv6.isValid(s)) {
    const v6 = ipaddr.IPv6.parse(s);
    if (v6.isIPv4MappedAddress()) return undefined;
    return v6;
  }
  return undefined;
}

export function parseStrictCIDR(s: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseStrictIP(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!addr || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (len > (addr.kind() === 'ipv4' ? 32 : 128)) return undefined;
  return [addr, len];
}

function maskedAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, len: number): string {
  return addr.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${len}`).toString()
    : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${len}`).toString();
}

function ipValue(s: string) {
  const a = parseStrictIP(s);
  if (!a) throw new Error(`IP Address '${s}' parse error`);
  return new Map([['__ip', a.toString()]]);
}

function cidrValue(s: string) {
  const p = parseStrictCIDR(s);
  if (!p) throw new Error(`network address '${s}' parse error`);
  return new Map([['__cidr', `${p[0].toString()}/${p[1]}`]]);
}

function cidrParts(v: NetValue): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const p = parseStrictCIDR(String(v.get('__cidr')));
  if (!p) throw new Error('not a cidr value');
  return p;
}

function ipOf(v: NetValue): ipaddr.IPv4 | ipaddr.IPv6 {
  const text = v.get('__ip') ?? String(v.get('__cidr')).split('/')[0];
  return ipaddr.parse(String(text));
}

function contains(outer: [ipaddr.IPv4 | ipaddr.IPv6, number], inner: ipaddr.IPv4 | ipaddr.IPv6, innerLen: number) {
  if (outer[0].kind() !== inner.kind() || innerLen < outer[1]) return false;
  return (inner as ipaddr.IPv4).match(outer as [ipaddr.IPv4, number]);
}

export const kubernetesCelFunctions: CelFunc[] = [
  ...strings,
  celFunc('isIP', [CelScalar.STRING], CelScalar.BOOL, (s) => parseStrictIP(s) !== undefined),
  celFunc('isCIDR', [CelScalar.STRING], CelScalar.BOOL, (s) => parseStrictCIDR(s) !== undefined),
  celFunc('ip', [CelScalar.STRING], Net, ipValue),
  celFunc('cidr', [CelScalar.STRING], Net, cidrValue),
  celMethod('family', Net, [], CelScalar.INT, function () {
    return ipOf(this).kind() === 'ipv4' ? 4n : 6n;
  }),
  celMethod('prefixLength', Net, [], CelScalar.INT, function () {
    return BigInt(cidrParts(this)[1]);
  }),
  celMethod('ip', Net, [], Net, function () {
    return new Map([['__ip', cidrParts(this)[0].toString()]]);
  }),
  celMethod('masked', Net, [], Net, function () {
    const [addr, len] = cidrParts(this);
    return new Map([['__cidr', `${maskedAddress(addr, len)}/${len}`]]);
  }),
  celMethod('containsIP', Net, [CelScalar.STRING], CelScalar.BOOL, function (s) {
    const a = parseStrictIP(s);
    return a !== undefined && contains(cidrParts(this), a, a.kind() === 'ipv4' ? 32 : 128);
  }),
  celMethod('containsCIDR', Net, [CelScalar.STRING], CelScalar.BOOL, function (s) {
    const p = parseStrictCIDR(s);
    return p !== undefined && contains(cidrParts(this), p[0], p[1]);
  }),
];
