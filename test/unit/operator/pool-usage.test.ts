// weft_ipam_pool_{allocated,capacity}_addresses: computed from the IPAMBlocks at scrape time.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { IPAMBlock } from '../../../api/index.ts';
import { createOperatorMetrics } from '../../../operator/metrics.ts';
import { poolUsage } from '../../../operator/controllers/pool-usage.ts';
import { blockCapacityOf } from '../../../api/block-capacity.ts';

const block = (cidr: string, pool: string, allocated?: number, capacity?: number, deleting = false) => ({
  apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock',
  metadata: { name: cidr.replace(/[./]/g, '-'), ...(deleting ? { deletionTimestamp: 'x' } : {}) },
  spec: { cidr, pool, node: 'n1' },
  ...(allocated !== undefined ? { status: { allocated, ...(capacity !== undefined ? { capacity } : {}) } } : {}),
}) as unknown as IPAMBlock;

const POOLS = [
  { name: 'default', cidr: '10.244.0.0/24', blockSize: 26 },
  { name: 'edge', cidr: '10.250.0.0/16', blockSize: 24 },
  { name: 'v6', cidr: 'fd00:10::/120', blockSize: 122 },
];

describe('pool usage', () => {
  test('allocated sums the pool\'s blocks; capacity counts every block of the CIDR', () => {
    const usage = poolUsage(POOLS, [
      block('10.244.0.0/26', 'default', 10, 61),
      block('10.244.0.64/26', 'default', 5, 61),
      block('10.244.0.128/26', 'default', 7, 61, true), // being deleted: no longer counted
      block('10.250.3.0/24', 'edge'), // no status yet
    ]);
    assert.deepEqual(usage, [
      { pool: 'default', allocated: 15, capacity: 4 * 61 },
      { pool: 'edge', allocated: 0, capacity: 256 * blockCapacityOf(4, 24) },
      { pool: 'v6', allocated: 0, capacity: 4 * blockCapacityOf(6, 122) },
    ]);
    assert.equal(blockCapacityOf(4, 26), 61, 'network, gateway and broadcast are not handed out');
    assert.equal(blockCapacityOf(6, 122), 62);
  });

  test('the gauges read the source at scrape time, labelled by pool', async () => {
    const registry = new Registry();
    const m = createOperatorMetrics(registry, 'weft_');
    const blocks = [block('10.244.0.0/26', 'default', 10, 61)];
    m.setPoolUsageSource(() => poolUsage(POOLS.slice(0, 1), blocks));
    let text = await registry.metrics();
    assert.match(text, /^weft_ipam_pool_allocated_addresses\{pool="default"\} 10$/m);
    assert.match(text, /^weft_ipam_pool_capacity_addresses\{pool="default"\} 244$/m);
    (blocks[0]!.status as { allocated: number }).allocated = 42;
    text = await registry.metrics();
    assert.match(text, /^weft_ipam_pool_allocated_addresses\{pool="default"\} 42$/m, 'no reconcile needed to see a change');
    m.setPoolUsageSource(() => []);
    assert.doesNotMatch(await registry.metrics(), /weft_ipam_pool_allocated_addresses\{/, 'a removed pool disappears');
  });
});
