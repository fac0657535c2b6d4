// Uninstall (issue 12, docs/adr/0009-uninstall-handshake.md). The Installation carries the
// finalizer operator.weft.dev/uninstall. When it is deleted the operator marks every
// NodeNetwork (annotation network.weft.dev/uninstall); each agent cleans its node and reports
// condition Uninstalled=True. Once every node reported — or its Node is gone, or no agent can
// run (no DaemonSet, or it schedules no pod), or the timeout counted from deletionTimestamp
// passed — the operator deletes what it rendered, every NodeNetwork and IPAMBlock (their CRDs
// go with the release manifest), and removes the finalizer. The finalizer can never hang: the
// timeout is measured from the API server's deletionTimestamp, so an operator restart does not
// reset it, and nodes that did not report are named in a Warning Event.
import type { Logger } from 'pino';
import type { Installation, NodeNetwork } from '../../api/index.ts';
import { DEFAULT_UNINSTALL_TIMEOUT_MS, UNINSTALL_ANNOTATION, UNINSTALL_FINALIZER, UNINSTALLED_CONDITION, uninstallRequested } from '../../api/lifecycle.ts';
import { isNotFound, type KubeClient, type KubeObject } from '../../kube/index.ts';

type Inst = Installation & KubeObject;
type NN = NodeNetwork & KubeObject;

/** The finalizer is metadata, not configuration: its own field manager keeps `weft-operator`
 *  confined to the status subresource (managedFields show at a glance who owns what). */
export const FINALIZER_FIELD_MANAGER = 'weft-operator-finalizer';

/** How often finalization re-checks while waiting (agent reports are not all watched events). */
const POLL_MS = 1_000;

export interface UninstallDeps {
  client: KubeClient;
  nodeNetworks: { store: { list(): NN[] } };
  nodes: { store: { get(name: string): KubeObject | undefined } };
  blocks: { store: { list(): KubeObject[] } };
  /** The live weft-node DaemonSet, if any. */
  daemonSet: () => (KubeObject & { status?: { desiredNumberScheduled?: number } }) | undefined;
  /** Deletes every object rendered for the Installation; returns how many. */
  pruneRendered: (signal: AbortSignal) => Promise<number>;
  event: (type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
  timeoutMs?: number;
  now?: () => Date;
  logger?: Logger;
}

export interface FinalizeResult {
  /** True once the finalizer is gone. */
  done: boolean;
  requeueAfterMs?: number;
  pending: string[];
}

const installationPath = (name: string) => `/apis/operator.weft.dev/v1/installations/${name}`;
const nodeNetworkPath = (name: string) => `/apis/network.weft.dev/v1/nodenetworks/${encodeURIComponent(name)}`;
const ipamBlockPath = (name: string) => `/apis/network.weft.dev/v1/ipamblocks/${encodeURIComponent(name)}`;

function finalizersOf(o: KubeObject | undefined): string[] {
  return (o?.metadata as { finalizers?: string[] } | undefined)?.finalizers ?? [];
}

export function hasUninstallFinalizer(inst: KubeObject | undefined): boolean {
  return finalizersOf(inst).includes(UNINSTALL_FINALIZER);
}

function reportedUninstalled(nn: NN): boolean {
  return !!nn.status?.conditions?.some((c) => c.type === UNINSTALLED_CONDITION && c.status === 'True');
}

/** What an agent that did not report may have left on its node, from its last NodeNetwork status. */
export function leftoversOf(nn: NN): string {
  const s = nn.status;
  const parts = [
    s?.vtep ? 'tunnel interface weft.vxlan' : 'weft* tunnel interfaces (if any)',
    `${s?.kernel?.routes ?? 'unknown number of'} route(s) with protocol 87 (weft)`,
    'nftables table inet weft',
    `CNI conflist ${s?.cni?.conflist ?? '<cni confDir>/10-weft.conflist'}`,
    ...(s?.bgp ? ['BIRD (pid file /run/weft/bird.pid)'] : []),
  ];
  const why = s?.conditions?.find((c) => c.type === UNINSTALLED_CONDITION);
  return `node ${nn.metadata?.name}: ${parts.join(', ')}${why ? ` (agent said: ${why.reason}: ${why.message})` : ' (agent never reported)'}`;
}

export class UninstallFinalizer {
  private readonly timeoutMs: number;
  private readonly now: () => Date;

  constructor(private readonly d: UninstallDeps) {
    this.timeoutMs = d.timeoutMs ?? DEFAULT_UNINSTALL_TIMEOUT_MS;
    this.now = d.now ?? (() => new Date());
  }

  /** Adds the finalizer when missing; true when it wrote. resourceVersion makes the patch
   *  optimistic: a concurrent change of the list (another finalizer) is a 409, retried by the queue. */
  async ensure(inst: Inst, signal?: AbortSignal): Promise<boolean> {
    if (hasUninstallFinalizer(inst) || inst.metadata?.deletionTimestamp) return false;
    await this.d.client.request(installationPath(inst.metadata!.name!), {
      verb: 'patch',
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      query: { fieldManager: FINALIZER_FIELD_MANAGER },
      body: { metadata: { resourceVersion: inst.metadata?.resourceVersion, finalizers: [...finalizersOf(inst), UNINSTALL_FINALIZER] } },
      signal,
    });
    return true;
  }

  /** Nodes still expected to report: a live Node, a NodeNetwork, no Uninstalled=True. */
  pending(): NN[] {
    return this.d.nodeNetworks.store.list().filter((nn) => {
      if (nn.metadata?.deletionTimestamp || reportedUninstalled(nn)) return false;
      const node = this.d.nodes.store.get(nn.metadata?.name ?? '');
      return !!node && !node.metadata?.deletionTimestamp;
    });
  }

  /** force: finish now without waiting for more reports (the reason goes into the Warning Event). */
  async finalize(inst: Inst, signal: AbortSignal, force?: string): Promise<FinalizeResult> {
    if (!hasUninstallFinalizer(inst)) return { done: true, pending: [] };
    const log = this.d.logger;
    // Level-triggered: a NodeNetwork created after the deletion (an agent that just started) is marked too.
    for (const nn of this.d.nodeNetworks.store.list()) {
      if (uninstallRequested(nn) || nn.metadata?.deletionTimestamp) continue;
      try {
        await this.d.client.request(nodeNetworkPath(nn.metadata!.name!), {
          verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json',
          body: { metadata: { annotations: { [UNINSTALL_ANNOTATION]: inst.metadata?.uid ?? 'true' } } }, signal,
        });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    const pending = this.pending();
    const deleted = inst.metadata?.deletionTimestamp;
    const started = (deleted ? new Date(deleted).getTime() : NaN) || this.now().getTime();
    const elapsed = this.now().getTime() - started;
    const ds = this.d.daemonSet();
    const noAgents = !ds || ds.metadata?.deletionTimestamp !== undefined || (ds.status?.desiredNumberScheduled ?? 1) === 0;
    const timedOut = elapsed >= this.timeoutMs;
    if (pending.length > 0 && !noAgents && !timedOut && !force) {
      log?.info({ pending: pending.map((n) => n.metadata?.name).slice(0, 20), count: pending.length, remainingMs: this.timeoutMs - elapsed }, 'uninstall: waiting for node agents to clean their nodes');
      return { done: false, requeueAfterMs: Math.min(POLL_MS, Math.max(50, this.timeoutMs - elapsed)), pending: pending.map((n) => n.metadata!.name!) };
    }
    const cleaned = this.d.nodeNetworks.store.list().filter(reportedUninstalled).length;
    if (pending.length > 0) {
      const why = force ?? (timedOut ? `the agents did not report within ${Math.round(this.timeoutMs / 1000)}s` : 'no node agent is running to clean them');
      const shown = pending.slice(0, 10).map(leftoversOf).join('; ');
      const more = pending.length > 10 ? `; and ${pending.length - 10} more node(s)` : '';
      await this.d.event('Warning', 'UninstallIncomplete',
        `uninstall finished without ${pending.length} node(s): ${why}. What may remain: ${shown}${more}. Run \`weft-node cleanup\` on those nodes (or \`weft uninstall --dry-run\` to list them)`);
      log?.warn({ pending: pending.map((n) => n.metadata?.name), timedOut }, 'uninstall: releasing the finalizer without every node cleaned');
    }
    const pruned = await this.d.pruneRendered(signal);
    // The agents are done with them, and their CRDs go with the release manifest.
    let nodeNetworks = 0;
    let blocks = 0;
    for (const nn of this.d.nodeNetworks.store.list()) if (await this.deleteIgnoringNotFound(nodeNetworkPath(nn.metadata!.name!), signal)) nodeNetworks++;
    for (const b of this.d.blocks.store.list()) if (await this.deleteIgnoringNotFound(ipamBlockPath(b.metadata!.name!), signal)) blocks++;
    await this.d.event(pending.length ? 'Warning' : 'Normal', 'Uninstalled',
      `removed ${pruned} rendered object(s), ${nodeNetworks} NodeNetwork(s), ${blocks} IPAMBlock(s); ${cleaned} node(s) cleaned themselves${pending.length ? `, ${pending.length} did not` : ''}`);
    await this.d.client.request(installationPath(inst.metadata!.name!), {
      verb: 'patch',
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      query: { fieldManager: FINALIZER_FIELD_MANAGER },
      body: { metadata: { resourceVersion: inst.metadata?.resourceVersion, finalizers: finalizersOf(inst).filter((f) => f !== UNINSTALL_FINALIZER) } },
      signal,
    }).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
    log?.info({ pruned, nodeNetworks, blocks, cleaned, notCleaned: pending.length }, 'uninstall: finalizer released');
    return { done: true, pending: pending.map((n) => n.metadata!.name!) };
  }

  private async deleteIgnoringNotFound(path: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.d.client.request(path, { verb: 'delete', method: 'DELETE', signal });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }
}

