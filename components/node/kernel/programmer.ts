// KernelProgrammer: read -> diff -> apply, with at most one `ip -batch`, one `bridge -batch` and
// one `nft -f` per sync. It owns only objects marked as Weft's (see protocol.ts) and never
// flushes: a restarted agent that finds the kernel right applies zero operations.
import { diffKernel } from './diff.ts';
import { CommandError, execRunner, runChecked, type CommandRunner } from './exec.ts';
import { DEFAULT_LINK_PREFIX, DEFAULT_NFT_TABLE, WEFT_ROUTE_PROTOCOL } from './protocol.ts';
import { readKernelState } from './read.ts';
import { planOps, type DesiredKernelState, type KernelPlan, type ObservedKernelState } from './types.ts';

export interface KernelProgrammerOptions {
  /** Network namespace to program (tests); absent = the agent's own namespace. */
  netns?: string;
  linkPrefix?: string;
  nftTable?: string;
  protocol?: number;
  runner?: CommandRunner;
}

export interface SyncResult {
  plan: KernelPlan;
  /** Operations applied by this sync (ip lines + bridge lines + 1 per nft transaction). */
  ops: number;
  durationMs: number;
}

export class KernelProgrammer {
  readonly runner: CommandRunner;
  readonly linkPrefix: string;
  readonly nftTable: string;
  readonly protocol: number;
  /** Operations applied since construction; a restarted agent on a correct kernel keeps it 0. */
  opsApplied = 0;
  syncs = 0;

  constructor(opts: KernelProgrammerOptions = {}) {
    this.runner = opts.runner ?? execRunner(opts.netns);
    this.linkPrefix = opts.linkPrefix ?? DEFAULT_LINK_PREFIX;
    this.nftTable = opts.nftTable ?? DEFAULT_NFT_TABLE;
    this.protocol = opts.protocol ?? WEFT_ROUTE_PROTOCOL;
  }

  read(): Promise<ObservedKernelState> {
    return readKernelState(this.runner, { linkPrefix: this.linkPrefix, nftTable: this.nftTable, protocol: this.protocol });
  }

  plan(desired: DesiredKernelState, observed: ObservedKernelState): KernelPlan {
    for (const l of desired.links) {
      if (!l.name.startsWith(this.linkPrefix)) {
        throw new Error(`desired link ${l.name} does not start with the managed prefix "${this.linkPrefix}"; the agent would not recognise it as its own on the next sync`);
      }
    }
    return diffKernel(desired, observed, { nftTable: this.nftTable, protocol: this.protocol });
  }

  /** One read-diff-apply; `desired` may be computed from what was read (WireGuard keeps peers
   *  whose blocks already route through its device there). */
  async sync(desired: DesiredKernelState | ((observed: ObservedKernelState) => DesiredKernelState | Promise<DesiredKernelState>)): Promise<SyncResult> {
    const start = performance.now();
    const observed = await this.read();
    const plan = this.plan(typeof desired === 'function' ? await desired(observed) : desired, observed);
    await this.apply(plan);
    this.syncs++;
    return { plan, ops: planOps(plan), durationMs: performance.now() - start };
  }

  /** Applies a plan. ip runs first (links must exist before their FDB entries). On a failure the
   *  counter still counts what was attempted and the next sync re-reads and retries. */
  async apply(plan: KernelPlan): Promise<void> {
    try {
      if (plan.ip.length) await runChecked(this.runner, ['ip', '-batch', '-'], plan.ip.join('\n') + '\n');
      if (plan.bridge.length) await runChecked(this.runner, ['bridge', '-batch', '-'], plan.bridge.join('\n') + '\n');
      if (plan.nft !== null) await runChecked(this.runner, ['nft', '-f', '-'], plan.nft);
    } catch (err) {
      if (err instanceof CommandError) {
        throw new Error(`applying the kernel plan failed${this.runner.netns ? ` in netns ${this.runner.netns}` : ''}; the next sync retries from the observed state.\n${err.message}`);
      }
      throw err;
    } finally {
      this.opsApplied += planOps(plan);
    }
  }
}
