// A node-agent rollout with real agents (issue 8, DESIGN invariant 6): the operator in-process
// with the health-gated rollout, three nodes as network namespaces, and real weft-node agents
// (components/node/main.ts, one process per node, `--netns`). The nodes are kwok nodes so the
// DaemonSet controller, the scheduler and kwok handle the agent pods as API objects; a TEST-SIDE
// KUBELET STAND-IN below plays the kubelet's part for them: for the newest agent pod bound to a
// node it runs the real agent with that pod's config hash and a snapshot of ConfigMap
// weft-config (what the kubelet would mount), and stops the agent (SIGTERM) when its pod goes.
// Pods made by real CNI ADD through each agent's conflist ping each other the whole time: a
// config change rolls across the three nodes one by one with zero packets lost, the old agents
// exit cleanly and the new ones find nothing to change in the kernel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configMapKeys, names } from '../../api/index.ts';
import { createOperator, type Operator } from '../../operator/operator.ts';
import { agentPodResource, batchRollout } from '../../operator/rollout/batch-rollout.ts';
import { Informer, KubeClient, createLogger, type KubeObject, type RequestInfo } from '../../kube/index.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';
import { fakeNode } from '../support/kwok.ts';
import { condition, installOperatorBase, installationYaml, waitFor } from '../support/operator-env.ts';
import { TestCluster, type TestNode } from './support/cluster.ts';
import { cniAdd, type CniConflist, type CniResult } from '../../cli/sandbox/cni-runtime.ts';
import { dataplaneUnavailable, must, nsRun, sleep } from '../../cli/sandbox/exec.ts';
import { agentProcesses, freePort } from './support/agents.ts';

const skipReason = dataplaneUnavailable() ?? (await testenvAvailable().then((e) => (e.ok ? null : e.reason)));
const MAIN = join(repoRoot, 'components/node/main.ts');
const NS = names.namespace;

interface PodObj extends KubeObject {
  spec?: { nodeName?: string };
  metadata?: KubeObject['metadata'] & { creationTimestamp?: string };
}
interface Agent { pod: string; uid: string; hash: string; node: TestNode; proc: ChildProcess; port: number; log: string; exited: Promise<number | null> }
interface Pod { name: string; node: TestNode; ip: string; conflist: CniConflist; result: CniResult }

/** TEST-SIDE KUBELET STAND-IN: runs the real agent for the agent pod bound to each harness node. */
class KubeletStandIn {
  readonly agents = new Map<string, Agent>();
  /** Every agent that ran, in start order, with how it ended. */
  readonly history: { agent: Agent; exitCode?: number | null }[] = [];
  private readonly pods: Informer<PodObj>;
  private readonly stopper = new AbortController();
  private running: Promise<void> | undefined;
  private queue = Promise.resolve();
  errors: string[] = [];

  constructor(
    private readonly cp: ControlPlane,
    private readonly client: KubeClient,
    private readonly c: TestCluster,
    private readonly logDir: string,
  ) {
    this.pods = new Informer<PodObj>({ client, resource: agentPodResource });
  }

  start(): void {
    this.pods.subscribe(() => this.kick());
    this.running = this.pods.start(this.stopper.signal);
  }

  private kick(): void {
    // One pass at a time, in order: a pod's agent is stopped before its successor starts.
    this.queue = this.queue.then(() => this.sync()).catch((e: Error) => void this.errors.push(e.message));
  }

  private async sync(): Promise<void> {
    for (const n of this.c.nodes) {
      const live = this.pods.store
        .list()
        .filter((p) => p.spec?.nodeName === n.name && !p.metadata?.deletionTimestamp)
        .sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)))
        .pop();
      const cur = this.agents.get(n.name);
      if (cur && cur.uid === live?.metadata?.uid) continue;
      if (cur) await this.stop(cur);
      if (live) await this.run(n, live);
    }
  }

  private async stop(a: Agent): Promise<void> {
    a.proc.kill('SIGTERM');
    const code = await a.exited;
    this.history.find((h) => h.agent === a)!.exitCode = code;
    this.agents.delete(a.node.name);
  }

  private async run(n: TestNode, pod: PodObj): Promise<void> {
    const cm = await this.client.request<{ data: Record<string, string> }>(`/api/v1/namespaces/${NS}/configmaps/${names.configMap}`, { verb: 'get' });
    // The configuration the agent starts on: the ConfigMap it mounts (docs/adr/0010).
    const hash = cm.data[configMapKeys.hash] ?? '';
    const cfgDir = join(this.logDir, `config-${pod.metadata!.name}`);
    mkdirSync(cfgDir, { recursive: true });
    for (const [k, v] of Object.entries(cm.data)) writeFileSync(join(cfgDir, k), v);
    const port = await freePort();
    const log = join(this.logDir, `${n.name}.${pod.metadata!.name}.log`);
    const fd = openSync(log, 'a');
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, 'agent', '--node-name', n.name, '--netns', n.netns, '--kubeconfig', this.cp.kubeconfigPath, '--config-dir', cfgDir,
        '--host-root', '/', '--cni-conf-dir', join(n.dataDir, 'net.d'), '--ipam-data-dir', join(n.dataDir, 'ipam'),
        '--health-port', String(port), '--health-host', '127.0.0.1', '--link-prefix', this.c.linkPrefix, '--nft-table', this.c.nftTable,
        '--resync-interval', '10s', '--debounce', '20ms', '--status-min-interval', '500ms',
        '--bird-config', join(n.dataDir, 'bird', 'bird.conf'), '--bird-socket', join(n.dataDir, 'bird', 'bird.ctl'), '--bird-pid-file', join(n.dataDir, 'bird', 'bird.pid')],
      { cwd: repoRoot, stdio: ['ignore', fd, fd], env: { ...process.env, POD_UID: pod.metadata!.uid! } },
    );
    closeSync(fd);
    agentProcesses.add(proc);
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => {
      agentProcesses.delete(proc);
      r(code);
    }));
    const a: Agent = { pod: pod.metadata!.name!, uid: pod.metadata!.uid!, hash, node: n, proc, port, log, exited };
    this.agents.set(n.name, a);
    this.history.push({ agent: a });
  }

  async stopAll(): Promise<void> {
    this.stopper.abort();
    await this.running;
    await this.queue;
    for (const a of [...this.agents.values()]) await this.stop(a);
  }
}

describe('node-agent rollout with real agents under continuous ping', { skip: skipReason ?? false }, () => {
  let cp: ControlPlane;
  let c: TestCluster;
  let client: KubeClient;
  let op: Operator;
  let opRun: Promise<unknown>;
  let kubelet: KubeletStandIn;
  let logDir: string;
  const pods: Pod[] = [];
  const deletes: { pod: string; t: number }[] = [];

  const confPath = (n: TestNode) => join(n.dataDir, 'net.d', '10-weft.conflist');
  const inst = () => client.request<KubeObject & { status?: { configHash?: string; observedGeneration?: number; nodes?: { updated?: number; ready?: number } } }>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
  const spec = (extra: Record<string, unknown> = {}) => ({
    network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16', encapsulation: 'None' }], mtu: 1500, ...extra },
    nodeUpdateStrategy: { maxUnavailable: 1 },
  });
  async function applyInstallation(s: unknown): Promise<void> {
    const f = join(logDir, `inst-${Date.now()}.yaml`);
    writeFileSync(f, installationYaml(s));
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '--force-conflicts', '-f', f]);
  }
  async function settled(what: string, timeoutMs = 120_000) {
    return waitFor(what, async () => {
      const i = await inst();
      const ok = i.status?.observedGeneration === i.metadata?.generation && condition(i as never, 'Ready')?.status === 'True' && i.status?.nodes?.ready === 3;
      const agentsOnHash = [...kubelet.agents.values()].filter((a) => a.hash === i.status?.configHash).length === 3;
      return ok && agentsOnHash ? i : undefined;
    }, timeoutMs, 200);
  }
  const get = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
  const metric = async (a: Agent, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await get(a.port, '/metrics'))?.[1] ?? NaN);
  const ping = async (from: Pod, to: string) => (await nsRun(from.name, ['ping', '-c1', '-W2', to])).code === 0;

  before(async () => {
    cp = await startControlPlane({ controllerManager: true, scheduler: true, kwok: true });
    client = new KubeClient(cp.kubeConfig);
    await installOperatorBase(cp);
    c = await TestCluster.create({ nodes: 3, topology: 'one-subnet' });
    logDir = mkdtempSync(join(tmpdir(), `weft-rollout-agents-${c.id}-`));
    console.log(`# run ${c.id}: agent logs in ${logDir}`);
    for (const n of c.nodes) await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(fakeNode(n.name)) });
    op = await createOperator({
      kubeConfig: cp.kubeConfig,
      version: '0.1.0-test',
      identity: 'rollout-agents-test',
      leaderElect: false,
      handleSignals: false,
      applyCrds: false,
      logger: createLogger({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
      rollout: batchRollout({ batchTimeoutMs: 60_000 }),
    });
    op.manager.client.onRequest((r: RequestInfo) => {
      const m = /\/namespaces\/weft-system\/pods\/([^/?]+)$/.exec(r.path);
      if (r.verb === 'delete' && m) deletes.push({ pod: m[1]!, t: Date.now() });
    });
    opRun = op.run();
    kubelet = new KubeletStandIn(cp, client, c, logDir);
    kubelet.start();
    await applyInstallation(spec());
    await settled('Weft installed and every agent Ready', 180_000);
    for (const n of c.nodes) {
      const name = `wd${c.id}-${n.name}-q1`;
      await must(['ip', 'netns', 'add', name]);
      await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
      const conflist = JSON.parse(readFileSync(confPath(n), 'utf8')) as CniConflist;
      const result = await cniAdd(conflist, { containerId: name, netnsPath: `/var/run/netns/${name}`, ifName: 'eth0', hostNetns: n.netns });
      const ip = result.ips?.[0]?.address.split('/')[0];
      assert.ok(ip, `CNI ADD for ${name} returned no address`);
      pods.push({ name, node: n, ip, conflist, result });
    }
    await waitFor('every pod reaches every other pod', async () => {
      const r = await Promise.all(pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => ping(a, b.ip))));
      return r.every(Boolean);
    }, 30_000, 200);
  });

  after(async () => {
    await kubelet?.stopAll().catch(() => undefined);
    op?.stop();
    await opRun;
    client?.close();
    c?.destroy();
    await cp?.stop();
  });

  test('a config change rolls across 3 nodes one by one: zero packets lost, the new agents change nothing in the kernel', { timeout: 300_000 }, async () => {
    const before = await inst();
    const oldAgents = [...kubelet.agents.values()];
    const kernelBefore = await Promise.all(c.nodes.map((n) => must(['ip', '-n', n.netns, 'route', 'show', 'proto', '87'])));
    // Continuous ping around the ring of nodes, 100 per second each, for the whole rollout.
    const pingers = pods.map((from, i) => {
      const to = pods[(i + 1) % pods.length]!;
      const proc = spawn('ip', ['netns', 'exec', from.name, 'ping', '-q', '-i', '0.01', '-W', '1', to.ip], { stdio: ['ignore', 'pipe', 'pipe'] });
      agentProcesses.add(proc);
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<string>((r) => proc.once('exit', () => {
        agentProcesses.delete(proc);
        r(out);
      }));
      return { proc, done, what: `${from.node.name} -> ${to.node.name}` };
    });
    await sleep(1_000);
    const t0 = Date.now();
    // The conflist changes (the bandwidth plugin joins the chain): a new config hash, no kernel change.
    await applyInstallation(spec({ bandwidth: 'Enabled' }));
    const afterInst = await settled('the rollout to the new configuration', 240_000);
    const took = Date.now() - t0;
    await sleep(1_500);
    for (const p of pingers) p.proc.kill('SIGINT');
    const outs = await Promise.all(pingers.map((p) => p.done));
    assert.notEqual(afterInst.status!.configHash, before.status!.configHash);

    const results = outs.map((o, i) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(o);
      assert.ok(m, `ping ${pingers[i]!.what}: ${o}`);
      return { what: pingers[i]!.what, sent: Number(m[1]), received: Number(m[2]) };
    });
    const newAgents = [...kubelet.agents.values()];
    const changes = await Promise.all(newAgents.map((a) => metric(a, 'weft_node_kernel_changes_total')));
    console.log(`# rollout across 3 real agents in ${took} ms; deletes ${deletes.map((d) => `+${d.t - t0}ms`).join(' ')}; ping ${results.map((r) => `${r.what} ${r.received}/${r.sent}`).join(', ')}; kernel changes by the new agents ${changes.join(', ')}`);

    assert.deepEqual(kubelet.errors, []);
    assert.equal(deletes.length, 3, 'each agent replaced once');
    assert.deepEqual(new Set(newAgents.map((a) => a.hash)), new Set([afterInst.status!.configHash]));
    for (const a of oldAgents) {
      const h = kubelet.history.find((x) => x.agent === a)!;
      assert.equal(h.exitCode, 0, `old agent on ${a.node.name} did not stop cleanly:\n${readFileSync(a.log, 'utf8').slice(-2000)}`);
    }
    for (const r of results) {
      assert.ok(r.sent > 100, `${r.what}: only ${r.sent} sent`);
      assert.equal(r.received, r.sent, `${r.what}: lost ${r.sent - r.received} of ${r.sent} packets during the rollout`);
    }
    assert.deepEqual(changes, [0, 0, 0], 'the new agents found the kernel as the old ones left it');
    const kernelAfter = await Promise.all(c.nodes.map((n) => must(['ip', '-n', n.netns, 'route', 'show', 'proto', '87'])));
    assert.deepEqual(kernelAfter, kernelBefore);
    for (const n of c.nodes) {
      const conf = JSON.parse(readFileSync(confPath(n), 'utf8')) as CniConflist;
      assert.ok(conf.plugins.some((p) => p.type === 'bandwidth'), `${n.name}: the new agent wrote the new conflist`);
    }
  });
});
