// Addresses allocated and addresses available per IP pool, for weft_ipam_pool_allocated_addresses
// and weft_ipam_pool_capacity_addresses. Computed at scrape time from the informer caches: the
// agents update IPAMBlock.status.allocated on every pod, far more often than anything that
// triggers a reconcile. Capacity is the whole pool (every block its CIDR holds, claimed or not),
// the same measure `weft diagnose` uses for ipam-pool-utilization.
import ipaddr from 'ipaddr.js';
import type { IPAMBlock, IPPoolStatus } from '../../api/index.ts';

export interface PoolUsage { pool: string; allocated: number; capacity: number }

/** Addresses host-local hands out from one block when no agent reported it yet: all but the
 *  network address, the gateway (.1) and, for IPv4, the broadcast address (the agent's rule,
 *  components/node/ipam/blocks.ts). */
export function defaultBlockCapacity(family: 'ipv4' | 'ipv6', blockSize: number): number {
  const bits = family === 'ipv4' ? 32 : 128;
  return Math.max(0, 2 ** Math.min(bits - blockSize, 52) - (family === 'ipv4' ? 3 : 2));
}

export function poolUsage(pools: readonly Pick<IPPoolStatus, 'name' | 'cidr' | 'blockSize'>[], blocks: readonly IPAMBlock[]): PoolUsage[] {
  const out: PoolUsage[] = [];
  for (const p of pools) {
    let family: 'ipv4' | 'ipv6';
    let prefix: number;
    try {
      const [addr, len] = ipaddr.parseCIDR(p.cidr);
      family = addr.kind();
      prefix = len;
    } catch {
      continue;
    }
    const mine = blocks.filter((b) => b.spec?.pool === p.name && !(b.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp);
    const perBlock = mine.find((b) => typeof b.status?.capacity === 'number')?.status?.capacity ?? defaultBlockCapacity(family, p.blockSize);
    const totalBlocks = 2 ** Math.max(0, p.blockSize - prefix);
    out.push({ pool: p.name, allocated: mine.reduce((n, b) => n + (b.status?.allocated ?? 0), 0), capacity: totalBlocks * perBlock });
  }
  return out;
}
