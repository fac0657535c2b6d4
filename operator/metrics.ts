// Operator-level metrics on top of the runtime's (reconciles, errors, durations, queue depth,
// watch restarts, API requests): what the Installation looks like and what housekeeping did.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PoolUsage } from './controllers/pool-usage.ts';

export interface OperatorMetrics {
  pools: Gauge;
  mtu: Gauge;
  nodesDesired: Gauge;
  nodesUpdated: Gauge;
  nodesReady: Gauge;
  degraded: Gauge<'reason'>;
  objectsApplied: Counter<'kind'>;
  objectsPruned: Counter<'kind'>;
  events: Counter<'type' | 'reason'>;
  blocksReleased: Counter<'reason'>;
  orphanBlocks: Gauge;
  poolAllocated: Gauge<'pool'>;
  poolCapacity: Gauge<'pool'>;
  /** Where the pool gauges read from at scrape time (the Installation controller's caches). */
  setPoolUsageSource(source: () => PoolUsage[]): void;
}

export function createOperatorMetrics(registry: Registry, prefix = 'weft_'): OperatorMetrics {
  const registers = [registry];
  let poolSource: (() => PoolUsage[]) | undefined;
  function fill(this: Gauge<'pool'>, pick: (u: PoolUsage) => number): void {
    this.reset();
    for (const u of poolSource?.() ?? []) this.set({ pool: u.pool }, pick(u));
  }
  return {
    pools: new Gauge({ name: `${prefix}installation_ip_pools`, help: 'IP pools in the Installation.', registers }),
    mtu: new Gauge({ name: `${prefix}installation_mtu`, help: 'Pod MTU the operator chose.', registers }),
    nodesDesired: new Gauge({ name: `${prefix}installation_nodes_desired`, help: 'Nodes that should run the node agent.', registers }),
    nodesUpdated: new Gauge({ name: `${prefix}installation_nodes_updated`, help: 'Nodes whose agent reports the current configuration hash.', registers }),
    nodesReady: new Gauge({ name: `${prefix}installation_nodes_ready`, help: 'Nodes whose agent runs the current configuration and is Ready.', registers }),
    degraded: new Gauge({ name: `${prefix}installation_degraded`, help: '1 while the Installation is Degraded, by reason.', labelNames: ['reason'], registers }),
    objectsApplied: new Counter({ name: `${prefix}objects_applied_total`, help: 'Server-side applies of rendered objects, by kind.', labelNames: ['kind'], registers }),
    objectsPruned: new Counter({ name: `${prefix}objects_pruned_total`, help: 'Owned objects deleted because they are no longer rendered, by kind.', labelNames: ['kind'], registers }),
    events: new Counter({ name: `${prefix}events_total`, help: 'Kubernetes Events recorded, by type and reason.', labelNames: ['type', 'reason'], registers }),
    blocksReleased: new Counter({ name: `${prefix}ipam_blocks_released_total`, help: 'IPAMBlocks released by housekeeping, by reason.', labelNames: ['reason'], registers }),
    orphanBlocks: new Gauge({ name: `${prefix}ipam_orphan_blocks`, help: 'IPAMBlocks whose node is gone, found by the last sweep.', registers }),
    poolAllocated: new Gauge({
      name: `${prefix}ipam_pool_allocated_addresses`, help: 'Addresses allocated in each IP pool (sum of its IPAMBlocks\' status.allocated).',
      labelNames: ['pool'], registers, collect() { fill.call(this, (u) => u.allocated); },
    }),
    poolCapacity: new Gauge({
      name: `${prefix}ipam_pool_capacity_addresses`, help: 'Addresses each IP pool can hand out: every block of its CIDR times the addresses per block.',
      labelNames: ['pool'], registers, collect() { fill.call(this, (u) => u.capacity); },
    }),
    setPoolUsageSource(source) { poolSource = source; },
  };
}
