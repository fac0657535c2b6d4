// Claiming IPAM blocks. A block is an IPAMBlock object named after its CIDR, so the API server's
// name uniqueness is the lock: of two nodes creating the same block exactly one succeeds, the
// other gets AlreadyExists and moves to its next candidate.
import { blockName, normalizeCidr } from '../../../api/block-name.ts';
import { annotations, type EffectivePool } from '../../../api/effective-config.ts';
import { isAlreadyExists } from '../../../kube/errors.ts';
import { API_VERSION, nodeOwnerReference, type AgentApi, type IPAMBlockObject, type NodeObject } from '../agent/kube.ts';
import { blockCapacity } from '../../../api/block-capacity.ts';
import { blockIndexOf, candidateBlocks, poolGeometry } from './blocks.ts';

/** Claim time with millisecond precision, written by the claiming agent: creationTimestamp has
 *  whole seconds, and two blocks claimed within one second must still keep their order.
 *  (To move to api/ annotations: noted for the lead.) */
export const CLAIMED_AT_ANNOTATION = annotations.claimedAt;

function createdAt(b: IPAMBlockObject): number {
  const claimed = Date.parse(b.metadata?.annotations?.[CLAIMED_AT_ANNOTATION] ?? '');
  if (!Number.isNaN(claimed)) return claimed;
  const t = b.metadata?.creationTimestamp as unknown;
  return t ? new Date(t as string).getTime() : Number.MAX_SAFE_INTEGER;
}

/** Oldest claim first (then by name): every node orders a node's blocks the same way, and a
 *  node's first block — which the tunnel address is taken from — stays first when it claims
 *  more. */
export function orderBlocks<T extends IPAMBlockObject>(blocks: T[]): T[] {
  return [...blocks].sort((a, b) => createdAt(a) - createdAt(b) || (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
}

/** Blocks this node holds: spec.node is the node and, when the block names a Node owner, it is
 *  this incarnation of the Node (a block of a deleted same-named node waits for the GC). */
export function ownedBlocks(all: IPAMBlockObject[], nodeName: string, nodeUid: string | undefined): IPAMBlockObject[] {
  return orderBlocks(all.filter((b) => {
    if (b.spec?.node !== nodeName || b.metadata?.deletionTimestamp) return false;
    const owner = b.metadata?.ownerReferences?.find((r) => r.kind === 'Node');
    return !owner || !nodeUid || owner.uid === nodeUid;
  }));
}

/** Whether block belongs to pool as configured now (name, family, inside the CIDR, block size). */
export function blockInPool(b: IPAMBlockObject, pool: EffectivePool): boolean {
  if (b.spec.pool !== pool.name) return false;
  try {
    return blockIndexOf(poolGeometry(pool.cidr, pool.blockSize), normalizeCidr(b.spec.cidr)) !== null;
  } catch { return false; }
}

export type ClaimReason = 'first' | 'threshold';

/** Whether the node needs another block of a pool: none yet, or its blocks of the pool are
 *  used above threshold (0.9 = claim when more than 90 % of their addresses are allocated). */
export function claimReason(poolBlocks: string[], allocatedIn: (cidr: string) => number, threshold: number): ClaimReason | null {
  if (!poolBlocks.length) return 'first';
  const capacity = poolBlocks.reduce((n, c) => n + blockCapacity(c), 0);
  const used = poolBlocks.reduce((n, c) => n + allocatedIn(c), 0);
  return capacity > 0 && used / capacity > threshold ? 'threshold' : null;
}

export interface ClaimOutcome { block?: IPAMBlockObject; attempts: number; lostRaces: string[] }

/**
 * Creates the first free candidate block of pool for node. `taken` is every CIDR the informer
 * cache knows to exist; races it does not know about yet come back as AlreadyExists and are
 * skipped. Returns no block when the pool is full.
 */
export async function claimBlock(api: AgentApi, pool: EffectivePool, node: NodeObject, taken: ReadonlySet<string>): Promise<ClaimOutcome> {
  const g = poolGeometry(pool.cidr, pool.blockSize);
  const nodeName = node.metadata!.name!;
  const out: ClaimOutcome = { attempts: 0, lostRaces: [] };
  for (const cidr of candidateBlocks(nodeName, g, taken)) {
    out.attempts++;
    const obj: IPAMBlockObject = {
      apiVersion: API_VERSION,
      kind: 'IPAMBlock',
      metadata: { name: blockName(cidr), annotations: { [CLAIMED_AT_ANNOTATION]: new Date().toISOString() }, ownerReferences: [nodeOwnerReference(node)] },
      spec: { cidr, pool: pool.name, node: nodeName },
    };
    try {
      out.block = await api.createIPAMBlock(obj);
      return out;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      out.lostRaces.push(cidr);
    }
  }
  return out;
}
