// The node agent's control loop. One pass, serialized, debounced, run on every relevant watch
// event and on a resync timer:
//   IPAM (blocks, counts, leaks) -> conflist -> kernel (backend sync) -> NodeNetwork.status.
// Nothing is flushed on start and nothing is touched on stop: the first pass of a restarted
// agent diffs the kernel against the same desired state and finds nothing to do (DESIGN
// invariant 6), so it waits for every informer to sync before it may compute that state.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { EffectivePool } from '../../../api/effective-config.ts';
import { DATAPLANES, podOverhead } from '../../../api/encapsulation.ts';
import type { NodeNetworkStatus } from '../../../api/types/nodenetwork.ts';
import { annotations } from '../../../api/effective-config.ts';
import { Backoff, Informer, KubeClient, isNotFound, sleep, type InformerEvent, type KubeObject } from '../../../kube/index.ts';
import { NodeDataplane, tunnelAddress, type BackendName, type DataplaneConfig, type LocalNode, type NodeSyncReport, type PeerNode } from '../backends/index.ts';
import { conflistText, fillConflist, writeFileIfChanged } from '../cni/conflist.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { detectUnderlay, type Underlay } from '../detect/autodetect.ts';
import { createAgentMetrics, type AgentMetrics } from '../health/metrics.ts';
import { startAgentHttpServer, type AgentHttpServer } from '../health/server.ts';
import { execRunner, type CommandRunner } from '../kernel/exec.ts';
import { DEFAULT_LINK_PREFIX, DEFAULT_NFT_TABLE, WEFT_ROUTE_PROTOCOL } from '../kernel/protocol.ts';
import { storeDir } from '../ipam/hostlocal.ts';
import { NodeIpam, type IpamSnapshot } from '../ipam/node-ipam.ts';
import { mergeConditions, statusEqual, statusMergePatch, type ConditionInput } from '../status/nodenetwork.ts';
import { birdPassword, configuredPeersFor, type ConfiguredBgpPeer } from '../backends/bird-config.ts';
import { bgpPasswordSecret, names, nodeAgentRuntime, nodeAsNumberAnnotation } from '../../../api/effective-config.ts';
import { diagnose } from './diagnose.ts';
import {
  AgentApi, API_VERSION, nodeOwnerReference, resources, type IPAMBlockObject, type NodeNetworkObject, type NodeObject, type PodObject,
} from './kube.ts';
import { selectsNode as matchesSelector } from '../../../api/node-selector.ts';
import { UNINSTALLED_CONDITION, uninstallRequested } from '../../../api/lifecycle.ts';
import { cleanupNode, describeCleanup } from './uninstall.ts';
import { ensureKeyPair } from '../backends/wireguard.ts';
import { computePeers, ipamBlockPeerKey, isIPv4Cidr, nodeNetworkPeerKey } from './peers.ts';
import { NodeEventRecorder } from './events.ts';
import { PassObserver, type PassFacts } from './observe.ts';
import { ProbeHandler, probePeers } from './probe.ts';
import { DEFAULT_STUCK_PASS_MS, liveness } from './liveness.ts';
import { isAsNumber } from '../kernel/values.ts';

export interface AgentOptions {
  nodeName: string;
  configDir: string;
  kubeConfig: KubeConfig;
  version: string;
  log: Logger;
  /** Run every kernel command in this network namespace (tests, sandbox). */
  netns?: string;
  /** host-local's dataDir as the plugins on the host see it (written into the conflist); the
   *  agent reads the store at <hostRoot><ipamDataDir>/<conflist name>. */
  ipamDataDir: string;
  /** Where the host's filesystem is mounted in the agent's container ('/' outside one). */
  hostRoot: string;
  /** The image this agent runs (part of render's config hash). */
  image?: string;
  /** This agent's pod UID (POD_UID), reported in NodeNetwork.status.podUID so the rollout can tell
   *  this agent's report from the one of the pod it replaced. */
  podUID?: string;
  /** How often to look at the mounted ConfigMap again while the operator handed this node a
   *  configuration the kubelet has not written into the volume yet. Default 2 s. */
  configPollMs?: number;
  cniConfDir?: string;
  cniConfName?: string;
  healthPort: number;
  healthHost: string;
  resyncMs: number;
  debounceMs: number;
  leakGraceMs: number;
  leakScanMs: number;
  claimThreshold: number;
  /** Counter-only status changes are written at most this often. */
  statusMinIntervalMs: number;
  /** /healthz fails once one pass has run this long (./liveness.ts); default DEFAULT_STUCK_PASS_MS. */
  stuckPassMs?: number;
  /** false: IPAM, conflist and status only (no root needed; integration tests). */
  kernel: boolean;
  linkPrefix?: string;
  nftTable?: string;
  bird: { configPath: string; socketPath: string; pidFile: string };
  /** WireGuard (spec.network.encryption): this node's private key file and the userspace binary. */
  wireguard?: { privateKeyFile: string; wireguardGo?: string; drainQuietMs?: number };
  metrics?: AgentMetrics;
}

/** Where the private key lives unless --wireguard-key says otherwise (host /run/weft: a reboot makes a new key pair). */
export const DEFAULT_WIREGUARD_KEY_FILE = `${nodeAgentRuntime.runDir}/wireguard/private.key`;
/** How soon the next pass runs while a WireGuard peer's first handshake is pending or the device drains. */
const WIREGUARD_RECHECK_MS = 1_000;

interface PassResult { ok: boolean; again: boolean }

const WATCH = { staleAfterMs: 120_000, watchTimeoutSeconds: [300, 600] as [number, number] };

export class NodeAgent {
  readonly metrics: AgentMetrics;
  readonly runner: CommandRunner;
  private readonly log: Logger;
  /** Peer values refused in the last pass (key -> description), so each is logged once. */
  private rejectedPeerValues = new Map<string, string>();
  private client!: KubeClient;
  private api!: AgentApi;
  private cfg!: LoadedConfig;
  private underlay: Underlay | undefined;
  private node!: NodeObject;
  private nodeNetworks!: Informer<NodeNetworkObject>;
  private blocks!: Informer<IPAMBlockObject>;
  private pods!: Informer<PodObject>;
  private nodeInformer!: Informer<NodeObject>;
  private ipam!: NodeIpam;
  private dataplane: NodeDataplane | undefined;
  private http: AgentHttpServer | undefined;
  private readonly abort = new AbortController();
  private informerRuns: Promise<void>[] = [];

  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  /** False until the caches synced and this node's NodeNetwork was read: a pass before that would
   *  compare its status with nothing and write it again (a restarted agent must write nothing). */
  private started = false;
  /** The pass in flight: when it started (performance.now()) and its step, for /healthz. */
  private passStartedAt: number | undefined;
  private passStep: string | undefined;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.2 });
  /** /debug/probe: pings only to peers' underlay and VTEP addresses (./probe.ts). */
  private probes: ProbeHandler | undefined;
  nodeEvents: NodeEventRecorder | undefined;

  /** What the last pass found; served by /debug/diagnose and used for readiness. */
  state = {
    conflistWritten: false,
    conflistPath: '',
    kernelInSync: false,
    lastError: '' as string,
    lastSync: undefined as NodeSyncReport | undefined,
    lastSyncAt: '' as string,
    peers: [] as PeerNode[],
    ipam: undefined as IpamSnapshot | undefined,
    backend: undefined as BackendName | undefined,
    passes: 0,
    statusWrites: 0,
    kernelOps: 0,
    programmedRoutes: 0,
  };
  private lastStatus: NodeNetworkStatus | undefined;
  private nodeNetworkGone = false;
  /** Node Events and the MTU/BGP gauges, on transitions (./observe.ts); set once the client exists. */
  private observer: PassObserver | undefined;
  /** Set once this node was cleaned for an uninstall: from then on a pass changes nothing. */
  private uninstalled = false;
  private lastStatusWrite = 0;
  /** The configuration hash the operator handed this node that the mounted ConfigMap does not hold yet. */
  private pendingGrant: string | undefined;
  /** Why BGP on this node is not as configured (bad annotation, unreadable password); status.bgp.error. */
  private bgpProblems: string[] = [];
  /** This node's WireGuard public key, once the key file was read or made. */
  private wireguardPublicKey: string | undefined;
  private lastWireGuardLog = '';

  constructor(private readonly o: AgentOptions) {
    this.log = o.log;
    this.metrics = o.metrics ?? createAgentMetrics(true);
    this.runner = execRunner(o.netns);
  }

  get nftTable(): string { return this.o.nftTable ?? DEFAULT_NFT_TABLE; }
  get linkPrefix(): string { return this.o.linkPrefix ?? DEFAULT_LINK_PREFIX; }
  /** The host's /proc/sys/net is mounted under the host root in the DaemonSet; /proc/sys is read-only there. */
  get procSysRoot(): string {
    const mounted = join(this.o.hostRoot, 'proc/sys');
    return this.o.hostRoot !== '/' && existsSync(join(mounted, 'net')) ? mounted : '/proc/sys';
  }
  get confDir(): string { return this.o.cniConfDir ?? join(this.o.hostRoot, this.cfg.config.cni.confDir); }
  get confPath(): string { return join(this.confDir, this.o.cniConfName ?? this.cfg.config.cni.confName); }
  get ready(): boolean { return this.state.conflistWritten && (this.state.kernelInSync || !this.o.kernel); }
  get storeDir(): string { return storeDir(join(this.o.hostRoot, this.o.ipamDataDir), this.cfg.conflistTemplate.name); }

  async start(): Promise<void> {
    const log = this.log;
    this.cfg = await loadConfig(this.o.configDir, this.o.image);
    log.info({ configDir: this.o.configDir, hash: this.cfg.hash, pools: this.cfg.config.pools.map((p) => `${p.name}=${p.cidr}/${p.blockSize} ${p.dataplane}`) }, 'loaded configuration');

    this.probes = new ProbeHandler({ runner: this.runner, peers: () => (this.nodeNetworks ? probePeers(this.nodeNetworks.store.list(), this.o.nodeName) : []) });
    this.http = await startAgentHttpServer({
      port: this.o.healthPort,
      host: this.o.healthHost,
      registry: this.metrics.registry,
      healthz: () => liveness({ stopped: this.stopped, passStartedAt: this.passStartedAt, passStep: this.passStep, now: performance.now(), stuckPassMs: this.o.stuckPassMs ?? DEFAULT_STUCK_PASS_MS }),
      readyz: () => (this.ready ? { ok: true } : { ok: false, detail: !this.state.conflistWritten ? 'conflist not written yet' : `kernel not in sync${this.state.lastError ? `: ${this.state.lastError}` : ''}` }),
      diagnose: () => this.diagnose(),
      probe: (q) => this.probes!.handle(q),
    });
    log.info({ port: this.http.port }, 'serving /healthz /readyz /metrics /debug/diagnose');

    this.client = new KubeClient(this.o.kubeConfig, { metrics: this.metrics.runtime, userAgent: `weft-node/${this.o.version}` });
    this.api = new AgentApi(this.client, (verb) => this.metrics.apiErrors.inc({ verb }));
    this.nodeEvents = new NodeEventRecorder({ node: () => ({ name: this.o.nodeName, ...(this.node?.metadata?.uid ? { uid: this.node.metadata.uid } : {}) }), client: this.client, log: log.child({ part: 'events' }) });
    this.observer = new PassObserver({ metrics: this.metrics, recorder: this.nodeEvents, node: this.o.nodeName });
    this.node = await this.retry('get this node\'s Node object', () => this.api.getNode(this.o.nodeName));

    this.underlay = await this.retry('detect the underlay address', () => detectUnderlay({
      runner: this.runner,
      method: this.cfg.config.autodetection.v4,
      nodeInternalIPs: (this.node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
    }));
    log.info({ ...this.underlay }, 'underlay detected');

    this.ipam = new NodeIpam({
      api: this.api,
      nodeName: this.o.nodeName,
      storeDir: this.storeDir,
      runner: this.runner,
      graceMs: this.o.leakGraceMs,
      scanIntervalMs: this.o.leakScanMs,
      threshold: this.o.claimThreshold,
      log: log.child({ part: 'ipam' }),
      metrics: this.metrics,
    });

    const common = { client: this.client, logger: log, metrics: this.metrics.runtime, ...WATCH };
    this.nodeNetworks = new Informer<NodeNetworkObject>({ ...common, resource: resources.nodeNetworks });
    this.blocks = new Informer<IPAMBlockObject>({ ...common, resource: resources.ipamBlocks });
    this.pods = new Informer<PodObject>({ ...common, resource: resources.pods(this.o.nodeName) });
    this.nodeInformer = new Informer<NodeObject>({ ...common, resource: resources.node(this.o.nodeName) });
    this.nodeNetworks.subscribe((ev) => this.onEvent(ev, nodeNetworkPeerKey, true));
    this.blocks.subscribe((ev) => this.onEvent(ev, ipamBlockPeerKey, false));
    this.nodeInformer.subscribe((ev) => this.onEvent(ev, (n) => JSON.stringify([n.metadata?.labels ?? {}, n.metadata?.uid, n.metadata?.annotations?.[nodeAsNumberAnnotation]]), false));
    const informers = [this.nodeNetworks, this.blocks, this.pods, this.nodeInformer] as Informer<KubeObject>[];
    this.informerRuns = informers.map((i) => i.start(this.abort.signal));
    const t0 = performance.now();
    const progress = setInterval(() => log.info({ waiting: informers.filter((i) => !i.hasSynced()).map((i) => i.name) }, 'waiting for the API caches to sync'), 5_000);
    await Promise.all(informers.map((i) => i.waitForSync(this.abort.signal)));
    clearInterval(progress);
    if (this.abort.signal.aborted) return;
    log.info({ ms: Math.round(performance.now() - t0), nodeNetworks: this.nodeNetworks.store.size, ipamBlocks: this.blocks.store.size, pods: this.pods.store.size }, 'API caches synced');

    await this.retry('create this node\'s NodeNetwork', () => this.ensureNodeNetwork());
    this.started = true;
    this.schedule(0);
  }

  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const b = new Backoff({ initialMs: 500, maxMs: 15_000, jitter: 0.2 });
    for (let attempt = 1; ; attempt++) {
      try { return await fn(); } catch (e) {
        if (this.abort.signal.aborted) throw e;
        const delay = b.next();
        this.log.warn({ attempt, retryInMs: Math.round(delay), err: (e as Error).message }, `could not ${what}; retrying`);
        await sleep(delay, this.abort.signal);
      }
    }
  }

  private onEvent<T extends KubeObject>(ev: InformerEvent<T>, key: (o: T) => string, isNodeNetwork: boolean): void {
    // The operator marks our NodeNetwork when the Installation is deleted (docs/adr/0009).
    if (isNodeNetwork && ev.obj.metadata?.name === this.o.nodeName && !this.uninstalled && uninstallRequested(ev.obj)) { this.schedule(0); return; }
    // The operator's rollout handed this node a new configuration (docs/adr/0010).
    if (isNodeNetwork && ev.obj.metadata?.name === this.o.nodeName && ev.type === 'update' && grantOf(ev.obj) !== grantOf(ev.old)) { this.schedule(0); return; }
    if (ev.type === 'update' && key(ev.obj) === key(ev.old)) return;
    if (isNodeNetwork && ev.obj.metadata?.name === this.o.nodeName) {
      // Our own NodeNetwork changes because we wrote it; peers do not depend on it. Deleted
      // (by hand, or by a GC race), it is created again on the next pass.
      if (ev.type !== 'delete') return;
      this.nodeNetworkGone = true;
    }
    this.schedule(this.o.debounceMs);
  }

  /** Runs a pass after delayMs unless one is already scheduled sooner; a pass requested while
   *  one runs runs again right after it. */
  schedule(delayMs: number): void {
    // Events during the initial list arrive before start() is done; its own schedule(0) covers them.
    if (this.stopped || !this.started) return;
    if (this.running) { this.dirty = true; return; }
    const due = Date.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => { this.timer = undefined; this.running = this.loop(); }, delayMs);
  }

  private async loop(): Promise<void> {
    let result: PassResult;
    do {
      this.dirty = false;
      this.passStartedAt = performance.now();
      try {
        result = await this.pass();
      } catch (e) {
        // A bug or an unexpected input must not end the loop: log it and retry with backoff.
        this.log.error({ err: (e as Error).stack ?? String(e) }, 'control-loop pass failed');
        this.state.lastError = (e as Error).message;
        result = { ok: false, again: false };
      } finally {
        this.passStartedAt = undefined;
        this.passStep = undefined;
      }
    } while ((this.dirty || result.again) && !this.stopped);
    this.running = undefined;
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Nothing announces a leaked reservation (host-local writes files, no event), so the leak
    // scan interval bounds the time between passes as much as the resync interval does.
    // A pending WireGuard handshake or a draining device is not announced by any event either.
    const wg = this.state.lastSync?.wireguard;
    const wgSoon = wg && (wg.pending.length || wg.draining) ? WIREGUARD_RECHECK_MS : Infinity;
    const next = this.pendingGrant ? Math.min(this.o.configPollMs ?? 2_000, this.o.resyncMs, wgSoon) : Math.min(this.o.resyncMs, this.o.leakScanMs, wgSoon);
    this.schedule(result.ok ? next : this.backoff.next());
    if (result.ok) this.backoff.reset();
  }

  /**
   * Applies the mounted ConfigMap in place when the operator handed this node its hash
   * (NodeNetwork annotation network.weft.dev/config-hash, docs/adr/0010). The operator hands a
   * node only configuration that differs from what the agent runs in what cluster facts decide
   * (encapsulation, MTU), which every pass computes from this.cfg; anything else comes with a new
   * pod. A changed ConfigMap without the grant is not applied: the rollout decides when each node
   * moves. The kubelet writes ConfigMap volumes without an event, so a grant the volume does not
   * hold yet is looked at again every configPollMs.
   */
  private async applyGrantedConfig(): Promise<void> {
    const granted = grantOf(this.nodeNetworks.store.get(this.o.nodeName));
    if (!granted || granted === this.cfg.hash) {
      this.pendingGrant = undefined;
      return;
    }
    let mounted: LoadedConfig;
    try {
      mounted = await loadConfig(this.o.configDir, this.o.image);
    } catch (e) {
      this.pendingGrant = granted;
      this.log.warn({ err: (e as Error).message }, 'reading the mounted ConfigMap for the configuration the operator handed this node failed; keeping the running one');
      return;
    }
    if (mounted.hash !== granted) {
      if (this.pendingGrant !== granted) this.log.info({ granted, mounted: mounted.hash, running: this.cfg.hash }, 'the operator handed this node a configuration the mounted ConfigMap does not hold yet; waiting for the kubelet to refresh it');
      this.pendingGrant = granted;
      return;
    }
    this.log.info({ from: this.cfg.hash, to: mounted.hash, pools: mounted.config.pools.map((p) => `${p.name}=${p.dataplane}`), mtu: mounted.config.mtu }, 'applying the configuration the operator handed this node, in place');
    this.cfg = mounted;
    this.pendingGrant = undefined;
  }

  private selectedPools(): EffectivePool[] {
    const labels = (this.nodeInformer.store.get(this.o.nodeName) ?? this.node).metadata?.labels ?? {};
    return this.cfg.config.pools.filter((p) => matchesSelector(p.nodeSelector, labels));
  }

  private async pass(): Promise<PassResult> {
    const t0 = performance.now();
    this.state.passes++;
    if (this.uninstalled || uninstallRequested(this.nodeNetworks.store.get(this.o.nodeName))) { this.passStep = 'uninstall'; return this.uninstallPass(); }
    this.passStep = 'config';
    await this.applyGrantedConfig();
    const node = this.nodeInformer.store.get(this.o.nodeName) ?? this.node;
    this.node = node;
    const problems: ConditionInput[] = [];
    let again = false;
    let ok = true;
    const pools = this.selectedPools();
    let conflistWritten: PassFacts['conflistWritten'];

    // IPAM
    this.passStep = 'ipam';
    let ipam: IpamSnapshot | undefined;
    try {
      ipam = await this.ipam.reconcile({ node, selectedPools: pools, allPools: this.cfg.config.pools, blocks: this.blocks.store.list(), pods: this.pods.store.list(), now: Date.now() });
      this.state.ipam = ipam;
      again ||= ipam.changed;
    } catch (e) {
      ok = false;
      this.log.error({ err: (e as Error).message }, 'IPAM pass failed');
      problems.push({ type: 'Ready', status: 'False', reason: 'IPAMFailed', message: (e as Error).message });
    }

    // Conflist
    this.passStep = 'conflist';
    if (ipam) {
      if (!ipam.blocks.length) {
        this.state.conflistWritten = false;
        const why = pools.length ? `no IPAM block held yet${ipam.exhaustedPools.length ? ` (pools ${ipam.exhaustedPools.join(', ')} have no free block)` : ''}` : `no pool selects node ${this.o.nodeName} (check the pools' nodeSelector)`;
        problems.push({ type: 'Ready', status: 'False', reason: 'NoBlocks', message: why });
      } else {
        try {
          const text = conflistText(fillConflist(this.cfg.conflistTemplate, ipam.blocks.map((b) => b.cidr), this.o.ipamDataDir));
          if (await writeFileIfChanged(this.confPath, text)) {
            this.log.info({ path: this.confPath, ranges: ipam.blocks.map((b) => b.cidr) }, 'wrote CNI conflist');
            conflistWritten = { path: this.confPath, ranges: ipam.blocks.map((b) => b.cidr) };
          }
          this.state.conflistWritten = true;
          this.state.conflistPath = this.confPath;
        } catch (e) {
          ok = false;
          this.state.conflistWritten = false;
          problems.push({ type: 'Ready', status: 'False', reason: 'ConflistWriteFailed', message: `writing ${this.confPath}: ${(e as Error).message}` });
        }
      }
    }

    // Kernel
    this.passStep = 'kernel';
    const kernelAttempted = !!(this.o.kernel && ipam && this.underlay);
    if (this.o.kernel && ipam && this.underlay) {
      try {
        await this.syncKernel(pools, ipam);
      } catch (e) {
        ok = false;
        this.state.kernelInSync = false;
        this.state.lastError = (e as Error).message;
        this.log.error({ err: (e as Error).message }, 'kernel sync failed; retrying with backoff');
        problems.push({ type: 'Ready', status: 'False', reason: 'KernelSyncFailed', message: (e as Error).message.slice(0, 2000) });
      }
    }

    // Before the status write: lastStatus is still what the cluster shows (see PassFacts.persisted).
    this.observer?.observe(this.passFacts(pools, ipam, kernelAttempted, conflistWritten));

    // Status
    this.passStep = 'status';
    try {
      if (this.nodeNetworkGone) {
        this.nodeNetworkGone = false;
        this.log.warn({ nodeNetwork: this.o.nodeName }, 'NodeNetwork was deleted; creating it again');
        await this.ensureNodeNetwork();
      }
      const wrote = await this.writeStatus(pools, ipam, problems);
      if (wrote === 'deferred') this.schedule(Math.max(0, this.lastStatusWrite + this.o.statusMinIntervalMs - Date.now()) + 10);
    } catch (e) {
      ok = false;
      this.log.warn({ err: (e as Error).message }, 'NodeNetwork status write failed');
    }

    this.metrics.ready.set(this.ready ? 1 : 0);
    this.metrics.syncDuration.observe({ result: ok ? 'success' : 'error' }, (performance.now() - t0) / 1000);
    if (ok) this.state.lastError = '';
    return { ok, again };
  }

  /**
   * The backend's configuration for this pass. Computed on every pass from the current config
   * and the current Node labels, so whatever they decide — here, which configured BGP peers
   * select this node — reaches the backend on the next pass, not only when the backend changes.
   */
  private async dataplaneConfig(backend: BackendName): Promise<DataplaneConfig> {
    const c = this.cfg.config;
    if (backend === 'bgp' && !this.cfg.birdTemplate) throw new Error(`pools use the bgp dataplane but ${this.o.configDir}/bird.conf is missing; the operator renders it when spec.network.bgp is enabled`);
    const labels = this.node.metadata?.labels ?? {};
    let bgp: DataplaneConfig['bgp'];
    this.bgpProblems = [];
    if (c.bgp.enabled && this.cfg.birdTemplate) {
      const nodeAs = nodeAsNumber(this.node);
      if (nodeAs.error) this.bgpProblems.push(nodeAs.error);
      const rr = c.bgp.routeReflectors;
      bgp = {
        asNumber: c.bgp.asNumber, template: this.cfg.birdTemplate, fullMesh: c.bgp.fullMesh,
        peers: await this.withPasswords(configuredPeersFor(c.bgp, labels)),
        ...(rr ? { routeReflectors: true, routeReflector: matchesSelector(rr.nodeSelector, labels) } : {}),
        ...(nodeAs.asNumber !== undefined && nodeAs.asNumber !== c.bgp.asNumber ? { nodeAsNumber: nodeAs.asNumber } : {}),
        ...this.o.bird,
      };
    }
    return {
      mtu: c.mtu,
      // natOutgoing and "outside every pool" are about all pools, not only this node's.
      pools: c.pools.filter((p) => p.family === 4).map((p) => ({ cidr: p.cidr, natOutgoing: p.natOutgoing })),
      vxlan: { vni: c.vxlan.vni, port: c.vxlan.port },
      linkPrefix: this.linkPrefix,
      ...(c.encryption && this.wireguardPublicKey
        ? { encryption: { port: c.encryption.port, privateKeyFile: this.wireguardKeyFile, publicKey: this.wireguardPublicKey } }
        : {}),
      ...(bgp ? { bgp } : {}),
    };
  }

  /**
   * The configured peers with their passwords, read from Secret weft-bgp-passwords (the one
   * Secret the agent may read, by name). A peer whose password cannot be read is left out —
   * a session without its password would only fail — and the reason goes to status.bgp.error.
   */
  private async withPasswords(peers: ConfiguredBgpPeer[]): Promise<ConfiguredBgpPeer[]> {
    if (!peers.some((p) => p.passwordSecretKey)) return peers;
    let data: Record<string, string> | undefined;
    let readError = '';
    try { data = (await this.api.getBgpPasswordSecret()).data ?? {}; } catch (e) {
      readError = isNotFound(e) ? `Secret ${names.namespace}/${bgpPasswordSecret} does not exist; create it with the password keys of spec.network.bgp.peers` : `reading Secret ${names.namespace}/${bgpPasswordSecret}: ${(e as Error).message}`;
    }
    const out: ConfiguredBgpPeer[] = [];
    for (const p of peers) {
      if (!p.passwordSecretKey) { out.push(p); continue; }
      const raw = data?.[p.passwordSecretKey];
      const password = raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8');
      let problem = readError;
      if (!problem && password === undefined) problem = `Secret ${names.namespace}/${bgpPasswordSecret} has no key ${p.passwordSecretKey}`;
      if (!problem) { try { birdPassword(password!); } catch (e) { problem = `Secret ${names.namespace}/${bgpPasswordSecret} key ${p.passwordSecretKey}: ${(e as Error).message}`; } }
      if (problem) { this.bgpProblems.push(`peer ${p.address} left out: ${problem}`); continue; }
      out.push({ ...p, password: password! });
    }
    return out;
  }

  private backendFor(pools: EffectivePool[]): BackendName {
    const modes = [...new Set((pools.length ? pools : this.cfg.config.pools).filter((p) => p.family === 4).map((p) => p.dataplane))];
    if (modes.length > 1) this.log.warn({ modes }, 'pools of this node use different dataplane modes; the kernel layer runs one backend per node, using the first');
    return modes[0] ?? 'host-gw';
  }

  private get wireguardKeyFile(): string { return this.o.wireguard?.privateKeyFile ?? DEFAULT_WIREGUARD_KEY_FILE; }

  private async syncKernel(pools: EffectivePool[], ipam: IpamSnapshot): Promise<void> {
    const backend = this.backendFor(pools);
    if (this.cfg.config.encryption && !this.wireguardPublicKey) {
      const { publicKey, created } = await ensureKeyPair(this.wireguardKeyFile);
      this.wireguardPublicKey = publicKey;
      this.log.info({ publicKey, keyFile: this.wireguardKeyFile, created }, created ? 'made this node\'s WireGuard key pair' : 'read this node\'s WireGuard key');
    }
    const config = await this.dataplaneConfig(backend);
    // The backend object is stateless; only a different mode needs a new one. Everything that
    // varies between passes (peers by Node labels, the BIRD template) is in config.
    if (!this.dataplane || this.dataplane.backend.name !== backend) {
      this.dataplane = new NodeDataplane({
        backend, config, runner: this.runner, nftTable: this.nftTable, procSysRoot: this.procSysRoot,
        ...(this.o.wireguard?.wireguardGo ? { wireguardGo: this.o.wireguard.wireguardGo } : {}),
        ...(this.o.wireguard?.drainQuietMs !== undefined ? { drainQuietMs: this.o.wireguard.drainQuietMs } : {}),
      });
      this.state.backend = backend;
    }
    this.dataplane.config = config;
    const local: LocalNode = {
      name: this.o.nodeName,
      underlayAddress: this.underlay!.address,
      underlaySubnet: this.underlay!.subnet,
      underlayInterface: this.underlay!.interface,
      blocks: ipam.allBlocks.map((b) => b.cidr).filter(isIPv4Cidr),
    };
    const tunnel = backend !== 'host-gw' && backend !== 'bgp';
    // Peers' values are checked before they can reach the kernel (issue 16): malformed addresses
    // or MACs, blocks outside the pools, of another Node incarnation or overlapping ours are
    // dropped; each is logged once while it persists.
    const rejected = new Map<string, string>();
    const peers = computePeers(this.nodeNetworks.store.list(), this.blocks.store.list(), {
      self: this.o.nodeName,
      // A BGP peer matters without blocks: its session (a reflector may hold no block at all).
      keepBlockless: backend === 'bgp',
      pools: this.cfg.config.pools.filter((p) => p.family === 4).map((p) => ({ cidr: p.cidr, blockSize: p.blockSize })),
      ownBlocks: local.blocks,
      reject: (r) => rejected.set(`${r.node}|${r.field}|${r.value}`, `node ${r.node}: ${r.field} = ${r.value}: ${r.reason}`),
    });
    for (const [k, msg] of rejected) if (!this.rejectedPeerValues.has(k)) this.log.warn({ peer: msg }, 'refused a peer value; it is not programmed');
    this.rejectedPeerValues = rejected;
    this.state.peers = peers;
    this.metrics.peers.set(peers.length);
    if (tunnel && !local.blocks.length) throw new Error(`the ${backend} tunnel takes its address from this node's first IPv4 block, and node ${this.o.nodeName} holds none yet`);
    const report = await this.dataplane.sync(local, peers);
    this.state.lastSync = report;
    this.state.lastSyncAt = new Date().toISOString();
    this.state.kernelInSync = true;
    this.state.kernelOps += report.kernel.ops;
    this.metrics.kernelChanges.inc(report.kernel.ops);
    this.state.programmedRoutes = this.dataplane.backend.desired(local, peers, config).routes.length;
    this.metrics.programmedRoutes.set(this.state.programmedRoutes);
    const wg = report.wireguard;
    const wgKey = wg ? JSON.stringify([wg.implementation, wg.encrypted, wg.draining]) : '';
    if (wgKey !== this.lastWireGuardLog) {
      this.lastWireGuardLog = wgKey;
      if (wg) this.log.info({ implementation: wg.implementation, encrypted: wg.encrypted, plain: wg.plain, draining: wg.draining }, wg.draining ? 'WireGuard device draining (encryption is off)' : 'WireGuard peers');
    }
    if (report.daemon && report.daemon.action !== 'none') this.log.info({ action: report.daemon.action, peers: peers.length }, 'BIRD configuration applied');
    if (report.kernel.ops) {
      this.log.info({ ops: report.kernel.ops, ip: report.kernel.plan.ip.length, bridge: report.kernel.plan.bridge.length, nft: report.kernel.plan.nft !== null, ms: Math.round(report.kernel.durationMs), peers: peers.length }, 'kernel changed');
    }
  }

  private computeStatus(pools: EffectivePool[], ipam: IpamSnapshot | undefined, problems: ConditionInput[]): NodeNetworkStatus {
    const u = this.underlay;
    const report = this.state.lastSync;
    const s: NodeNetworkStatus = {
      agentVersion: this.o.version,
      podMTU: this.cfg.config.mtu,
    };
    if (this.cfg.hash) s.configHash = this.cfg.hash;
    if (this.o.podUID) s.podUID = this.o.podUID;
    if (this.o.image) s.image = this.o.image;
    if (u) Object.assign(s, { address: u.cidr, interface: u.interface, mtu: u.mtu, autodetectionMethod: u.method });
    if (report?.vxlanMac && ipam?.allBlocks.some((b) => isIPv4Cidr(b.cidr))) {
      s.vtep = { mac: report.vxlanMac, ip: tunnelAddress({ name: this.o.nodeName, blocks: ipam.allBlocks.map((b) => b.cidr).filter(isIPv4Cidr) }) };
    }
    if (ipam) {
      s.blocks = ipam.allBlocks.map((b) => ({ cidr: b.cidr, pool: b.pool, allocated: b.allocated, capacity: b.capacity }));
      s.ipam = { allocated: ipam.allocated, capacity: ipam.capacity, leaked: ipam.leaked, released: ipam.released };
    }
    if (this.o.kernel && report) {
      s.kernel = {
        routes: this.state.programmedRoutes,
        lastSyncChanges: report.kernel.ops,
        sysctls: Object.fromEntries(report.sysctls.filter((r) => r.observed !== null).map((r) => [r.key, String(r.set ? r.wanted : r.observed)])),
      };
      if (report.wireguard) {
        const w = report.wireguard;
        s.wireguard = {
          implementation: w.implementation,
          ...(w.publicKey ? { publicKey: w.publicKey } : {}),
          ...(w.endpoint ? { endpoint: w.endpoint } : {}),
          encryptedPeers: w.encrypted.length,
          plainPeers: w.plain.length,
        };
      }
      if (report.daemon) {
        const bgp = this.dataplane?.config.bgp;
        s.bgp = {
          ...(bgp ? { asNumber: bgp.nodeAsNumber ?? bgp.asNumber } : {}),
          ...(bgp?.routeReflector ? { routeReflector: true } : {}),
          ...(this.bgpProblems.length ? { error: this.bgpProblems.join('; ').slice(0, 1024) } : {}),
          sessions: report.daemon.sessions.map((x) => ({ peer: x.peer, state: x.state, ...(x.info ? { info: x.info } : {}), ...(x.lastError ? { lastError: x.lastError.slice(0, 1024) } : {}) })),
        };
      }
    }
    s.cni = { conflist: this.confPath, written: this.state.conflistWritten };
    let ready: ConditionInput = { type: 'Ready', status: 'True', reason: 'Ready', message: 'conflist written, kernel in sync, routes to every peer programmed' };
    const firstProblem = problems.find((p) => p.type === 'Ready');
    if (firstProblem) ready = firstProblem;
    else if (!this.o.kernel) ready = { type: 'Ready', status: 'True', reason: 'KernelDisabled', message: 'conflist written; kernel programming is disabled (--no-kernel)' };
    else if (report && report.unroutable.length > 0) {
      const list = report.unroutable.map((x) => `${x.peer} (${x.reason})`);
      ready = { type: 'Ready', status: 'False', reason: 'PeersUnroutable', message: `no route to ${list.join(', ')}` };
    } else if (report?.daemon && report.daemon.sessions.some((x) => x.state !== 'Established')) {
      const down = report.daemon.sessions.filter((x) => x.state !== 'Established').map((x) => `${x.peer} ${x.state}`);
      ready = { type: 'Ready', status: 'False', reason: 'PeersUnreachable', message: `BGP sessions not established: ${down.join(', ')}` };
    }
    const conditions: ConditionInput[] = [ready];
    if (this.pendingGrant) {
      conditions.push({ type: 'ConfigPending', status: 'True', reason: 'WaitingForConfigMapVolume', message: `the operator handed this node configuration ${this.pendingGrant.slice(0, 12)}; the mounted ConfigMap in ${this.o.configDir} still holds ${this.cfg.hash?.slice(0, 12) ?? 'another one'} (the kubelet refreshes ConfigMap volumes within about a minute)` });
    }
    if (u && this.cfg.config.mtu + this.overhead(pools) > u.mtu) {
      conditions.push({ type: 'MTUTooLarge', status: 'True', reason: 'PodMTUExceedsUnderlay', message: `pod MTU ${this.cfg.config.mtu} + ${this.overhead(pools)} bytes of encapsulation exceeds ${u.interface}'s MTU ${u.mtu}; set spec.network.mtu to at most ${u.mtu - this.overhead(pools)}` });
    }
    s.conditions = mergeConditions(this.lastStatus?.conditions, conditions, new Date());
    return s;
  }

  private passFacts(pools: EffectivePool[], ipam: IpamSnapshot | undefined, kernelAttempted: boolean, conflistWritten: PassFacts['conflistWritten']): PassFacts {
    const u = this.underlay;
    const daemon = this.state.lastSync?.daemon;
    return {
      ...(kernelAttempted ? { kernel: { inSync: this.state.kernelInSync, ...(this.state.lastError ? { error: this.state.lastError } : {}) } } : {}),
      ...(u ? { mtu: { pod: this.cfg.config.mtu, underlay: u.mtu, overhead: this.overhead(pools), interface: u.interface } } : {}),
      ...(daemon ? { bgpSessions: daemon.sessions } : {}),
      ...(ipam ? { released: ipam.released, claimed: ipam.claimed, exhaustedPools: ipam.exhaustedPools } : {}),
      ...(conflistWritten ? { conflistWritten } : {}),
      persisted: {
        mtuTooLarge: this.lastStatus?.conditions?.some((c) => c.type === 'MTUTooLarge' && c.status === 'True') ?? false,
        kernelFailed: this.lastStatus?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'KernelSyncFailed') ?? false,
      },
    };
  }

  /** Bytes between a pod packet and the underlay MTU: the backend's tunnel, or WireGuard's when
   *  encryption is on and larger (api/encapsulation.ts podOverhead). */
  private overhead(pools: EffectivePool[]): number {
    return podOverhead(DATAPLANES[this.backendFor(pools)].encapsulation, this.cfg.config.encryption?.mode ?? 'Disabled').overhead;
  }

  /** Writes status when it changed. Changes peers care about (address, VTEP, blocks, Ready)
   *  go out at once; counter-only changes at most every statusMinIntervalMs. */
  private async writeStatus(pools: EffectivePool[], ipam: IpamSnapshot | undefined, problems: ConditionInput[]): Promise<'written' | 'unchanged' | 'deferred'> {
    const next = this.computeStatus(pools, ipam, problems);
    if (statusEqual(next, this.lastStatus)) return 'unchanged';
    const essential = (s: NodeNetworkStatus | undefined) => JSON.stringify([s?.address, s?.vtep, s?.wireguard?.publicKey, s?.wireguard?.endpoint, s?.wireguard?.implementation, s?.bgp?.asNumber, s?.bgp?.routeReflector, s?.blocks?.map((b) => b.cidr), s?.conditions?.map((c) => [c.type, c.status, c.reason]), s?.configHash, s?.agentVersion, s?.interface, s?.mtu, s?.cni?.written]);
    if (essential(next) === essential(this.lastStatus) && Date.now() - this.lastStatusWrite < this.o.statusMinIntervalMs) return 'deferred';
    let updated: NodeNetworkObject;
    try {
      updated = await this.api.patchNodeNetworkStatus(this.o.nodeName, statusMergePatch(this.lastStatus, next));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // Deleted under us (by hand, or a GC race with a re-created Node): create it again.
      this.log.warn({ nodeNetwork: this.o.nodeName }, 'NodeNetwork disappeared; creating it again');
      await this.ensureNodeNetwork();
      updated = await this.api.patchNodeNetworkStatus(this.o.nodeName, statusMergePatch(this.lastStatus, next));
    }
    this.lastStatus = updated.status ?? next;
    this.lastStatusWrite = Date.now();
    this.state.statusWrites++;
    return 'written';
  }

  private async ensureNodeNetwork(): Promise<void> {
    const existing = await this.api.getNodeNetwork(this.o.nodeName).catch((e: unknown) => { if (isNotFound(e)) return undefined; throw e; });
    if (existing) {
      const owner = existing.metadata?.ownerReferences?.find((r) => r.kind === 'Node');
      if (owner && owner.uid !== this.node.metadata?.uid) {
        throw new Error(`NodeNetwork ${this.o.nodeName} belongs to an earlier Node of that name (owner uid ${owner.uid}, now ${this.node.metadata?.uid}); waiting for the garbage collector to delete it`);
      }
      this.lastStatus = existing.status;
      return;
    }
    const created = await this.api.createNodeNetwork({
      apiVersion: API_VERSION,
      kind: 'NodeNetwork',
      metadata: { name: this.o.nodeName, ownerReferences: [nodeOwnerReference(this.node)] },
      spec: { nodeName: this.o.nodeName },
    });
    this.lastStatus = created.status;
    this.log.info({ nodeNetwork: this.o.nodeName }, 'created NodeNetwork');
  }

  async diagnose(): Promise<unknown> {
    const d = await diagnose({
      runner: this.runner,
      confDir: this.cfg ? this.confDir : '',
      vxlanDevice: `${this.linkPrefix}.vxlan`,
      nftTable: this.nftTable,
      protocol: WEFT_ROUTE_PROTOCOL,
      procSysRoot: this.procSysRoot,
      ...(this.cfg ? { conflistPath: this.confPath, binDir: join(this.o.hostRoot, this.cfg.config.cni.binDir) } : {}),
      ...(this.cfg?.config.bgp.enabled && this.o.kernel ? { bird: { socketPath: this.o.bird.socketPath } } : {}),
      state: {
        node: this.o.nodeName,
        version: this.o.version,
        configHash: this.cfg?.hash,
        underlay: this.underlay,
        ready: this.ready,
        ...this.state,
        lastSync: this.state.lastSync ? { ...this.state.lastSync, kernel: { ops: this.state.lastSync.kernel.ops, durationMs: this.state.lastSync.kernel.durationMs } } : undefined,
      },
    });
    return d;
  }

  /** Uninstall (the operator marked our NodeNetwork): clean the node, report Uninstalled, and
   *  from then on do nothing — no IPAM claims, no conflist, no kernel, no re-created NodeNetwork.
   *  SIGTERM alone never gets here: an upgrade sends it too. */
  private async uninstallPass(): Promise<PassResult> {
    if (this.uninstalled) return { ok: true, again: false };
    let condition: { type: string; status: 'True' | 'False'; reason: string; message: string };
    try {
      const report = await cleanupNode({
        runner: this.runner,
        kernel: this.o.kernel,
        linkPrefix: this.linkPrefix,
        nftTable: this.nftTable,
        protocol: WEFT_ROUTE_PROTOCOL,
        conflistPaths: [this.confPath],
        ipamStoreDirs: [this.storeDir],
        ...(this.o.kernel ? { bird: this.o.bird } : {}),
      });
      const message = describeCleanup(report);
      this.log.info({ ...report }, 'uninstall: node cleaned');
      condition = report.remaining.length
        ? { type: UNINSTALLED_CONDITION, status: 'False', reason: 'CleanupIncomplete', message }
        : { type: UNINSTALLED_CONDITION, status: 'True', reason: 'Cleaned', message };
      this.uninstalled = report.remaining.length === 0;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'uninstall: cleaning the node failed; retrying');
      condition = { type: UNINSTALLED_CONDITION, status: 'False', reason: 'CleanupFailed', message: (e as Error).message.slice(0, 2000) };
    }
    this.state.conflistWritten = false;
    this.state.kernelInSync = false;
    try {
      const conditions = mergeConditions(this.lastStatus?.conditions, [
        { type: 'Ready', status: 'False', reason: 'Uninstalling', message: 'the Installation is being deleted; this node is removing Weft' },
        condition,
      ], new Date());
      const updated = await this.api.patchNodeNetworkStatus(this.o.nodeName, { status: { conditions } });
      this.lastStatus = updated.status;
    } catch (e) {
      // Gone already (the operator deletes NodeNetworks last): nobody waits for the report.
      if (!isNotFound(e)) { this.log.warn({ err: (e as Error).message }, 'uninstall: reporting failed; retrying'); return { ok: false, again: false }; }
    }
    return { ok: condition.status === 'True', again: false };
  }

  /** Graceful stop: informers, timers and the HTTP server end; the kernel, the conflist and
   *  BIRD are left exactly as they are, for the next agent to find right. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    // A pass in flight finishes: an ip -batch cut in half is worse than waiting for it.
    await this.running?.catch(() => {});
    await Promise.allSettled(this.informerRuns);
    await this.http?.close();
    this.client?.close();
  }
}

/** The configuration hash the operator handed this node (annotations.configGrant), if any. */
function grantOf(nn: { metadata?: { annotations?: Record<string, string> } } | undefined): string | undefined {
  return nn?.metadata?.annotations?.[annotations.configGrant];
}

/**
 * This node's AS from its Node annotation weft.dev/bgp-as-number: a decimal 1..4294967295. Absent:
 * undefined (the cluster's AS). Anything else is refused with an error naming the fix, and the
 * cluster's AS is used.
 */
export function nodeAsNumber(node: NodeObject): { asNumber?: number; error?: string } {
  const raw = node.metadata?.annotations?.[nodeAsNumberAnnotation];
  if (raw === undefined) return {};
  const n = /^[1-9][0-9]{0,9}$/.test(raw) ? Number(raw) : NaN;
  if (!isAsNumber(n)) {
    return { error: `Node ${node.metadata?.name ?? '?'} annotation ${nodeAsNumberAnnotation}=${JSON.stringify(raw.slice(0, 32))} is not an AS number (a decimal 1-4294967295); using the cluster's spec.network.bgp.asNumber. Fix or remove the annotation` };
  }
  return { asNumber: n };
}
