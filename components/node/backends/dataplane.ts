// NodeDataplane: what the agent's control loop calls once per change (or on a resync timer).
// One sync = read kernel, diff against the backend's desired state, apply the difference,
// settle sysctls, reconcile the routing daemon (bgp), and report what the kernel now holds.
import { execRunner, runChecked, type CommandRunner } from '../kernel/exec.ts';
import { KernelProgrammer, type SyncResult } from '../kernel/programmer.ts';
import { dataplaneSysctls, ensureSysctls, type SysctlResult } from '../kernel/sysctl.ts';
import { vxlanDevice } from './common.ts';
import type { BackendName, DaemonReport, DataplaneBackend, DataplaneConfig, LocalNode, PeerNode } from './types.ts';
import { backendFor } from './registry.ts';
import { advertiseOnlyConfigFor, birdSessions, reconcileBird } from './bgp.ts';

export interface NodeDataplaneOptions {
  backend: BackendName | DataplaneBackend;
  config: DataplaneConfig;
  netns?: string;
  /** nftables table for natOutgoing ("weft" by default). */
  nftTable?: string;
  runner?: CommandRunner;
  /** Where /proc/sys is writable; the DaemonSet mounts the host's under /host/proc/sys/net. */
  procSysRoot?: string;
}

export interface NodeSyncReport {
  backend: BackendName;
  kernel: SyncResult;
  sysctls: SysctlResult[];
  daemon?: DaemonReport;
  /** MAC of the VXLAN device as read from the kernel (what peers must be told). */
  vxlanMac?: string;
  /** Peers left without a route, with why (the agent reports them as not Ready). */
  unroutable: { peer: string; reason: string }[];
}

export class NodeDataplane {
  readonly backend: DataplaneBackend;
  readonly kernel: KernelProgrammer;
  readonly runner: CommandRunner;
  config: DataplaneConfig;

  constructor(readonly opts: NodeDataplaneOptions) {
    this.backend = typeof opts.backend === 'string' ? backendFor(opts.backend) : opts.backend;
    this.config = opts.config;
    this.runner = opts.runner ?? execRunner(opts.netns);
    this.kernel = new KernelProgrammer({
      runner: this.runner, linkPrefix: opts.config.linkPrefix, nftTable: opts.nftTable,
    });
  }

  /** Kernel operations applied since this object was created. */
  get opsApplied(): number { return this.kernel.opsApplied; }

  async sync(local: LocalNode, peers: PeerNode[]): Promise<NodeSyncReport> {
    const desired = this.backend.desired(local, peers, this.config);
    const kernel = await this.kernel.sync(desired);
    const sysctls = await ensureSysctls(this.runner, dataplaneSysctls(peers.length + 1, this.backend.tunnelDevices(this.config)), this.opts.procSysRoot);
    const report: NodeSyncReport = { backend: this.backend.name, kernel, sysctls, unroutable: desired.unroutable ?? [] };
    const ctx = { runner: this.runner, netns: this.opts.netns };
    if (this.backend.reconcileDaemon) {
      report.daemon = await this.backend.reconcileDaemon(local, peers, this.config, ctx);
    } else if (this.config.bgp) {
      // BGP enabled beside a VXLAN or host-gw dataplane: BIRD advertises this node's blocks (and
      // the Service CIDRs) to the configured routers; the agent keeps routing between nodes.
      const bgp = this.config.bgp;
      const action = await reconcileBird(advertiseOnlyConfigFor(local, bgp), bgp, ctx);
      report.daemon = { action, sessions: await birdSessions(bgp) };
    }
    if (desired.links.some((l) => l.kind === 'vxlan')) report.vxlanMac = await this.readMac(vxlanDevice(this.config));
    return report;
  }

  async readMac(dev: string): Promise<string> {
    const [link] = JSON.parse(await runChecked(this.runner, ['ip', '-json', 'link', 'show', 'dev', dev])) as { address: string }[];
    return link!.address;
  }
}
