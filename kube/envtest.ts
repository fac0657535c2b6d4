// A real Kubernetes control plane — etcd + kube-apiserver, and on request kube-controller-manager,
// kube-scheduler and kwok — for integration tests and local sandboxes, as controller-runtime ships
// envtest. It runs binaries it is given (ControlPlaneOptions.binDir, else $KUBE_TESTENV_ASSETS);
// building them is the embedding project's business. Everything lives in one temp dir and dies
// with the owning process, however it ends.
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYAML } from 'yaml';

/** Environment variable naming the directory of the control-plane binaries (envtest's KUBEBUILDER_ASSETS). */
export const ASSETS_ENV = 'KUBE_TESTENV_ASSETS';

export interface ControlPlaneOptions {
  /**
   * Directory holding etcd, kube-apiserver, kubectl (and kube-controller-manager,
   * kube-scheduler, kwok with kwok-stages.yaml when those are requested). Default $KUBE_TESTENV_ASSETS.
   */
  binDir?: string;
  /** Cluster, context and CA name in the kubeconfig, etcd member name, temp dir prefix. Default "testenv". */
  name?: string;
  /** Keep the dir (logs, certs, etcd data) after stop(). Default: $KUBE_TESTENV_KEEP is "1". */
  keep?: boolean;
  /** Start kube-controller-manager (needed for DaemonSets, ServiceAccounts, GC of owned objects). */
  controllerManager?: boolean;
  /** Start kube-scheduler (needed for pods to get a node). */
  scheduler?: boolean;
  /** Start kwok, which keeps fake nodes Ready and runs their pods. */
  kwok?: boolean;
  /** Run every process inside this network namespace (`ip netns exec`); needs listenAddress. */
  netns?: string;
  /** Address every component listens on; defaults to 127.0.0.1. */
  listenAddress?: string;
  /** kube-apiserver --etcd-compaction-interval, e.g. '5m' (its default) or '0' to disable. */
  etcdCompactionInterval?: string;
  /** kube-apiserver --watch-cache; on by default like a real cluster. */
  watchCache?: boolean;
  /** More kube-apiserver flags, appended last so they win. */
  apiServerFlags?: string[];
  /** Use this dir instead of a fresh temp dir (e.g. a fixed state dir a developer script reuses). */
  dir?: string;
  /** How long to wait for everything to become ready. */
  startTimeoutMs?: number;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ControlPlane {
  /** The temp dir holding certs, kubeconfigs, etcd data and logs/<component>.log. */
  readonly dir: string;
  readonly binDir: string;
  readonly kubeconfigPath: string;
  /** https://ADDRESS:PORT of kube-apiserver. */
  readonly server: string;
  /** http://ADDRESS:PORT of etcd's client endpoint. */
  readonly etcdEndpoint: string;
  readonly kubeConfig: KubeConfig;
  /** Runs the cached kubectl against this control plane; rejects on a non-zero exit unless allowFailure. */
  kubectl(args: string[], opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<KubectlResult>;
  /** Stops every process and removes the dir (unless kept: ControlPlaneOptions.keep). Idempotent. */
  stop(): Promise<void>;
  /** Stops kube-apiserver and starts it again on the same port with the same etcd. */
  restartApiServer(): Promise<void>;
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  /** Compacts etcd up to its current revision and returns that revision: older resourceVersions then get 410 Gone. */
  compact(): Promise<number>;
  /** Current etcd revision (what kube-apiserver hands out as resourceVersion). */
  etcdRevision(): Promise<number>;
  /** Process ids, for measuring (RSS) or for fault-injection tests. */
  pids(): Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Building and locating the binaries

// ---------------------------------------------------------------------------------------------
// Cleanup that also runs when the test fails, throws, or is interrupted

const live = new Set<ControlPlaneImpl>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const cp of live) cp.killSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const cp of live) cp.killSync();
      process.removeListener(signal, onSignal);
      // Someone else listening decides how to exit; otherwise die of the signal as if we had never caught it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function logTail(file: string, n = 25): string {
  try {
    return lastLines(readFileSync(file, 'utf8'), n);
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Ports the kernel says are free on address; all held open together so none is handed out twice. */
async function freePorts(address: string, count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import('node:net').Server>((res, rej) => {
        const s = createServer();
        s.once('error', rej);
        s.listen(0, address, () => res(s));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((res, rej) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          rej(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stderr}`));
          return;
        }
        res({ stdout, stderr, code: error ? (error.code as number) : 0 });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

interface TLS {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
}

function httpGet(url: string, tls: TLS = {}, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const u = new URL(url);
    const opts = {
      method,
      timeout: 5000,
      headers: body ? { 'content-type': 'application/json' } : {},
      ...(u.protocol === 'https:' ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure } : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (resp) => {
      let data = '';
      resp.setEncoding('utf8');
      resp.on('data', (d: string) => (data += d));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', rej);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// Certificates

const OPENSSL_CONFIG = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n';

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir, env: { ...process.env, OPENSSL_CONF: join(dir, 'openssl.cnf') } });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

interface Pki {
  caCert: string;
  caKey: string;
  saKey: string;
  saPub: string;
  serving: { cert: string; key: string };
  clients: Record<string, { cert: string; key: string }>;
}

/** One CA, a serving cert for kube-apiserver, a client cert per component, an ECDSA service-account key pair. */
async function makePki(dir: string, listenAddress: string, name: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'openssl.cnf'), OPENSSL_CONFIG);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', `/CN=${name}-ca`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  const leaf = (name: string, subj: string, usage: string, san?: string) =>
    openssl(dir, ['req', '-x509', ...ec, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-keyout', `${name}.key`, '-out', `${name}.crt`,
      '-days', '3650', '-subj', subj, '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment', '-addext', `extendedKeyUsage=${usage}`,
      ...(san ? ['-addext', `subjectAltName=${san}`] : [])]);
  const sans = [
    `IP:${listenAddress}`, 'IP:127.0.0.1', 'IP:10.96.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local',
  ];
  const clients = {
    admin: `/O=system:masters/CN=${name}-admin`,
    'kube-controller-manager': '/CN=system:kube-controller-manager',
    'kube-scheduler': '/CN=system:kube-scheduler',
    // kwok writes node and pod status for thousands of objects; admin keeps RBAC out of its way.
    kwok: '/O=system:masters/CN=kwok',
  };
  await Promise.all([
    leaf('apiserver', '/CN=kube-apiserver', 'serverAuth', [...new Set(sans)].join(',')),
    ...Object.entries(clients).map(([name, subj]) => leaf(name, subj, 'clientAuth')),
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sa.key']).then(() =>
      openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']),
    ),
  ]);
  const p = (f: string) => join(dir, f);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    serving: { cert: p('apiserver.crt'), key: p('apiserver.key') },
    clients: Object.fromEntries(Object.keys(clients).map((n) => [n, { cert: p(`${n}.crt`), key: p(`${n}.key`) }])),
  };
}

function writeKubeconfig(path: string, name: string, server: string, caCert: string, client: { cert: string; key: string }, user: string): void {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': b64(caCert) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) } }],
    contexts: [{ name, context: { cluster: name, user, namespace: 'default' } }],
    'current-context': name,
  };
  writeFileSync(path, toYAML(config), { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  exitCode: number | null | undefined;
  logFile: string;
}

class ControlPlaneImpl implements ControlPlane {
  readonly dir: string;
  readonly binDir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly etcdEndpoint: string;
  readonly kubeConfig: KubeConfig;
  private procs = new Map<string, Proc>();
  private stopped = false;
  private finished = false;
  private readonly keepDir: boolean;
  private readonly ownsDir: boolean;
  private readonly apiServerArgs: string[];
  private reaper: ChildProcess | undefined;
  private readonly adminTLS: TLS;

  constructor(
    private readonly opts: ControlPlaneOptions,
    init: { dir: string; ownsDir: boolean; keep: boolean; binDir: string; server: string; etcdEndpoint: string; apiServerArgs: string[]; kubeconfigPath: string; adminTLS: TLS },
  ) {
    this.dir = init.dir;
    this.ownsDir = init.ownsDir;
    this.binDir = init.binDir;
    this.server = init.server;
    this.etcdEndpoint = init.etcdEndpoint;
    this.apiServerArgs = init.apiServerArgs;
    this.kubeconfigPath = init.kubeconfigPath;
    this.adminTLS = init.adminTLS;
    this.keepDir = init.keep;
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(this.kubeconfigPath);
  }

  spawnComponent(name: string, binary: string, args: string[]): Proc {
    const logFile = join(this.dir, 'logs', `${name}.log`);
    const fd = openSync(logFile, 'a');
    const bin = join(this.binDir, binary);
    const [cmd, argv] = this.opts.netns ? ['ip', ['netns', 'exec', this.opts.netns, bin, ...args]] : [bin, args];
    appendFileSync(logFile, `### ${new Date().toISOString()} ${cmd} ${argv.join(' ')}\n`);
    // detached: its own process group, so a kill reaches it and nothing it forks;
    // and a Ctrl-C on the terminal reaches only us, and we decide the order things stop in.
    const child = spawn(cmd, argv as string[], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    // Never keep the test process alive for a forgotten control plane: the exit handler reaps it.
    child.unref();
    const proc: Proc = {
      name,
      child,
      logFile,
      exitCode: undefined,
      exited: new Promise((res) => {
        child.once('exit', (code, signal) => {
          proc.exitCode = code ?? (signal ? -1 : null);
          res(proc.exitCode);
        });
        child.once('error', (e) => {
          appendFileSync(logFile, `spawn failed: ${e.message}\n`);
          proc.exitCode = -1;
          res(-1);
        });
      }),
    };
    this.procs.set(name, proc);
    this.writePids();
    return proc;
  }

  private writePids(): void {
    const pids = [...this.procs.values()].map((p) => p.child.pid).filter((p): p is number => !!p);
    writeFileSync(join(this.dir, 'pids'), pids.join('\n') + '\n');
  }

  /**
   * A shell that outlives us if we are SIGKILLed (no exit handler runs then): it waits for our pid
   * to disappear and kills what `pids` lists. It exits by itself once `pids` is gone (normal stop).
   */
  startReaper(): void {
    this.writePids();
    const script = `while kill -0 ${process.pid} 2>/dev/null && [ -f pids ]; do sleep 1; done
[ -f pids ] || exit 0
for p in $(cat pids); do kill -KILL -$p 2>/dev/null; done
${this.ownsDir && !this.keepDir ? `cd / && rm -rf '${this.dir}'` : 'rm -f pids'}`;
    this.reaper = spawn('sh', ['-c', script], { cwd: this.dir, detached: true, stdio: 'ignore' });
    this.reaper.unref();
  }

  pids(): Record<string, number> {
    return Object.fromEntries([...this.procs.values()].filter((p) => p.exitCode === undefined && p.child.pid).map((p) => [p.name, p.child.pid!]));
  }

  /** Throws with the component's log if it died. */
  assertRunning(name: string): void {
    const p = this.procs.get(name);
    if (p && p.exitCode !== undefined) {
      throw new Error(`${name} exited with ${p.exitCode} during startup; its log (${p.logFile}) ends with:\n${logTail(p.logFile)}`);
    }
  }

  async waitFor(what: string, components: string[], deadline: number, probe: () => Promise<boolean>): Promise<void> {
    let lastError = '';
    for (;;) {
      for (const c of components) this.assertRunning(c);
      try {
        if (await probe()) return;
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (Date.now() > deadline) {
        const logs = components.map((c) => `--- ${c} (${this.procs.get(c)?.logFile}):\n${logTail(this.procs.get(c)?.logFile ?? '')}`).join('\n');
        throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}\n${logs}`);
      }
      await sleep(100);
    }
  }

  async apiGet(path: string): Promise<{ status: number; body: string }> {
    return httpGet(this.server + path, this.adminTLS);
  }

  async startApiServer(deadline = Date.now() + (this.opts.startTimeoutMs ?? 60_000)): Promise<void> {
    if (this.procs.has('kube-apiserver') && this.procs.get('kube-apiserver')!.exitCode === undefined) {
      throw new Error('kube-apiserver is already running');
    }
    this.spawnComponent('kube-apiserver', 'kube-apiserver', this.apiServerArgs);
    await this.waitFor('kube-apiserver /readyz', ['etcd', 'kube-apiserver'], deadline, async () => (await this.apiGet('/readyz')).status === 200);
  }

  async stopApiServer(): Promise<void> {
    await this.stopProc('kube-apiserver');
  }

  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  async stopProc(name: string, graceMs = 10_000): Promise<void> {
    const p = this.procs.get(name);
    if (!p || p.exitCode !== undefined || !p.child.pid) return;
    // Unref'd children do not keep the event loop alive; while we wait for this one, it must.
    p.child.ref();
    try {
      process.kill(-p.child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  async etcdRevision(): Promise<number> {
    // etcd's gRPC gateway: JSON over HTTP, bytes as base64, int64 as strings.
    const r = await httpGet(`${this.etcdEndpoint}/v3/kv/range`, {}, 'POST', JSON.stringify({ key: Buffer.from('\0').toString('base64'), limit: 1, keys_only: true }));
    if (r.status !== 200) throw new Error(`etcd range: HTTP ${r.status}: ${r.body}`);
    return Number(JSON.parse(r.body).header.revision);
  }

  async compact(): Promise<number> {
    const revision = await this.etcdRevision();
    const r = await httpGet(`${this.etcdEndpoint}/v3/kv/compaction`, {}, 'POST', JSON.stringify({ revision: String(revision), physical: true }));
    if (r.status !== 200) throw new Error(`etcd compaction at ${revision}: HTTP ${r.status}: ${r.body}`);
    return revision;
  }

  async kubectl(args: string[], opts: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<KubectlResult> {
    const r = await run(join(this.binDir, 'kubectl'), ['--kubeconfig', this.kubeconfigPath, ...args], {
      input: opts.input,
      timeoutMs: opts.timeoutMs,
      env: { ...process.env, KUBECONFIG: this.kubeconfigPath, KUBECACHEDIR: join(this.dir, 'kubectl-cache') },
    });
    if (r.code !== 0 && !opts.allowFailure) {
      throw new Error(`kubectl ${args.join(' ')} exited with ${r.code}:\n${r.stderr.trim()}`);
    }
    return r;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Clients first so they do not log a storm of connection errors, then the server, then storage.
    await Promise.all(['kwok', 'kube-scheduler', 'kube-controller-manager'].map((n) => this.stopProc(n, 5000)));
    await this.stopProc('kube-apiserver', 10_000);
    await this.stopProc('etcd', 5000);
    this.cleanupFiles();
    live.delete(this);
  }

  /** For exit/signal handlers: no awaiting possible, so SIGKILL everything and remove the files. */
  killSync(): void {
    if (this.finished) return;
    this.stopped = true;
    for (const p of this.procs.values()) {
      if (p.exitCode === undefined && p.child.pid) {
        try {
          process.kill(-p.child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    this.cleanupFiles();
    live.delete(this);
  }

  private cleanupFiles(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.reaper?.pid && this.reaper.exitCode === null) {
      try {
        process.kill(-this.reaper.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (this.ownsDir && !this.keepDir) rmSync(this.dir, { recursive: true, force: true });
    else rmSync(join(this.dir, 'pids'), { force: true });
    if (this.keepDir) process.stderr.write(`testenv: kept ${this.dir} (keep)\n`);
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Starts a control plane and resolves once it serves (/readyz, and each requested component healthy).
 * Call stop() when done; if you do not, or the process dies, the exit handlers and a reaper clean up.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = opts.binDir ?? process.env[ASSETS_ENV];
  if (!binDir || !existsSync(join(binDir, 'kube-apiserver'))) {
    throw new Error(`startControlPlane: no control-plane binaries${binDir ? ` in ${binDir}` : ''}: pass binDir or set ${ASSETS_ENV} to a directory holding etcd, kube-apiserver and kubectl`);
  }
  const name = opts.name ?? 'testenv';
  if (opts.netns && !opts.listenAddress) {
    throw new Error(`startControlPlane: netns '${opts.netns}' needs listenAddress (an address of that namespace the test process can reach)`);
  }
  const address = opts.listenAddress ?? '127.0.0.1';
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  installExitHandlers();
  if (opts.netns) {
    // Even a namespace's own addresses are reached through lo; a new namespace has it down.
    const up = spawnSync('ip', ['-n', opts.netns, 'link', 'set', 'lo', 'up'], { encoding: 'utf8', timeout: 30_000 });
    if (up.status !== 0) throw new Error(`startControlPlane: cannot use network namespace '${opts.netns}': ${up.stderr.trim()}`);
  }

  const ownsDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `${name}-cp-`));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'pki'), { recursive: true });

  // Inside a namespace of our own nothing else listens, and the host's free ports say nothing about it.
  const [etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort] = opts.netns
    ? [2379, 2380, 6443, 10257, 10259, 10247]
    : await freePorts(address, 6);
  const server = `https://${hostPort(address, apiPort!)}`;
  const etcdEndpoint = `http://${hostPort(address, etcdPort!)}`;

  const pki = await makePki(join(dir, 'pki'), address, name);
  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  writeKubeconfig(kubeconfigPath, name, server, pki.caCert, pki.clients.admin!, 'admin');
  for (const c of ['kube-controller-manager', 'kube-scheduler', 'kwok']) {
    writeKubeconfig(join(dir, `${c}.kubeconfig`), name, server, pki.caCert, pki.clients[c]!, c);
  }

  const apiServerArgs = [
    `--etcd-servers=${etcdEndpoint}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${apiPort}`,
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    `--tls-cert-file=${pki.serving.cert}`,
    `--tls-private-key-file=${pki.serving.key}`,
    `--client-ca-file=${pki.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    // The node agent DaemonSet runs privileged, as it must to program the kernel.
    '--allow-privileged=true',
    `--watch-cache=${opts.watchCache ?? true}`,
    `--etcd-compaction-interval=${opts.etcdCompactionInterval ?? '5m'}`,
    '--profiling=false',
    // With 0 (the default) the HTTP server waits out its whole shutdown timeout for open watches,
    // so every stop or restart with a client attached took 60s; this closes them within 2s.
    '--shutdown-watch-termination-grace-period=2s',
    // Thousands of fake nodes are created at once by tests; a real cluster's defaults would throttle them.
    '--max-requests-inflight=1000',
    '--max-mutating-requests-inflight=500',
    '--v=1',
    ...(opts.apiServerFlags ?? []),
  ];

  const cp = new ControlPlaneImpl(opts, {
    dir,
    ownsDir,
    keep: opts.keep ?? process.env.KUBE_TESTENV_KEEP === '1',
    binDir,
    server,
    etcdEndpoint,
    apiServerArgs,
    kubeconfigPath,
    adminTLS: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clients.admin!.cert), key: readFileSync(pki.clients.admin!.key) },
  });
  live.add(cp);
  cp.startReaper();

  try {
    const peer = `http://${hostPort(address, peerPort!)}`;
    cp.spawnComponent('etcd', 'etcd', [
      `--name=${name}`,
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdEndpoint}`,
      `--advertise-client-urls=${etcdEndpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${name}=${peer}`,
      // Test data is thrown away: durability costs seconds per test and buys nothing.
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=8589934592',
      '--log-level=warn',
    ]);
    // kube-apiserver retries etcd itself; starting both at once saves etcd's startup time.
    await cp.startApiServer(deadline);
    await cp.waitFor('namespace "default"', ['kube-apiserver'], deadline, async () => (await cp.apiGet('/api/v1/namespaces/default')).status === 200);

    const waits: Promise<void>[] = [];
    if (opts.controllerManager) {
      cp.spawnComponent('kube-controller-manager', 'kube-controller-manager', [
        `--kubeconfig=${join(dir, 'kube-controller-manager.kubeconfig')}`,
        `--authentication-kubeconfig=${join(dir, 'kube-controller-manager.kubeconfig')}`,
        `--authorization-kubeconfig=${join(dir, 'kube-controller-manager.kubeconfig')}`,
        `--bind-address=${address}`,
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        '--use-service-account-credentials=true',
        '--leader-elect=false',
        // A DaemonSet over thousands of nodes is thousands of pod creations.
        '--kube-api-qps=500',
        '--kube-api-burst=1000',
        '--v=1',
      ]);
      const kcmURL = `https://${hostPort(address, kcmPort!)}/healthz`;
      waits.push(
        cp.waitFor('kube-controller-manager /healthz', ['kube-controller-manager'], deadline, async () => (await httpGet(kcmURL, { insecure: true })).status === 200),
        // Pods cannot be created before their namespace's default ServiceAccount exists.
        cp.waitFor('ServiceAccount default/default', ['kube-controller-manager'], deadline, async () => (await cp.apiGet('/api/v1/namespaces/default/serviceaccounts/default')).status === 200),
      );
    }
    if (opts.scheduler) {
      const schedConfig = join(dir, 'kube-scheduler.yaml');
      writeFileSync(schedConfig, toYAML({
        apiVersion: 'kubescheduler.config.k8s.io/v1',
        kind: 'KubeSchedulerConfiguration',
        clientConnection: { kubeconfig: join(dir, 'kube-scheduler.kubeconfig'), qps: 500, burst: 1000 },
        leaderElection: { leaderElect: false },
      }));
      cp.spawnComponent('kube-scheduler', 'kube-scheduler', [
        `--config=${schedConfig}`,
        `--authentication-kubeconfig=${join(dir, 'kube-scheduler.kubeconfig')}`,
        `--authorization-kubeconfig=${join(dir, 'kube-scheduler.kubeconfig')}`,
        `--bind-address=${address}`,
        `--secure-port=${schedPort}`,
        `--cert-dir=${join(dir, 'scheduler-certs')}`,
        '--v=1',
      ]);
      const url = `https://${hostPort(address, schedPort!)}/healthz`;
      waits.push(cp.waitFor('kube-scheduler /healthz', ['kube-scheduler'], deadline, async () => (await httpGet(url, { insecure: true })).status === 200));
    }
    if (opts.kwok) {
      const kwokConfig = join(dir, 'kwok.yaml');
      // kwok's default of 4 workers per stage made Ready lag a minute behind the creation of
      // 2000 nodes; its client is not rate-limited, so more workers is all it takes.
      writeFileSync(kwokConfig, toYAML({
        apiVersion: 'config.kwok.x-k8s.io/v1alpha1',
        kind: 'KwokConfiguration',
        options: { nodePlayStageParallelism: 16, podPlayStageParallelism: 16, nodeLeaseParallelism: 16 },
      }));
      cp.spawnComponent('kwok', 'kwok', [
        `--kubeconfig=${join(dir, 'kwok.kubeconfig')}`,
        `--config=${join(binDir, 'kwok-stages.yaml')}`,
        `--config=${kwokConfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        // Its health endpoint comes up only after its controllers started: our readiness signal.
        `--server-address=${hostPort(address, kwokPort!)}`,
        '--node-lease-duration-seconds=40',
        // Pod IPs kwok hands out are data only; nothing is ever routed to them.
        '--cidr=10.244.0.0/16',
      ]);
      const url = `http://${hostPort(address, kwokPort!)}/healthz`;
      waits.push(cp.waitFor('kwok /healthz', ['kwok'], deadline, async () => (await httpGet(url)).status === 200));
    }
    await Promise.all(waits);
    return cp;
  } catch (e) {
    await cp.stop();
    throw e;
  }
}
