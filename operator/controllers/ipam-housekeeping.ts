// IPAM housekeeping: IPAMBlocks of nodes that no longer exist are released, so their addresses
// go back to the pool (invariant 5). Owner references (block -> Node) let the garbage collector
// do most of it; this controller catches the rest: blocks created before the agent set the
// owner reference, blocks whose owner reference names another node, and a periodic sweep in
// case an event was missed while the operator was not leading.
import type { Logger } from 'pino';
import type { IPAMBlock } from '../../api/index.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { isNotFound, type KubeObject, type Manager, type ReconcileContext, type ReconcileResult } from '../../kube/index.ts';
import { ApiError } from '../../kube/index.ts';
import { ipamBlockResource, nodeResource } from './installation.ts';

export const SWEEP_KEY = '~sweep';
const BY_SPEC_NODE = 'ipam.spec.node';

type Block = IPAMBlock & KubeObject;

export interface IpamHousekeepingOptions {
  manager: Manager;
  events: EventRecorder;
  metrics: OperatorMetrics;
  logger?: Logger;
  /** A block younger than this is left alone: its node may not be in the cache yet. Default 60 s. */
  graceMs?: number;
  /** Interval of the full sweep. Default 5 min. */
  sweepIntervalMs?: number;
  now?: () => number;
}

export interface IpamHousekeeping {
  readonly stats: { released: number; sweeps: number; lastOrphans: number };
  sweep(): void;
}

export type OrphanReason = 'node-gone' | 'node-replaced';

/** Why a block must be released, or undefined when its node holds it legitimately. */
export function orphanReason(block: Block, node: KubeObject | undefined): OrphanReason | undefined {
  if (!node || node.metadata?.deletionTimestamp) return 'node-gone';
  const ref = block.metadata?.ownerReferences?.find((r) => r.kind === 'Node' && r.name === node.metadata?.name);
  // The node was deleted and re-created under the same name: the old node's pods are gone.
  if (ref && node.metadata?.uid && ref.uid !== node.metadata.uid) return 'node-replaced';
  return undefined;
}

export function registerIpamHousekeeping(o: IpamHousekeepingOptions): IpamHousekeeping {
  const mgr = o.manager;
  const log = o.logger?.child({ controller: 'ipam-housekeeping' });
  const now = o.now ?? Date.now;
  const graceMs = o.graceMs ?? 60_000;
  const sweepMs = o.sweepIntervalMs ?? 300_000;
  const stats = { released: 0, sweeps: 0, lastOrphans: 0 };

  const nodes = mgr.informer(nodeResource);
  const blocks = mgr.informer<Block>(ipamBlockResource, { indexers: { [BY_SPEC_NODE]: (b) => (b.spec?.node ? [b.spec.node] : []) } });
  const controller = mgr.controller({ name: 'ipam-housekeeping', workers: 2 });

  controller.watches(blocks, { predicates: [(ev) => ev.type !== 'delete'] });
  // A node deleted (or re-created, with a new uid): look at the blocks that name it.
  controller.watches(nodes, {
    predicates: [(ev) => ev.type === 'delete' || ev.type === 'add'],
    map: (n) => blocks.store.byIndex(BY_SPEC_NODE, n.metadata?.name ?? '').map((b) => b.metadata!.name!),
  });

  async function release(block: Block, reason: OrphanReason, ctx: ReconcileContext): Promise<void> {
    const name = block.metadata!.name!;
    try {
      await mgr.client.request(`/apis/network.weft.dev/v1/ipamblocks/${encodeURIComponent(name)}`, {
        verb: 'delete',
        method: 'DELETE',
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: block.metadata?.uid, resourceVersion: block.metadata?.resourceVersion } },
        signal: ctx.signal,
      });
    } catch (err) {
      // Gone already, or changed since we looked (precondition): the next event decides again.
      if (isNotFound(err)) return;
      if (err instanceof ApiError && err.status === 409) {
        controller.enqueue(name, 1000);
        return;
      }
      throw err;
    }
    stats.released++;
    o.metrics.blocksReleased.inc({ reason });
    const why = reason === 'node-gone' ? `node ${block.spec.node} no longer exists` : `node ${block.spec.node} was deleted and re-created; the block belonged to the old node`;
    log?.info({ block: name, cidr: block.spec.cidr, pool: block.spec.pool, node: block.spec.node, reason }, 'released IPAM block');
    const ok = await o.events.recordAndWait(
      { apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock', name, uid: block.metadata?.uid },
      { type: 'Normal', reason: 'BlockReleased', action: 'Release', message: `released block ${block.spec.cidr} of pool ${block.spec.pool}: ${why}` },
    );
    if (ok) o.metrics.events.inc({ type: 'Normal', reason: 'BlockReleased' });
  }

  async function reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    if (key === SWEEP_KEY) {
      stats.sweeps++;
      let orphans = 0;
      for (const b of blocks.store.list()) {
        if (orphanReason(b, nodes.store.get(b.spec?.node ?? ''))) {
          orphans++;
          controller.enqueue(b.metadata!.name!);
        }
      }
      stats.lastOrphans = orphans;
      o.metrics.orphanBlocks.set(orphans);
      return { requeueAfter: sweepMs };
    }
    const block = blocks.store.get(key);
    if (!block || block.metadata?.deletionTimestamp || !block.spec?.node) return {};
    const reason = orphanReason(block, nodes.store.get(block.spec.node));
    if (!reason) return {};
    const created = Date.parse(String(block.metadata?.creationTimestamp ?? ''));
    const age = Number.isFinite(created) ? now() - created : Infinity;
    if (age < graceMs) return { requeueAfter: graceMs - age + 100 };
    if (reason === 'node-gone') {
      // The cache says the node is gone; ask the API server before giving its addresses away.
      try {
        await mgr.client.request(`/api/v1/nodes/${encodeURIComponent(block.spec.node)}`, { verb: 'get', signal: ctx.signal });
        return { requeueAfter: 5_000 };
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    await release(block, reason, ctx);
    return {};
  }

  controller.reconcile(reconcile);
  controller.enqueue(SWEEP_KEY);
  return { stats, sweep: () => controller.enqueue(SWEEP_KEY) };
}
