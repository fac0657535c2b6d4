// A minimal kubelet for the sandbox's nodes. There is no container runtime here, so this plays
// the kubelet's part for exactly what Weft needs, and says so wherever it shows:
//
//  - registers each Node (InternalIP = its underlay address) and keeps it Ready (a Lease renewed
//    every 10 s, like a kubelet's heartbeat);
//  - host-network pods whose container command is a Weft program (the weft-node DaemonSet's)
//    run as real processes in their node's network namespace: init containers to completion,
//    then the main container, with the same command and arguments, the env of the pod spec
//    (fieldRefs resolved), the ConfigMap volumes written to a directory, a ServiceAccount token
//    bound to the pod (so the agent runs with its own RBAC, not as admin) and the container's
//    host mounts mapped to the node's directory under the state dir (see hostPathFlags);
//  - the pod's status follows its process: Running, Ready from its readinessProbe (polled every
//    2 s instead of periodSeconds, to start faster), a restart with backoff when it exits,
//    restartCount and lastState like a kubelet's; a pod being deleted has its process stopped
//    (SIGTERM, then SIGKILL after the grace period) and is then removed;
//  - every other pod gets a network sandbox only: a network namespace, set up by a real CNI ADD
//    with the conflist the node agent wrote (containerd's defaults: /etc/cni/net.d and
//    /opt/cni/bin under the node's directory), its IP written to the pod's status; CNI DEL when
//    it is deleted. Its containers are NOT run: the pod is reachable (ping, iperf3 via
//    `ip netns exec`), `kubectl exec`/`logs` do not work.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { arch, release } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYAML } from 'yaml';
import { configMapKeys, nodeAgentRuntime, type EffectiveConfig } from '../../api/effective-config.ts';
import { ApiError, KubeClient, isNotFound } from '../../kube/index.ts';
import { cniAdd, cniDel, type CniConflist, type CniResult } from './cni-runtime.ts';
import { must } from './exec.ts';
import { programArgv, programs } from './paths.ts';
import type { SandboxNode } from './topology.ts';

/** containerd's defaults, under each node's directory. */
export const RUNTIME_CNI_CONF_DIR = '/etc/cni/net.d';
export const RUNTIME_CNI_BIN_DIR = '/opt/cni/bin';
/** Where the Debian package puts the CNI plugins: install-cni copies them from here. */
export const CNI_PLUGIN_SOURCE = '/usr/lib/cni';

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path?: string; port: number | string } };
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    ownerReferences?: { kind: string; name: string }[];
  };
  spec: {
    nodeName?: string;
    hostNetwork?: boolean;
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    initContainers?: Container[];
    containers: Container[];
    volumes?: { name: string; configMap?: { name: string } }[];
  };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

export interface KubeletOptions {
  kubeConfig: KubeConfig;
  /** The API server URL and CA the node agents' kubeconfigs use. */
  server: string;
  caData: string;
  nodes: SandboxNode[];
  /** <state>/nodes: each node's host filesystem paths live under <nodesDir>/<node>/root. */
  nodesDir: string;
  podsDir: string;
  logsDir: string;
  /** Prefix of pod network namespaces: <prefix><namespace>-<name>. */
  podNetnsPrefix: string;
  onEvent?: (line: string) => void;
  /** Make a network namespace and record it before anything is put in it. */
  addNetns: (name: string) => Promise<void>;
  delNetns: (name: string) => Promise<void>;
}

const iso = () => new Date().toISOString();
/** MicroTime wants six fractional digits. */
const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

function logTail(file: string, lines = 12): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** A pod the kubelet is running: its processes (host-network) or its network namespace. */
interface PodRuntime {
  uid: string;
  key: string;
  node: SandboxNode;
  pod: Pod;
  busy: boolean;
  terminating: boolean;
  gone: boolean;
  startTime: string;
  // Host-network pods
  child?: ChildProcess;
  childExited?: Promise<void>;
  pid?: number;
  startedAt?: string;
  restartCount: number;
  restartAt?: number;
  lastState?: Record<string, unknown>;
  ready: boolean;
  readySince?: string;
  initDone: boolean;
  initStatus?: Record<string, unknown>[];
  logFile?: string;
  lastError?: string;
  /** When the pod's ConfigMap volumes were last brought up to date (ms). */
  volumesRefreshedAt?: number;
  // Network-sandbox pods
  netns?: string;
  ip?: string;
}

export class SandboxKubelet {
  readonly client: KubeClient;
  private readonly pods = new Map<string, PodRuntime>();
  private readonly nodeUids = new Map<string, string>();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private syncing = false;

  constructor(private readonly o: KubeletOptions) {
    this.client = new KubeClient(o.kubeConfig, { userAgent: 'weft-sandbox-kubelet', requestTimeoutMs: 15_000 });
  }

  nodeRoot(node: string): string {
    return join(this.o.nodesDir, node, 'root');
  }

  private event(line: string): void {
    this.o.onEvent?.(line);
  }

  // ------------------------------------------------------------------------------------------
  // Nodes

  async registerNodes(): Promise<void> {
    for (const n of this.o.nodes) {
      mkdirSync(this.nodeRoot(n.name), { recursive: true });
      const body = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: n.name,
          labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch() },
          annotations: { 'sandbox.weft.dev/netns': n.netns, 'sandbox.weft.dev/kubelet': 'weft sandbox (no container runtime: see cli/sandbox/kubelet.ts)' },
        },
      };
      const created = await this.client.request<{ metadata: { uid: string } }>('/api/v1/nodes', { verb: 'create', method: 'POST', body });
      this.nodeUids.set(n.name, created.metadata.uid);
      await this.patchNodeStatus(n);
      await this.renewLease(n);
    }
    this.timers.push(setInterval(() => void this.heartbeat(), 10_000));
    this.timers.push(setInterval(() => void this.syncPods(), 1_000));
    this.timers.push(setInterval(() => void this.probeAll(), 2_000));
  }

  private async patchNodeStatus(n: SandboxNode): Promise<void> {
    const now = iso();
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
    const resources = { cpu: '2', memory: '4Gi', pods: '110' };
    await this.client.request(`/api/v1/nodes/${n.name}/status`, {
      verb: 'patch',
      method: 'PATCH',
      contentType: 'application/strategic-merge-patch+json',
      body: {
        status: {
          addresses: [{ type: 'InternalIP', address: n.address }, { type: 'Hostname', address: n.name }],
          capacity: resources,
          allocatable: resources,
          conditions: [
            cond('Ready', 'True', 'SandboxNodeReady', `weft sandbox node in network namespace ${n.netns}; pods run as processes or network namespaces (no container runtime)`),
            cond('MemoryPressure', 'False', 'SandboxNode', 'not measured'),
            cond('DiskPressure', 'False', 'SandboxNode', 'not measured'),
            cond('PIDPressure', 'False', 'SandboxNode', 'not measured'),
          ],
          nodeInfo: {
            machineID: '', systemUUID: '', bootID: '', kernelVersion: release(), osImage: 'weft sandbox network namespace',
            containerRuntimeVersion: 'weft-sandbox://0', kubeletVersion: 'weft-sandbox', kubeProxyVersion: '', operatingSystem: 'linux',
            architecture: arch() === 'x64' ? 'amd64' : arch(),
          },
        },
      },
    });
  }

  private async renewLease(n: SandboxNode): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n.name}`;
    try {
      await this.client.request(path, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { spec: { renewTime: microTime() } } });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.client.request('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        verb: 'create',
        method: 'POST',
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: n.name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n.name, uid: this.nodeUids.get(n.name) }] },
          spec: { holderIdentity: n.name, leaseDurationSeconds: 40, renewTime: microTime() },
        },
      });
    }
  }

  private beats = 0;
  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    this.beats++;
    for (const n of this.o.nodes) {
      try {
        await this.renewLease(n);
        // The Ready condition's heartbeat too, now and then, as a kubelet does.
        if (this.beats % 6 === 0) await this.patchNodeStatus(n);
      } catch (e) {
        if (!this.stopped) this.event(`kubelet ${n.name}: heartbeat failed: ${(e as Error).message}`);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Pods

  /** One pass: every pod bound to a sandbox node is started, kept, or stopped. */
  async syncPods(): Promise<void> {
    if (this.stopped || this.syncing) return;
    this.syncing = true;
    try {
      const list = await this.client.request<{ items: Pod[] }>('/api/v1/pods', { verb: 'list' });
      const seen = new Set<string>();
      for (const pod of list.items) {
        const node = this.o.nodes.find((n) => n.name === pod.spec.nodeName);
        if (!node) continue;
        seen.add(pod.metadata.uid);
        let rt = this.pods.get(pod.metadata.uid);
        if (!rt) {
          rt = { uid: pod.metadata.uid, key: `${pod.metadata.namespace}/${pod.metadata.name}`, node, pod, busy: false, terminating: false, gone: false, startTime: iso(), restartCount: 0, ready: false, initDone: false };
          this.pods.set(rt.uid, rt);
        }
        rt.pod = pod;
        this.kick(rt);
      }
      // Deleted behind our back (force delete): stop what still runs.
      for (const rt of this.pods.values()) {
        if (!seen.has(rt.uid) && !rt.gone) {
          rt.gone = true;
          rt.terminating = true;
          this.kick(rt);
        }
      }
    } catch (e) {
      if (!this.stopped) this.event(`kubelet: listing pods failed: ${(e as Error).message}`);
    } finally {
      this.syncing = false;
    }
  }

  private kick(rt: PodRuntime): void {
    if (rt.busy || this.stopped) return;
    rt.busy = true;
    void this.reconcile(rt)
      .catch((e) => {
        rt.lastError = (e as Error).message;
        if (!this.stopped) this.event(`kubelet ${rt.node.name}: pod ${rt.key}: ${(e as Error).message.split('\n')[0]}`);
      })
      .finally(() => {
        rt.busy = false;
      });
  }

  private async reconcile(rt: PodRuntime): Promise<void> {
    if (rt.pod.metadata.deletionTimestamp || rt.gone) return this.terminate(rt);
    if (rt.pod.spec.hostNetwork) return this.runHostPod(rt);
    return this.runNetworkPod(rt);
  }

  private podPath(rt: PodRuntime, ...parts: string[]): string {
    return join(this.o.podsDir, `${rt.pod.metadata.namespace}_${rt.pod.metadata.name}_${rt.uid.slice(0, 8)}`, ...parts);
  }

  private async patchPodStatus(rt: PodRuntime, status: Record<string, unknown>): Promise<void> {
    const p = rt.pod.metadata;
    try {
      await this.client.request(`/api/v1/namespaces/${p.namespace}/pods/${p.name}/status`, {
        verb: 'patch',
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { metadata: { uid: p.uid }, status },
      });
    } catch (e) {
      // Deleted meanwhile: the next pass sees it.
      if (!(e instanceof ApiError && (e.status === 404 || e.status === 409))) throw e;
    }
  }

  private conditions(rt: PodRuntime, ready: boolean, initialized = true, reason?: string, message?: string): Record<string, unknown>[] {
    const t = ready ? rt.readySince ?? rt.startTime : rt.startTime;
    const extra = ready ? {} : { ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
    return [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: rt.startTime },
      { type: 'Initialized', status: initialized ? 'True' : 'False', lastTransitionTime: rt.startTime },
      { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: t, ...extra },
      { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: t, ...extra },
    ];
  }

  // ---- host-network pods: processes ---------------------------------------------------------

  private async configMapFiles(namespace: string, name: string): Promise<Record<string, string>> {
    const cm = await this.client.request<{ data?: Record<string, string> }>(`/api/v1/namespaces/${namespace}/configmaps/${name}`, { verb: 'get' });
    return cm.data ?? {};
  }

  /**
   * Brings a running pod's ConfigMap volumes up to date, as the kubelet does on its periodic sync
   * (there within about a minute; here every few seconds): each changed key is written to a
   * temporary file and renamed over the old one, so a reader never sees half a file. The node
   * agent applies a new configuration in place only when the operator hands its node that
   * configuration (docs/adr/0010); it reads these files then.
   */
  private async refreshVolumes(rt: PodRuntime): Promise<void> {
    if (rt.volumesRefreshedAt && Date.now() - rt.volumesRefreshedAt < 3_000) return;
    rt.volumesRefreshedAt = Date.now();
    for (const v of rt.pod.spec.volumes ?? []) {
      if (!v.configMap) continue;
      const dir = this.podPath(rt, 'volumes', v.name);
      if (!existsSync(dir)) continue;
      const files = await this.configMapFiles(rt.pod.metadata.namespace, v.configMap.name);
      for (const [k, text] of Object.entries(files)) {
        const path = join(dir, k);
        if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
        writeFileSync(`${path}.tmp`, text);
        renameSync(`${path}.tmp`, path);
      }
      for (const k of readdirSync(dir)) if (!(k in files) && !k.endsWith('.tmp')) unlinkSync(join(dir, k));
    }
  }

  /** Writes the pod's ConfigMap volumes, once, as the kubelet mounts them at pod start. */
  private async prepareVolumes(rt: PodRuntime): Promise<Record<string, string>> {
    const dirs: Record<string, string> = {};
    for (const v of rt.pod.spec.volumes ?? []) {
      if (!v.configMap) continue;
      const dir = this.podPath(rt, 'volumes', v.name);
      if (!existsSync(dir)) {
        const files = await this.configMapFiles(rt.pod.metadata.namespace, v.configMap.name);
        mkdirSync(dir, { recursive: true });
        for (const [k, text] of Object.entries(files)) writeFileSync(join(dir, k), text);
      }
      dirs[v.name] = dir;
    }
    return dirs;
  }

  /** A kubeconfig with a token of the pod's ServiceAccount, bound to the pod (as a projected token is). */
  private async podKubeconfig(rt: PodRuntime): Promise<string> {
    const path = this.podPath(rt, 'kubeconfig');
    if (existsSync(path)) return path;
    const sa = rt.pod.spec.serviceAccountName || 'default';
    const p = rt.pod.metadata;
    const tr = await this.client.request<{ status: { token: string } }>(`/api/v1/namespaces/${p.namespace}/serviceaccounts/${sa}/token`, {
      verb: 'create',
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86400, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: p.name, uid: p.uid } } },
    });
    mkdirSync(this.podPath(rt), { recursive: true });
    writeFileSync(path, toYAML({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'sandbox', cluster: { server: this.o.server, 'certificate-authority-data': this.o.caData } }],
      users: [{ name: `system:serviceaccount:${p.namespace}:${sa}`, user: { token: tr.status.token } }],
      contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: `system:serviceaccount:${p.namespace}:${sa}` } }],
      'current-context': 'sandbox',
    }), { mode: 0o600 });
    return path;
  }

  private resolveEnv(rt: PodRuntime, c: Container): Record<string, string> {
    const env: Record<string, string> = {};
    const p = rt.pod;
    for (const e of c.env ?? []) {
      if (e.value !== undefined) {
        env[e.name] = e.value;
        continue;
      }
      const fp = e.valueFrom?.fieldRef?.fieldPath;
      if (!fp) continue;
      const m = /^metadata\.(annotations|labels)\['(.+)'\]$/.exec(fp);
      const v = m ? p.metadata[m[1] as 'annotations' | 'labels']?.[m[2]!]
        : ({ 'spec.nodeName': p.spec.nodeName, 'metadata.name': p.metadata.name, 'metadata.namespace': p.metadata.namespace, 'metadata.uid': p.metadata.uid,
          'status.hostIP': rt.node.address, 'status.podIP': rt.node.address, 'spec.serviceAccountName': p.spec.serviceAccountName } as Record<string, string | undefined>)[fp];
      if (v !== undefined) env[e.name] = v;
    }
    return env;
  }

  /**
   * The container's mounts, translated: a DaemonSet container sees the node's directories under
   * its hostPath mounts; here each node's "host" directories are <state>/nodes/<node>/root/...,
   * and the ConfigMap volume is a directory the kubelet wrote. These are exactly the flags
   * `weft-node` offers for running outside a container.
   */
  private async hostPathFlags(rt: PodRuntime, c: Container, volumes: Record<string, string>): Promise<string[]> {
    const [program, sub] = c.command ?? [];
    const root = this.nodeRoot(rt.node.name);
    const configDir = volumes['weft-config'];
    if (program !== 'weft-node') return [];
    if (!configDir) throw new Error(`pod ${rt.key}: container ${c.name} has no weft-config ConfigMap volume`);
    const cfg = JSON.parse(readFileSync(join(configDir, configMapKeys.config), 'utf8')) as EffectiveConfig;
    if (sub === 'install-cni') {
      const template = JSON.parse(readFileSync(join(configDir, configMapKeys.conflist), 'utf8')) as CniConflist;
      const plugins = new Set<string>();
      for (const pl of template.plugins) {
        plugins.add(String(pl.type));
        const ipam = (pl as { ipam?: { type?: string } }).ipam;
        if (ipam?.type) plugins.add(ipam.type);
      }
      return ['--src-dir', CNI_PLUGIN_SOURCE, '--bin-dir', join(root, cfg.cni.binDir), '--config-dir', configDir, '--plugins', [...plugins].sort().join(',')];
    }
    if (sub === 'agent') {
      const run = join(root, nodeAgentRuntime.runDir);
      return [
        '--config-dir', configDir,
        '--kubeconfig', await this.podKubeconfig(rt),
        '--host-root', '/',
        '--cni-conf-dir', join(root, cfg.cni.confDir),
        '--ipam-data-dir', join(root, '/var/lib/cni/networks'),
        '--bird-config', join(run, 'bird.conf'),
        '--bird-socket', join(run, 'bird.ctl'),
        '--bird-pid-file', join(run, 'bird.pid'),
      ];
    }
    return [];
  }

  private argvOf(c: Container, extra: string[], rt: PodRuntime): string[] {
    const [program, ...rest] = c.command ?? [];
    const entry = program ? programs[program] : undefined;
    if (!entry) {
      throw new Error(`pod ${rt.key}: container ${c.name} runs ${JSON.stringify(c.command ?? c.image)}, which the sandbox cannot run (no container runtime; it runs only ${Object.keys(programs).join(', ')})`);
    }
    return programArgv(entry, [...rest, ...(c.args ?? []), ...extra]);
  }

  private spawnIn(rt: PodRuntime, c: Container, argv: string[], env: Record<string, string>): { child: ChildProcess; logFile: string } {
    const logFile = join(this.o.logsDir, `${rt.node.name}_${rt.pod.metadata.name}_${c.name}.log`);
    const fd = openSync(logFile, 'a');
    writeFileSync(fd, `### ${iso()} ip netns exec ${rt.node.netns} ${argv.join(' ')}\n`);
    // Its own process group, so Ctrl-C reaches only the sandbox, which stops things in order.
    const child = spawn('ip', ['netns', 'exec', rt.node.netns, ...argv], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', ...env },
      cwd: join(programs['weft-node']!, '..', '..', '..'),
    });
    closeSync(fd);
    child.unref();
    return { child, logFile };
  }

  private async runHostPod(rt: PodRuntime): Promise<void> {
    if (rt.child) return this.refreshVolumes(rt);
    if (rt.restartAt && Date.now() < rt.restartAt) return;
    const volumes = await this.prepareVolumes(rt);
    if (!rt.initDone) {
      rt.initStatus = [];
      for (const c of rt.pod.spec.initContainers ?? []) {
        const startedAt = iso();
        const { child, logFile } = this.spawnIn(rt, c, this.argvOf(c, await this.hostPathFlags(rt, c, volumes), rt), this.resolveEnv(rt, c));
        const code = await new Promise<number>((resolve) => {
          child.once('exit', (c2, sig) => resolve(c2 ?? (sig ? 128 : 1)));
          child.once('error', () => resolve(127));
        });
        const terminated = { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt, finishedAt: iso(), ...(code ? { message: logTail(logFile) } : {}) };
        rt.initStatus.push({ name: c.name, image: c.image, imageID: '', ready: code === 0, restartCount: rt.restartCount, started: false, state: { terminated } });
        if (code !== 0) {
          rt.restartCount++;
          rt.restartAt = Date.now() + this.backoffMs(rt);
          await this.patchPodStatus(rt, { phase: 'Pending', hostIP: rt.node.address, startTime: rt.startTime, conditions: this.conditions(rt, false, false, 'ContainersNotInitialized', `init container ${c.name} exited with ${code}`), initContainerStatuses: rt.initStatus });
          throw new Error(`init container ${c.name} exited with ${code}; see ${logFile}`);
        }
      }
      rt.initDone = true;
    }
    const c = rt.pod.spec.containers[0]!;
    const argv = this.argvOf(c, await this.hostPathFlags(rt, c, volumes), rt);
    const { child, logFile } = this.spawnIn(rt, c, argv, this.resolveEnv(rt, c));
    rt.child = child;
    rt.pid = child.pid;
    rt.logFile = logFile;
    rt.startedAt = iso();
    rt.ready = false;
    this.event(`kubelet ${rt.node.name}: started ${rt.key} container ${c.name} (pid ${child.pid}, log ${logFile})`);
    rt.childExited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        const exitCode = code ?? (signal ? 128 + (({ SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0) : 1);
        rt.lastState = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: rt.startedAt, finishedAt: iso(), message: logTail(logFile) } };
        rt.child = undefined;
        rt.ready = false;
        if (!rt.terminating && !this.stopped) {
          rt.restartCount++;
          rt.restartAt = Date.now() + this.backoffMs(rt);
          this.event(`kubelet ${rt.node.name}: ${rt.key} container ${c.name} exited with ${exitCode}; restarting in ${Math.round(this.backoffMs(rt) / 1000)}s (log ${logFile})`);
          void this.writeHostPodStatus(rt).catch(() => {});
        }
        resolve();
      });
    });
    await this.writeHostPodStatus(rt);
  }

  private backoffMs(rt: PodRuntime): number {
    return Math.min(30_000, 1000 * 2 ** Math.max(0, rt.restartCount - 1));
  }

  private async writeHostPodStatus(rt: PodRuntime): Promise<void> {
    const c = rt.pod.spec.containers[0]!;
    const running = !!rt.child;
    const state = running
      ? { running: { startedAt: rt.startedAt } }
      : { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting container ${c.name}` } };
    await this.patchPodStatus(rt, {
      phase: 'Running',
      hostIP: rt.node.address,
      hostIPs: [{ ip: rt.node.address }],
      podIP: rt.node.address,
      podIPs: [{ ip: rt.node.address }],
      startTime: rt.startTime,
      conditions: this.conditions(rt, rt.ready, true, running ? 'ContainersNotReady' : 'CrashLoopBackOff', running ? `containers with unready status: [${c.name}]` : undefined),
      initContainerStatuses: rt.initStatus ?? [],
      containerStatuses: [{
        name: c.name, image: c.image, imageID: '', ready: rt.ready, started: running, restartCount: rt.restartCount,
        ...(rt.pid ? { containerID: `sandbox://${rt.node.netns}/pid/${rt.pid}` } : {}),
        state,
        ...(rt.lastState ? { lastState: rt.lastState } : {}),
      }],
    });
  }

  /** readinessProbe httpGet on the node's address (hostNetwork), every 2 s. */
  private async probeAll(): Promise<void> {
    if (this.stopped) return;
    await Promise.all([...this.pods.values()].filter((rt) => rt.child && !rt.terminating).map(async (rt) => {
      const c = rt.pod.spec.containers[0]!;
      const get = c.readinessProbe?.httpGet;
      let ready = true;
      if (get) {
        const port = typeof get.port === 'number' ? get.port : c.ports?.find((p) => p.name === get.port)?.containerPort;
        const code = port === undefined ? 0 : await httpStatus(`http://${rt.node.address}:${port}${get.path ?? '/'}`, 1500);
        ready = code >= 200 && code < 400;
      }
      if (ready !== rt.ready) {
        rt.ready = ready;
        rt.readySince = iso();
        this.event(`kubelet ${rt.node.name}: ${rt.key} ${ready ? 'ready' : 'not ready'}`);
        await this.writeHostPodStatus(rt).catch((e) => this.event(`kubelet: status of ${rt.key}: ${(e as Error).message}`));
      }
    }));
  }

  // ---- other pods: a network namespace by CNI ADD ----------------------------------------------

  private netnsName(rt: PodRuntime): string {
    return `${this.o.podNetnsPrefix}${rt.pod.metadata.namespace}-${rt.pod.metadata.name}`.slice(0, 200);
  }

  private cniPath(rt: PodRuntime): string[] {
    return [join(this.nodeRoot(rt.node.name), RUNTIME_CNI_BIN_DIR)];
  }

  /** The first *.conflist in the node's CNI conf dir, as containerd picks it. */
  private conflist(rt: PodRuntime): { path: string; conflist: CniConflist } | undefined {
    const dir = join(this.nodeRoot(rt.node.name), RUNTIME_CNI_CONF_DIR);
    if (!existsSync(dir)) return undefined;
    const file = readdirSync(dir).filter((f) => (f.endsWith('.conflist') || f.endsWith('.conf')) && !f.startsWith('.')).sort()[0];
    if (!file) return undefined;
    const path = join(dir, file);
    return { path, conflist: JSON.parse(readFileSync(path, 'utf8')) as CniConflist };
  }

  private async runNetworkPod(rt: PodRuntime): Promise<void> {
    if (rt.ip) return;
    const cl = this.conflist(rt);
    if (!cl) {
      const message = `network is not ready: no CNI configuration in ${join(this.nodeRoot(rt.node.name), RUNTIME_CNI_CONF_DIR)} yet (the weft-node agent writes it)`;
      if (rt.lastError !== message) {
        rt.lastError = message;
        await this.patchPodStatus(rt, { phase: 'Pending', hostIP: rt.node.address, conditions: this.conditions(rt, false, true, 'NetworkNotReady', message) });
      }
      return;
    }
    const netns = this.netnsName(rt);
    const runtime = { containerId: rt.uid, netnsPath: `/run/netns/${netns}`, ifName: 'eth0', hostNetns: rt.node.netns, cniPath: this.cniPath(rt) };
    if (!rt.netns) {
      await this.o.addNetns(netns);
      await must(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
      rt.netns = netns;
    }
    let result: CniResult;
    try {
      result = await cniAdd(cl.conflist, runtime);
    } catch (e) {
      const message = `CNI ADD with ${cl.path}: ${(e as Error).message}`;
      // As a kubelet does: tear the half-made sandbox down and try again on the next pass.
      await cniDel(cl.conflist, runtime).catch(() => {});
      await this.patchPodStatus(rt, { phase: 'Pending', hostIP: rt.node.address, conditions: this.conditions(rt, false, true, 'FailedCreatePodSandBox', message) });
      throw new Error(message);
    }
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD for ${rt.key} returned no IP: ${JSON.stringify(result)}`);
    mkdirSync(this.podPath(rt), { recursive: true });
    writeFileSync(this.podPath(rt, 'cni.json'), JSON.stringify({ conflist: cl.conflist, runtime, result }, null, 2));
    rt.ip = ip;
    rt.ready = true;
    rt.readySince = iso();
    this.event(`kubelet ${rt.node.name}: ${rt.key} has ${ip} (netns ${netns})`);
    await this.patchPodStatus(rt, {
      phase: 'Running',
      hostIP: rt.node.address,
      hostIPs: [{ ip: rt.node.address }],
      podIP: ip,
      podIPs: result.ips!.map((a) => ({ ip: a.address.split('/')[0] })),
      startTime: rt.startTime,
      conditions: this.conditions(rt, true),
      containerStatuses: rt.pod.spec.containers.map((c) => ({
        name: c.name, image: c.image, imageID: '', ready: true, started: true, restartCount: 0,
        containerID: `sandbox://${netns}`,
        // Not a real container: nothing runs; the pod is its network namespace.
        state: { running: { startedAt: rt.readySince } },
      })),
    });
  }

  /** The pod's network namespace, once it has an address. */
  podNetns(namespace: string, name: string): { netns: string; ip: string; node: SandboxNode } | undefined {
    for (const rt of this.pods.values()) {
      if (rt.pod.metadata.namespace === namespace && rt.pod.metadata.name === name && rt.netns && rt.ip && !rt.terminating) {
        return { netns: rt.netns, ip: rt.ip, node: rt.node };
      }
    }
    return undefined;
  }

  // ---- deletion ------------------------------------------------------------------------------

  private async stopProcess(rt: PodRuntime, graceMs: number): Promise<void> {
    const child = rt.child;
    if (!child?.pid) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await rt.childExited;
    clearTimeout(timer);
  }

  private async terminate(rt: PodRuntime): Promise<void> {
    rt.terminating = true;
    const grace = (rt.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    if (rt.child) {
      this.event(`kubelet ${rt.node.name}: stopping ${rt.key} (pod deleted)`);
      await this.stopProcess(rt, grace);
    }
    if (rt.netns) {
      const saved = this.podPath(rt, 'cni.json');
      if (existsSync(saved)) {
        const s = JSON.parse(readFileSync(saved, 'utf8')) as { conflist: CniConflist; runtime: Parameters<typeof cniDel>[1]; result: CniResult };
        await cniDel(s.conflist, s.runtime, s.result).catch((e) => this.event(`kubelet ${rt.node.name}: CNI DEL of ${rt.key}: ${(e as Error).message}`));
      }
      await this.o.delNetns(rt.netns);
      rt.netns = undefined;
      rt.ip = undefined;
    }
    if (!rt.gone) {
      const p = rt.pod.metadata;
      try {
        await this.client.request(`/api/v1/namespaces/${p.namespace}/pods/${p.name}`, {
          verb: 'delete',
          method: 'DELETE',
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: p.uid } },
        });
      } catch (e) {
        if (!(e instanceof ApiError && (e.status === 404 || e.status === 409))) throw e;
      }
    }
    this.pods.delete(rt.uid);
  }

  /** Stops every process it started (SIGTERM, SIGKILL after graceMs) and its timers. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.all([...this.pods.values()].map((rt) => {
      rt.terminating = true;
      return this.stopProcess(rt, graceMs);
    }));
    this.client.close();
  }

  /** Process ids of the running containers, by pod. */
  processes(): Record<string, number> {
    return Object.fromEntries([...this.pods.values()].filter((rt) => rt.child?.pid).map((rt) => [rt.key, rt.child!.pid!]));
  }

  /** Log files of the containers, for error messages. */
  logFiles(): string[] {
    return [...this.pods.values()].map((rt) => rt.logFile).filter((f): f is string => !!f);
  }
}
