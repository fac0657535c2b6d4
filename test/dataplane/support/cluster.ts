// N nodes as network namespaces on bridge underlays (one subnet, or two joined by a router
// namespace), an "external" namespace outside the cluster, pods made by real CNI ADD, and one
// NodeDataplane agent per node. All addresses: underlay 198.18.0.0/15, pods 10.244.0.0/16.
import { mkdirSync } from 'node:fs';
import { NodeDataplane, type BackendName, type DataplaneConfig, type LocalNode, type NodeSyncReport, type PeerNode } from '../../../components/node/backends/index.ts';
import { STATE_DIR, beginRun, endRun } from './cleanup.ts';
import { effectiveConfig } from './agents.ts';
import { renderBirdTemplate } from '../../../render/bird.ts';
import { cniAdd, cniDel, ptpConflist, type CniConflist, type CniResult } from '../../../cli/sandbox/cni-runtime.ts';
import { must, nsMust, sleep } from '../../../cli/sandbox/exec.ts';

export const POOL = '10.244.0.0/16';
export const EXTERNAL_ADDRESS = '198.18.0.250';

export interface ClusterOptions {
  nodes: number;
  /** two-subnets: the last ceil(n/3) nodes sit in 198.18.1.0/24, behind a router namespace. */
  topology: 'one-subnet' | 'two-subnets';
  underlayMtu?: number;
}

export interface TestNode extends LocalNode { netns: string; index: number; agent?: NodeDataplane; lastReport?: NodeSyncReport; dataDir: string }
export interface TestPod { name: string; netns: string; node: TestNode; ip: string; result: CniResult; conflist: CniConflist }

export class TestCluster {
  readonly nodes: TestNode[] = [];
  readonly pods: TestPod[] = [];
  readonly ul: string;
  readonly ext: string;
  mode: BackendName = 'host-gw';
  mtu = 1500;
  private torn = false;

  private constructor(readonly id: string, readonly opts: ClusterOptions) {
    this.ul = `wd${id}-ul`;
    this.ext = `wd${id}-ext`;
  }

  get linkPrefix(): string { return `weft${this.id}`; }
  get nftTable(): string { return `weft_${this.id}`; }
  get underlayMtu(): number { return this.opts.underlayMtu ?? 1500; }

  static async create(opts: ClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(beginRun(), opts);
    try { await c.build(); } catch (e) { c.destroy(); throw e; }
    return c;
  }

  private async addNs(name: string): Promise<void> {
    await must(['ip', 'netns', 'add', name]);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** veth from the underlay namespace's bridge into ns as `ifname`, with an address. */
  private async plug(ns: string, port: string, bridge: string, ifname: string, cidr: string): Promise<void> {
    const mtu = String(this.underlayMtu);
    await must(['ip', '-n', this.ul, 'link', 'add', port, 'mtu', mtu, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns, 'mtu', mtu]);
    await must(['ip', '-n', this.ul, 'link', 'set', port, 'master', bridge, 'up']);
    await must(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', ifname]);
    await must(['ip', '-n', ns, 'link', 'set', ifname, 'up']);
  }

  private async build(): Promise<void> {
    const id = this.id;
    const two = this.opts.topology === 'two-subnets';
    await this.addNs(this.ul);
    for (const b of two ? ['b0', 'b1'] : ['b0']) {
      await must(['ip', '-n', this.ul, 'link', 'add', `wd${id}${b}`, 'mtu', String(this.underlayMtu), 'type', 'bridge']);
      await must(['ip', '-n', this.ul, 'link', 'set', `wd${id}${b}`, 'up']);
    }
    if (two) {
      const rt = `wd${id}-rt`;
      await this.addNs(rt);
      await this.plug(rt, `wd${id}r0`, `wd${id}b0`, 'eth0', '198.18.0.1/24');
      await this.plug(rt, `wd${id}r1`, `wd${id}b1`, 'eth1', '198.18.1.1/24');
      await nsMust(rt, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    }
    await this.addNs(this.ext);
    await this.plug(this.ext, `wd${id}x`, `wd${id}b0`, 'eth0', `${EXTERNAL_ADDRESS}/24`);
    if (two) await must(['ip', '-n', this.ext, 'route', 'add', '198.18.1.0/24', 'via', '198.18.0.1']);

    const behindRouter = two ? Math.ceil(this.opts.nodes / 3) : 0;
    for (let i = 1; i <= this.opts.nodes; i++) {
      const remote = i > this.opts.nodes - behindRouter;
      const subnet = remote ? 1 : 0;
      const ns = `wd${id}-n${i}`;
      const address = `198.18.${subnet}.${10 + i}`;
      await this.addNs(ns);
      await this.plug(ns, `wd${id}n${i}`, `wd${id}b${subnet}`, 'eth0', `${address}/24`);
      if (two) await must(['ip', '-n', ns, 'route', 'add', 'default', 'via', `198.18.${subnet}.1`]);
      const dataDir = `${STATE_DIR}/${id}/n${i}`;
      mkdirSync(dataDir, { recursive: true });
      this.nodes.push({
        name: `n${i}`, index: i, netns: ns, underlayAddress: address, underlaySubnet: `198.18.${subnet}.0/24`,
        underlayInterface: 'eth0', blocks: [`10.244.${i}.0/26`], dataDir,
      });
    }
  }

  config(node: TestNode): DataplaneConfig {
    return {
      mtu: this.mtu,
      pools: [{ cidr: POOL, natOutgoing: true }],
      linkPrefix: this.linkPrefix,
      // render's BIRD template for this cluster's one BGP pool, completed by the backend per node:
      // the configuration the product writes (render/bird.ts).
      bgp: {
        asNumber: 64512,
        template: renderBirdTemplate(effectiveConfig('bgp', this.mtu))!,
        fullMesh: true,
        peers: [],
        configPath: `${node.dataDir}/bird/bird.conf`,
        socketPath: `${node.dataDir}/bird/bird.ctl`,
        pidFile: `${node.dataDir}/bird/bird.pid`,
      },
    };
  }

  /** Creates (or replaces: a restarted agent) every node's agent for mode with pod MTU mtu. */
  startAgents(mode: BackendName, mtu: number): void {
    this.mode = mode;
    this.mtu = mtu;
    for (const n of this.nodes) n.agent = this.newAgent(n);
  }

  newAgent(n: TestNode): NodeDataplane {
    return new NodeDataplane({ backend: this.mode, config: this.config(n), netns: n.netns, nftTable: this.nftTable });
  }

  peersOf(node: TestNode, exclude: string[] = []): PeerNode[] {
    return this.nodes.filter((p) => p !== node && !exclude.includes(p.name)).map((p) => ({
      name: p.name, underlayAddress: p.underlayAddress, blocks: p.blocks,
      ...(p.lastReport?.vxlanMac ? { vxlanMac: p.lastReport.vxlanMac } : {}),
    }));
  }

  async syncNode(node: TestNode, opts: { exclude?: string[]; agent?: NodeDataplane } = {}): Promise<NodeSyncReport> {
    const agent = opts.agent ?? node.agent!;
    const report = await agent.sync(node, this.peersOf(node, opts.exclude));
    node.lastReport = report;
    return report;
  }

  /** One control-loop pass on every node; returns the ops each node applied. */
  async syncAll(): Promise<number[]> {
    const reports = await Promise.all(this.nodes.map((n) => this.syncNode(n)));
    return reports.map((r) => r.kernel.ops);
  }

  async addPod(node: TestNode, opts: { bandwidth?: boolean } = {}): Promise<TestPod> {
    const name = `wd${this.id}-${node.name}-p${this.pods.filter((p) => p.node === node).length + 1}`;
    await must(['ip', 'netns', 'add', name]);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    const conflist = ptpConflist({ mtu: this.mtu, blocks: node.blocks, dataDir: `${node.dataDir}/ipam`, ...opts });
    const result = await cniAdd(conflist, { containerId: name, netnsPath: `/var/run/netns/${name}`, ifName: 'eth0', hostNetns: node.netns });
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD for ${name} returned no IP: ${JSON.stringify(result)}`);
    const pod = { name, netns: name, node, ip, result, conflist };
    this.pods.push(pod);
    return pod;
  }

  async deletePod(pod: TestPod): Promise<void> {
    await cniDel(pod.conflist, { containerId: pod.name, netnsPath: `/var/run/netns/${pod.name}`, ifName: 'eth0', hostNetns: pod.node.netns }, pod.result);
    await must(['ip', 'netns', 'del', pod.netns]);
    this.pods.splice(this.pods.indexOf(pod), 1);
  }

  /** Waits until every node's BIRD has all sessions Established and routes to every peer block. */
  async waitForBgp(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reports = await Promise.all(this.nodes.map((n) => this.syncNode(n)));
      const established = reports.every((r) => r.daemon && r.daemon.sessions.length === this.nodes.length - 1
        && r.daemon.sessions.every((s) => s.state === 'Established'));
      if (established) {
        const routes = await Promise.all(this.nodes.map((n) => must(['ip', '-n', n.netns, 'route', 'show', 'proto', 'bird'])));
        if (routes.every((r, i) => this.nodes.filter((_, j) => j !== i).every((p) => r.includes(p.blocks[0]!)))) return;
      }
      if (Date.now() > deadline) throw new Error(`BGP did not converge in ${timeoutMs} ms: ${JSON.stringify(reports.map((r) => r.daemon?.sessions))}`);
      await sleep(300);
    }
  }

  destroy(): void {
    if (this.torn) return;
    this.torn = true;
    // BIRD and any test process run inside the run's namespaces: destroyRun kills them by pid.
    endRun(this.id);
  }
}
