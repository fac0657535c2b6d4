/** Checks on IP pools that need the whole list: the API server cannot judge them per item. */
import { parseStrictCIDR } from './k8s-cel-library.ts';
import ipaddr from 'ipaddr.js';

export interface PoolLike {
  name: string;
  cidr: string;
}

export function cidrsOverlap(a: string, b: string): boolean {
  const pa = parseStrictCIDR(a);
  const pb = parseStrictCIDR(b);
  if (!pa || !pb || pa[0].kind() !== pb[0].kind()) return false;
  const shorter = pa[1] <= pb[1] ? pa : pb;
  const longer = shorter === pa ? pb : pa;
  return (longer[0] as ipaddr.IPv4).match(shorter as [ipaddr.IPv4, number]);
}

export interface PoolOverlap {
  first: number;
  second: number;
  message: string;
}

/** Every pair of pools whose ranges overlap, with a message saying which and what to do. */
export function findPoolOverlaps(pools: readonly PoolLike[]): PoolOverlap[] {
  const out: PoolOverlap[] = [];
  for (let i = 0; i < pools.length; i++) {
    for (let j = i + 1; j < pools.length; j++) {
      const a = pools[i]!;
      const b = pools[j]!;
      if (cidrsOverlap(a.cidr, b.cidr)) {
        out.push({
          first: i,
          second: j,
          message: `cidr ${b.cidr} of pool "${b.name}" overlaps ${a.cidr} of pool "${a.name}"; pools must not share addresses — choose disjoint ranges`,
        });
      }
    }
  }
  return out;
}

/**
 * How many blocks of /blockSize a pool of `cidr` holds: 2^(blockSize - prefix length). Each node a
 * pool selects needs at least one. A number (2^66 for an IPv6 /56 of /122s is still exact enough
 * to compare with a node count); undefined for a cidr that does not parse.
 */
export function blocksInPool(cidr: string, blockSize: number): number | undefined {
  const p = parseStrictCIDR(cidr);
  if (!p) return undefined;
  return blockSize < p[1] ? 0 : 2 ** (blockSize - p[1]);
}

/** Private ranges a suggested pool is taken from, preferred first (RFC 1918, RFC 6598 for IPv4; RFC 4193 for IPv6). */
const POOL_RANGES: Record<4 | 6, { start: string; range: string }[]> = {
  4: [
    { start: '10.244.0.0', range: '10.0.0.0/8' },
    { start: '172.16.0.0', range: '172.16.0.0/12' },
    { start: '100.64.0.0', range: '100.64.0.0/10' },
  ],
  6: [{ start: 'fd00:244::', range: 'fd00::/8' }],
};

function toBig(a: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return a.toByteArray().reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

function fromBig(n: bigint, family: 4 | 6): string {
  const bytes: number[] = [];
  for (let i = 0; i < (family === 4 ? 4 : 16); i++) { bytes.unshift(Number(n & 0xffn)); n >>= 8n; }
  return ipaddr.fromByteArray(bytes).toString();
}

/**
 * A private range of /prefix that overlaps none of `taken` (pools, node subnets): what advice
 * suggests instead of a pool that collides with them. Tries at most 4096 ranges per private
 * block; undefined when every one is taken.
 */
export function freePoolCidr(family: 4 | 6, prefix: number, taken: readonly string[]): string | undefined {
  const bits = family === 4 ? 32 : 128;
  for (const r of POOL_RANGES[family]) {
    const [net, len] = ipaddr.parseCIDR(r.range);
    if (prefix < len || prefix > bits) continue;
    const step = 1n << BigInt(bits - prefix);
    const base = toBig(net);
    const end = base + (1n << BigInt(bits - len));
    let at = (toBig(ipaddr.parse(r.start)) / step) * step;
    for (let i = 0; i < 4096; i++, at += step) {
      if (at >= end) at = base;
      const cidr = `${fromBig(at, family)}/${prefix}`;
      if (!taken.some((t) => cidrsOverlap(cidr, t))) return cidr;
    }
  }
  return undefined;
}
