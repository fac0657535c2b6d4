// Addresses allocated and addresses available per IP pool, for weft_ipam_pool_allocated_addresses
// and weft_ipam_pool_capacity_addresses. Computed at scrape time from the informer caches: the
// agents update IPAMBlock.status.allocated on every pod, far more often than anything that
// triggers a reconcile. Capacity is the whole pool (every block its CIDR holds, claimed or not),
// the same measure `weft diagnose` uses for ipam-pool-utilization. A block no agent reported yet
// counts what host-local will hand out from it (api/block-capacity.ts).
import ipaddr from 'ipaddr.js';
import { blockCapacityOf, type IPAMBlock, type IPPoolStatus } from '../../api/index.ts';

export interface PoolUsage { pool: string; allocated: number; capacity: number }

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
    const perBlock = mine.find((b) => typeof b.status?.capacity === 'number')?.status?.capacity ?? blockCapacityOf(family === 'ipv4' ? 4 : 6, p.blockSize);
    const totalBlocks = 2 ** Math.max(0, p.blockSize - prefix);
    out.push({ pool: p.name, allocated: mine.reduce((n, b) => n + (b.status?.allocated ?? 0), 0), capacity: totalBlocks * perBlock });
  }
  return out;
}
