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
