// NodeDataplane: what the agent's control loop calls once per change (or on a resync timer).
// One sync = (WireGuard: make sure the device exists and `wg set` its difference) read kernel,
// diff against the backend's desired state (with WireGuard's routes over it), apply the
// difference, settle sysctls, reconcile the routing daemon (bgp), and report what the kernel now holds.
import { execRunner, runChecked, type CommandRunner } from '../kernel/exec.ts';
import { KernelProgrammer, type SyncResult } from '../kernel/programmer.ts';
import { dataplaneSysctls, ensureSysctls, type SysctlResult } from '../kernel/sysctl.ts';
import { vxlanDevice, wireguardDevice } from './common.ts';
import { planWireGuard, handshakeNudge, type ObservedWireGuard } from '../kernel/wireguard.ts';
import {
  encryptedPeers, ensureWireGuardDevice, keepDevice, observedDevice, readWireGuard, wireguardSpec, withWireGuard, type WireGuardReport,
} from './wireguard.ts';
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
  /** The userspace WireGuard binary, used where the kernel has no WireGuard module. */
  wireguardGo?: string;
  /** After encryption is turned off, the device is deleted once no encrypted byte arrived for this long (default 30 s). */
  drainQuietMs?: number;
}

/** Default of NodeDataplaneOptions.drainQuietMs: above the 25 s keepalive, so a peer still
 *  sending through the device keeps it. */
export const WIREGUARD_DRAIN_QUIET_MS = 30_000;

export interface NodeSyncReport {
  backend: BackendName;
  kernel: SyncResult;
  sysctls: SysctlResult[];
  daemon?: DaemonReport;
  /** MAC of the VXLAN device as read from the kernel (what peers must be told). */
  vxlanMac?: string;
  /** Peers left without a route, with why (the agent reports them as not Ready). */
  unroutable: { peer: string; reason: string }[];
  /** The WireGuard device, when encryption is on or the device still drains. */
  wireguard?: WireGuardReport;
}

export class NodeDataplane {
  readonly backend: DataplaneBackend;
  readonly kernel: KernelProgrammer;
  readonly runner: CommandRunner;
  config: DataplaneConfig;
  /** While a device drains: the encrypted bytes received so far and since when that count stood still. */
  private drain: { rx: number; since: number } | undefined;

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
    const enc = this.config.encryption;
    const dev = wireguardDevice(this.config);
    let wireguard: WireGuardReport | undefined;
    let wgOps = 0;
    let nudge: ReturnType<typeof wireguardSpec>['peers'] = [];
    let kernel: SyncResult;
    if (enc) {
      // The device and its peers first: a route through it is added only for a peer whose
      // handshake completed, which needs the peer configured here.
      await ensureWireGuardDevice(this.runner, dev, this.opts.wireguardGo);
      const before = await readWireGuard(this.runner, dev);
      const spec = wireguardSpec(peers, this.config, enc.publicKey);
      const plan = planWireGuard(spec, before);
      if (plan.before.length) { await runChecked(this.runner, ['wg', 'set', dev, ...plan.before]); wgOps++; }
      this.drain = undefined;
      kernel = await this.kernel.sync((observed) => {
        const sel = encryptedPeers(spec, peers, observed.routes, before, Math.floor(Date.now() / 1000));
        const link = observedDevice(observed, dev);
        wireguard = {
          implementation: link?.wireguard?.implementation ?? 'Kernel',
          publicKey: enc.publicKey,
          endpoint: `${local.underlayAddress}:${enc.port}`,
          encrypted: sel.encrypted, plain: sel.plain, pending: sel.pending, draining: false,
        };
        const configured = new Set(before.peers.map((p) => p.publicKey));
        const pending = new Set(sel.pending);
        const pendingKeys = new Set(peers.flatMap((x) => (pending.has(x.name) && x.wireguard ? [x.wireguard.publicKey] : [])));
        nudge = spec.peers.filter((p) => configured.has(p.publicKey) && pendingKeys.has(p.publicKey));
        return withWireGuard(desired, local, peers, this.config, sel.encrypted);
      });
      if (plan.after.length) { await runChecked(this.runner, ['wg', 'set', dev, ...plan.after]); wgOps++; }
      // Not a change of state: a peer that gave up on us (90 s without an answer) tries again.
      if (nudge.length) await this.runner.run(['wg', 'set', dev, ...handshakeNudge(nudge)]);
    } else {
      kernel = await this.kernel.sync(async (observed) => {
        const link = observedDevice(observed, dev);
        if (!link) { this.drain = undefined; return desired; }
        const wg = await readWireGuard(this.runner, dev).catch((): ObservedWireGuard => ({ publicKey: null, listenPort: 0, peers: [] }));
        const rx = wg.peers.reduce((a, p) => a + p.rxBytes, 0);
        const now = Date.now();
        if (!this.drain || this.drain.rx !== rx) this.drain = { rx, since: now };
        if (now - this.drain.since >= (this.opts.drainQuietMs ?? WIREGUARD_DRAIN_QUIET_MS)) { this.drain = undefined; return desired; }
        wireguard = { implementation: link.wireguard?.implementation ?? 'Kernel', encrypted: [], plain: peers.map((p) => p.name), pending: [], draining: true };
        return keepDevice(desired, link);
      });
    }
    if (wgOps) kernel = { ...kernel, ops: kernel.ops + wgOps };
    const tunnels = [...this.backend.tunnelDevices(this.config), ...(wireguard ? [dev] : [])];
    const sysctls = await ensureSysctls(this.runner, dataplaneSysctls(peers.length + 1, tunnels), this.opts.procSysRoot);
    const report: NodeSyncReport = { backend: this.backend.name, kernel, sysctls, unroutable: desired.unroutable ?? [], ...(wireguard ? { wireguard } : {}) };
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
