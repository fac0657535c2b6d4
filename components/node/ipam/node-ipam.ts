// One node's IPAM, run once per control-loop pass: hold a block of every pool that selects the
// node (claiming the first, and another when the node's blocks of a pool pass the threshold),
// count what host-local allocated, keep IPAMBlock.status current, give back empty blocks of
// pools that no longer apply, and release leaked addresses after the grace period.
import { readdir } from 'node:fs/promises';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { normalizeCidr } from '../../../api/block-name.ts';
import type { EffectivePool } from '../../../api/effective-config.ts';
import type { AgentApi, IPAMBlockObject, NodeObject, PodObject } from '../agent/kube.ts';
import type { AgentMetrics } from '../health/metrics.ts';
import { runChecked, type CommandRunner } from '../kernel/exec.ts';
import { blockCapacity } from '../../../api/block-capacity.ts';
import { blockInPool, claimBlock, claimReason, orderBlocks, ownedBlocks, type ClaimReason } from './claim.ts';
import { readStore, releaseReservations } from './hostlocal.ts';
import { hostRouteDestinations, judgeLeaks, podIPsOf, type Candidate } from './leaks.ts';

export interface HeldBlock { name: string; uid: string; cidr: string; pool: string; allocated: number; capacity: number; inConflist: boolean }

export interface IpamSnapshot {
  /** Blocks of pools that select this node, in conflist order (pool order, then oldest first). */
  blocks: HeldBlock[];
  /** Every block the node holds, oldest first (what the kernel and peers route). */
  allBlocks: HeldBlock[];
  allocated: number;
  capacity: number;
  leaked: number;
  released: number;
  exhaustedPools: string[];
  /** Blocks this pass claimed (for the BlockClaimed Node event). */
  claimed: { pool: string; cidr: string; reason: string }[];
  /** A block was claimed or given back: run another pass once the cache has it. */
  changed: boolean;
}

export interface NodeIpamOptions {
  api: AgentApi;
  nodeName: string;
  storeDir: string;
  runner: CommandRunner;
  graceMs: number;
  scanIntervalMs: number;
  threshold: number;
  log: Logger;
  metrics: AgentMetrics;
}

export interface IpamInputs {
  node: NodeObject;
  selectedPools: EffectivePool[];
  allPools: EffectivePool[];
  blocks: IPAMBlockObject[];
  pods: PodObject[];
  now: number;
}

/** Counts IPs per CIDR with parsed addresses, so 50 000 reservations x a few blocks stays cheap. */
function counter(ips: string[]): (cidr: string) => number {
  const parsed = ips.map((ip) => ipaddr.parse(ip));
  const cache = new Map<string, number>();
  return (cidr) => {
    let n = cache.get(cidr);
    if (n === undefined) {
      const [net, len] = ipaddr.parseCIDR(cidr);
      n = parsed.filter((a) => a.kind() === net.kind() && a.match(net, len)).length;
      cache.set(cidr, n);
    }
    return n;
  };
}

export class NodeIpam {
  private candidates = new Map<string, Candidate>();
  private lastScan = 0;
  released = 0;
  leaked = 0;
  /** Blocks created by this agent that the informer has not delivered yet. */
  private readonly pending = new Map<string, IPAMBlockObject>();

  constructor(private readonly o: NodeIpamOptions) {}

  private async reservedIps(): Promise<string[]> {
    try {
      return (await readdir(this.o.storeDir)).filter((n) => ipaddr.isValid(n));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async reconcile(inp: IpamInputs): Promise<IpamSnapshot> {
    const { log, metrics } = this.o;
    for (const b of inp.blocks) this.pending.delete(b.metadata!.name!);
    const known = [...inp.blocks, ...this.pending.values()];
    const owned = ownedBlocks(known, this.o.nodeName, inp.node.metadata?.uid);
    let changed = false;
    let ips = await this.reservedIps();
    let allocatedIn = counter(ips);

    const exhaustedPools: string[] = [];
    const claimed: IpamSnapshot['claimed'] = [];
    for (const pool of inp.selectedPools) {
      const poolBlocks = owned.filter((b) => blockInPool(b, pool)).map((b) => normalizeCidr(b.spec.cidr));
      const reason: ClaimReason | null = claimReason(poolBlocks, allocatedIn, this.o.threshold);
      if (!reason) continue;
      const taken = new Set(known.map((b) => { try { return normalizeCidr(b.spec.cidr); } catch { return b.spec.cidr; } }));
      const t0 = performance.now();
      const out = await claimBlock(this.o.api, pool, inp.node, taken);
      if (!out.block) {
        exhaustedPools.push(pool.name);
        log.warn({ pool: pool.name, cidr: pool.cidr, reason, attempts: out.attempts }, 'pool has no free block left for this node');
        continue;
      }
      this.pending.set(out.block.metadata!.name!, out.block);
      owned.push(out.block);
      changed = true;
      metrics.blockClaims.inc({ pool: pool.name, reason });
      claimed.push({ pool: pool.name, cidr: out.block.spec.cidr, reason });
      log.info({ pool: pool.name, block: out.block.spec.cidr, reason, attempts: out.attempts, lostRaces: out.lostRaces.length, ms: Math.round(performance.now() - t0) }, 'claimed IPAM block');
    }

    // Blocks of pools that no longer select this node (or no longer exist) are given back once
    // host-local holds no address in them; until then they stay routed.
    for (const b of owned) {
      const cidr = normalizeCidr(b.spec.cidr);
      if (inp.selectedPools.some((p) => blockInPool(b, p)) || allocatedIn(cidr) > 0 || !b.metadata?.uid) continue;
      try {
        await this.o.api.deleteIPAMBlock(b.metadata.name!, b.metadata.uid);
        log.info({ block: cidr, pool: b.spec.pool }, 'released empty block of a pool that no longer selects this node');
        changed = true;
      } catch (e) {
        log.warn({ block: cidr, err: (e as Error).message }, 'could not release block');
      }
    }

    if (inp.now - this.lastScan >= this.o.scanIntervalMs) {
      this.lastScan = inp.now;
      const released = await this.scanLeaks(inp);
      if (released) { ips = await this.reservedIps(); allocatedIn = counter(ips); }
    }

    const held = (b: IPAMBlockObject, inConflist: boolean): HeldBlock => {
      const cidr = normalizeCidr(b.spec.cidr);
      return { name: b.metadata!.name!, uid: b.metadata?.uid ?? '', cidr, pool: b.spec.pool, allocated: allocatedIn(cidr), capacity: blockCapacity(cidr), inConflist };
    };
    const conflistBlocks: HeldBlock[] = [];
    for (const pool of inp.selectedPools) {
      for (const b of orderBlocks(owned.filter((x) => blockInPool(x, pool)))) conflistBlocks.push(held(b, true));
    }
    const inConf = new Set(conflistBlocks.map((b) => b.name));
    const allBlocks = owned.map((b) => held(b, inConf.has(b.metadata!.name!)));

    await this.updateBlockStatuses(owned, allocatedIn);

    metrics.blockAllocated.reset();
    metrics.blockCapacity.reset();
    metrics.blocks.reset();
    for (const b of allBlocks) {
      metrics.blockAllocated.set({ block: b.cidr, pool: b.pool }, b.allocated);
      metrics.blockCapacity.set({ block: b.cidr, pool: b.pool }, b.capacity);
      metrics.blocks.inc({ pool: b.pool });
    }
    return {
      blocks: conflistBlocks,
      allBlocks,
      allocated: allBlocks.reduce((n, b) => n + b.allocated, 0),
      capacity: allBlocks.reduce((n, b) => n + b.capacity, 0),
      leaked: this.leaked,
      released: this.released,
      exhaustedPools,
      claimed,
      changed,
    };
  }

  private async updateBlockStatuses(owned: IPAMBlockObject[], allocatedIn: (c: string) => number): Promise<void> {
    for (const b of owned) {
      const cidr = normalizeCidr(b.spec.cidr);
      const want = { allocated: allocatedIn(cidr), capacity: blockCapacity(cidr) };
      if (b.status?.allocated === want.allocated && b.status?.capacity === want.capacity) continue;
      try {
        const updated = await this.o.api.patchIPAMBlockStatus(b.metadata!.name!, { status: want });
        // Our own write: remember it so the next pass compares against it, not a stale cache.
        b.status = updated.status ?? want;
      } catch (e) {
        this.o.log.warn({ block: cidr, err: (e as Error).message }, 'could not update IPAMBlock status');
      }
    }
  }

  private async hostRoutes(): Promise<Set<string>> {
    const [v4, v6] = await Promise.all([
      runChecked(this.o.runner, ['ip', '-json', 'route', 'show', 'table', 'main']),
      this.o.runner.run(['ip', '-6', '-json', 'route', 'show', 'table', 'main']),
    ]);
    const out = hostRouteDestinations(v4);
    if (v6.code === 0) for (const d of hostRouteDestinations(v6.stdout)) out.add(d);
    return out;
  }

  /** One leak scan; returns how many addresses it released. */
  private async scanLeaks(inp: IpamInputs): Promise<number> {
    const t0 = performance.now();
    const entries = await readStore(this.o.storeDir);
    const j = judgeLeaks({
      entries,
      podIPs: podIPsOf(inp.pods),
      hostRoutes: await this.hostRoutes(),
      previous: this.candidates,
      now: inp.now,
      graceMs: this.o.graceMs,
    });
    this.candidates = j.candidates;
    let released: string[] = [];
    if (j.release.length) {
      released = await releaseReservations(this.o.storeDir, j.release);
      this.released += released.length;
      this.o.metrics.leakedReleased.inc(released.length);
      this.o.log.info({ released: released.length, judged: j.release.length, sample: released.slice(0, 5) }, 'released leaked host-local addresses after the grace period');
    }
    this.leaked = j.candidates.size;
    this.o.metrics.leaked.set(this.leaked);
    const ms = Math.round(performance.now() - t0);
    if (entries.length > 1000 || j.candidates.size) {
      this.o.log.info({ reservations: entries.length, held: j.held, waiting: j.candidates.size, released: released.length, ms }, 'leak scan');
    }
    return released.length;
  }
}
