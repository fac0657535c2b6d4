// `weft sandbox up` / `down`: a Weft cluster on this one machine, in network namespaces, from
// nothing to a tested pod network. See cli/sandbox/README.md for what is real and what stands in.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Installation, NodeNetwork } from '../../api/index.ts';
import { annotations } from '../../api/index.ts';
import { validateInstallation } from '../../api/validation/validate.ts';
import { buildFacts } from '../../operator/controllers/facts.ts';
import { KubeClient, isNotFound, type KubeObject } from '../../kube/index.ts';
import { defaultRenderOptions, formatExplanation, render } from '../../render/index.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { must, run, sleep } from './exec.ts';
import { DocumentError, loadDocuments } from '../load-documents.ts';
import { connectivityMatrix, pathMtu, throughput, type CheckResult, type Endpoint } from './checks.ts';
import { leftovers, sweep, type SweepReport } from './cleanup.ts';
import { SandboxKubelet } from './kubelet.ts';
import { buildPrograms, programArgv, programMode, programs, repoRoot } from './paths.ts';
import { preflight } from './preflight.ts';
import { Progress } from './progress.ts';
import { alive, ownerAlive, layout, newRunId, readState, stateDir, writeState, type SandboxState } from './state.ts';
import { buildTopology, hostConflicts, planTopology, type Topology } from './topology.ts';

export interface UpOptions {
  filename: string;
  once: boolean;
  /** Seconds to wait for the Installation to become Ready. */
  timeout: number;
  nodes: number;
}

export class SandboxError extends Error {}

const DEMO_NAMESPACE = 'default';
const DEMO_LABEL = 'sandbox.weft.dev/demo';

interface Running {
  state: SandboxState;
  topology: Topology;
  cp?: ControlPlane;
  kubelet?: SandboxKubelet;
  operator?: ChildProcess;
  operatorLog?: string;
  torn: boolean;
}

function tail(file: string, n = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

function cond(obj: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } } | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

/** Stops everything in order (agents and operator first, then the API, then the kernel objects). */
async function teardown(r: Running, progress: Progress): Promise<SweepReport> {
  if (r.torn) return { namespaces: [], hostLinks: [], processes: 0, removedDir: false, problems: [] };
  r.torn = true;
  r.state.phase = 'stopping';
  try {
    writeState(r.state);
  } catch {
    /* dir already gone */
  }
  const step = progress.step('stopping the sandbox');
  await r.kubelet?.stop(5000).catch(() => {});
  if (r.operator?.pid && r.operator.exitCode === null) {
    const exited = new Promise((res) => r.operator!.once('exit', res));
    try {
      process.kill(-r.operator.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([exited, sleep(5000)]);
  }
  await r.cp?.stop().catch(() => {});
  const report = sweep(r.state);
  const summary = `removed ${report.namespaces.length} namespaces, ${report.hostLinks.length} host link, ${report.processes} leftover processes${report.removedDir ? `, ${r.state.dir}` : ''}`;
  if (report.problems.length) step.fail(`${summary}; problems: ${report.problems.join('; ')}`);
  else step.done(summary);
  return report;
}

/** Synchronous last resort (exit handler, second Ctrl-C): kill and delete by the state record. */
function emergencyCleanup(r: Running): void {
  if (r.torn) return;
  r.torn = true;
  for (const pid of Object.values(r.kubelet?.processes() ?? {})) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  sweep(r.state);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, onWait?: () => void): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = (e as Error).message;
    }
    onWait?.();
    if (Date.now() > deadline) throw new SandboxError(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
    await sleep(500);
  }
}

function startOperator(r: Running, kubeconfig: string): void {
  const log = join(layout(r.state.dir).logs, 'weft-operator.log');
  const fd = openSync(log, 'a');
  // As its Deployment runs it (hostNetwork), here on the control plane's "machine"; one
  // replica, so no leader election to wait for.
  const argv = programArgv(programs['weft-operator']!, ['--kubeconfig', kubeconfig, '--leader-elect=false']);
  const child = spawn('ip', ['netns', 'exec', r.topology.controlPlane.netns, ...argv], { cwd: repoRoot, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  r.operator = child;
  r.operatorLog = log;
  if (child.pid) {
    r.state.processGroups['weft-operator'] = child.pid;
    writeState(r.state);
  }
}

function operatorDied(r: Running): void {
  if (r.operator && r.operator.exitCode !== null) {
    throw new SandboxError(`weft-operator exited with ${r.operator.exitCode}; ${r.operatorLog} ends with:\n${tail(r.operatorLog!)}`);
  }
}

async function diagnostics(client: KubeClient, r: Running): Promise<string> {
  const out: string[] = [];
  try {
    const inst = await client.request<Installation>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
    for (const c of inst.status?.conditions ?? []) out.push(`  Installation ${c.type}=${c.status} ${c.reason}: ${c.message}`);
  } catch (e) {
    out.push(`  Installation: ${(e as Error).message}`);
  }
  try {
    const pods = await client.request<{ items: KubeObject[] }>('/api/v1/namespaces/weft-system/pods', { verb: 'list' });
    if (!pods.items.length) out.push('  no pods in weft-system (is the DaemonSet there? kubectl -n weft-system get ds)');
    // The pod template's hash: a pod of another one needs replacing (docs/adr/0010).
    const hashKey = annotations.specHash;
    let want: string | undefined;
    try {
      const ds = await client.request<{ spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }>('/apis/apps/v1/namespaces/weft-system/daemonsets/weft-node', { verb: 'get' });
      want = ds.spec?.template?.metadata?.annotations?.[hashKey];
    } catch {
      /* reported by the pod list */
    }
    let outdated = 0;
    for (const p of pods.items) {
      const st = p.status as { phase?: string; conditions?: { type: string; status: string; message?: string }[] } | undefined;
      const hash = p.metadata?.annotations?.[hashKey];
      if (want && hash !== want) outdated++;
      out.push(`  pod ${p.metadata?.name} on ${(p.spec as { nodeName?: string })?.nodeName ?? '(unscheduled)'}: ${st?.phase ?? '?'} Ready=${st?.conditions?.find((c) => c.type === 'Ready')?.status ?? '?'} template ${hash?.slice(0, 12) ?? '?'}${want && hash !== want ? ` (outdated: the DaemonSet template has ${want.slice(0, 12)})` : ''}`);
    }
    if (outdated) {
      out.push(`  ${outdated} agent pod(s) run an outdated configuration. The DaemonSet uses updateStrategy OnDelete, so only the operator's rollout replaces them; it did not (is the health-gated rollout in this build?). By hand: kubectl -n weft-system delete pod <name>`);
    }
    const nns = await client.request<{ items: NodeNetwork[] }>('/apis/network.weft.dev/v1/nodenetworks', { verb: 'list' });
    for (const n of nns.items) {
      const ready = cond(n, 'Ready');
      out.push(`  NodeNetwork ${n.metadata?.name}: Ready=${ready?.status ?? '?'} ${ready?.reason ?? ''} ${ready?.message ?? ''} configHash=${n.status?.configHash?.slice(0, 12) ?? '-'}`);
    }
  } catch (e) {
    out.push(`  ${(e as Error).message}`);
  }
  out.push(`  logs: ${layout(r.state.dir).logs}/ (operator: weft-operator.log, agents: <node>_<pod>_agent.log)`);
  return out.join('\n');
}

function printSection(progress: Progress, title: string, lines: string[]): void {
  progress.line();
  progress.line(title);
  for (const l of lines) progress.line(`  ${l}`);
}

/** The operator reconciles the Installation named "default" only: anything else would never become Ready. */
function checkInstallationFile(file: string): void {
  if (!existsSync(file)) throw new SandboxError(`${file}: no such file (pass an Installation with -f, e.g. config/samples/installation.yaml)`);
  let docs;
  try {
    docs = loadDocuments(file);
  } catch (e) {
    if (e instanceof DocumentError) throw new SandboxError(e.message);
    throw e;
  }
  const installations = docs.map((d) => d.value as Installation).filter((v) => v?.kind === 'Installation');
  if (installations.length !== 1) throw new SandboxError(`${file}: expected one Installation, found ${installations.length} (see config/samples/installation.yaml)`);
  const name = installations[0]!.metadata?.name;
  if (name !== 'default') throw new SandboxError(`${file}: metadata.name is ${JSON.stringify(name)}; the operator reconciles only the Installation named "default"`);
  const problems = validateInstallation(installations[0]);
  if (problems.length) throw new SandboxError(`${file} is not a valid Installation:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
}

export async function sandboxUp(opts: UpOptions): Promise<number> {
  const progress = new Progress();
  progress.line('weft sandbox: a Weft cluster in network namespaces on this machine');
  checkInstallationFile(opts.filename);
  const pre = await preflight(progress);

  const dir = stateDir();
  const previous = readState(dir);
  if (previous && previous.pid !== process.pid && ownerAlive(previous)) {
    throw new SandboxError(`a sandbox is already running (pid ${previous.pid}, started ${previous.startedAt}); use it (export KUBECONFIG=${previous.kubeconfig}) or stop it with: weft sandbox down`);
  }
  const stale = leftovers();
  if (previous || stale.namespaces.length || stale.hostLinks.length || stale.dirExists) {
    await progress.run('removing what an interrupted sandbox left behind', async () => sweep(previous, dir), (rep) =>
      `${rep.namespaces.length} namespaces, ${rep.hostLinks.length} host links, ${rep.processes} processes`);
  }
  const conflicts = await hostConflicts();
  if (conflicts.length) {
    throw new SandboxError(`this host already routes the sandbox's underlay 198.18.0.0/23:\n  ${conflicts.join('\n  ')}\nRemove those routes/addresses (or the other sandbox), then run weft sandbox up again.`);
  }

  if (programMode === 'compiled') {
    await progress.run('compiling the operator and the agent to what the images run (npm run build)', async () => {
      try {
        buildPrograms();
      } catch (e) {
        throw new SandboxError((e as Error).message);
      }
    });
  }

  const id = newRunId();
  const paths = layout(dir);
  const state: SandboxState = {
    version: 1, id, pid: process.pid, startedAt: new Date().toISOString(), phase: 'starting', dir,
    namespaces: [], hostLinks: [], hostRoutes: [], processGroups: {},
  };
  for (const d of [paths.logs, paths.nodes, paths.pods]) mkdirSync(d, { recursive: true });
  writeState(state);
  const topology = planTopology(id, opts.nodes);
  const r: Running = { state, topology, torn: false };

  // Ctrl-C: stop in order; a second one: kill everything now.
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write('\nsecond interrupt: killing everything now\n');
      emergencyCleanup(r);
      process.exit(130);
    }
    progress.failOpen(`interrupted by ${sig}`);
    process.stderr.write(`${sig}: stopping the sandbox (again to force)\n`);
    abort.abort(new SandboxError(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', () => emergencyCleanup(r));
  const interrupted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }));
  interrupted.catch(() => {});
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupted]);

  let exitCode = 1;
  try {
    await guard(progress.run(`network namespaces: router, control plane, ${opts.nodes} nodes on 2 subnets`, async () => {
      await buildTopology(topology, state);
    }, () => `${topology.nodes.map((n) => `${n.name} ${n.address}`).join(', ')}; host link ${topology.host.link} ${topology.host.address}`));

    const cp = await guard(progress.run('control plane: etcd, kube-apiserver, controller-manager, scheduler', async () => {
      r.cp = await startControlPlane({
        binDir: pre.binDir,
        name: 'weft-sandbox',
        netns: topology.controlPlane.netns,
        listenAddress: topology.controlPlane.address,
        dir: paths.controlPlane,
        controllerManager: true,
        scheduler: true,
        startTimeoutMs: 120_000,
      });
      return r.cp;
    }, (c) => `${c.server} in ${topology.controlPlane.netns}`));
    copyFileSync(cp.kubeconfigPath, paths.kubeconfig);
    state.kubeconfig = paths.kubeconfig;
    state.kubectl = pre.kubectl;
    state.server = cp.server;
    writeState(state);
    const client = new KubeClient(cp.kubeConfig, { userAgent: 'weft-sandbox' });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const events: string[] = [];
    const kubelet = new SandboxKubelet({
      kubeConfig: kc,
      server: cp.server,
      caData: kc.getCurrentCluster()!.caData!,
      nodes: topology.nodes,
      nodesDir: paths.nodes,
      podsDir: paths.pods,
      logsDir: paths.logs,
      podNetnsPrefix: `wsb${id}-pod-`,
      onEvent: (l) => events.push(`${new Date().toISOString()} ${l}`),
      addNetns: async (name) => {
        state.namespaces.push(name);
        writeState(state);
        await must(['ip', 'netns', 'add', name]);
      },
      delNetns: async (name) => {
        await run(['ip', 'netns', 'del', name]);
        state.namespaces = state.namespaces.filter((n) => n !== name);
        writeState(state);
      },
    });
    r.kubelet = kubelet;
    await guard(progress.run('nodes registered (a minimal kubelet keeps them Ready and runs their pods)', async () => {
      await kubelet.registerNodes();
    }, () => topology.nodes.map((n) => n.name).join(', ')));

    await guard(progress.run('weft-operator started (CRDs applied)', async (step) => {
      startOperator(r, cp.kubeconfigPath);
      await waitFor('the operator to apply the CRDs', 60_000, async () => {
        operatorDied(r);
        try {
          const g = await client.request<{ resources?: { name: string }[] }>('/apis/operator.weft.dev/v1', { verb: 'get' });
          return g.resources?.some((x) => x.name === 'installations') ? true : undefined;
        } catch (e) {
          if (isNotFound(e)) return undefined;
          throw e;
        }
      }, () => step.update('waiting for CRD operator.weft.dev/v1 Installation'));
    }, () => `pid ${r.operator?.pid}, log ${r.operatorLog}`));

    // The node agent's ServiceAccount, RBAC and admission policies ship statically (issue 16):
    // the operator no longer renders them, so the sandbox applies them as the manifest would.
    await guard(progress.run('node agent RBAC and admission policies (config/operator/node-agent-*.yaml)', async () => {
      const files = ['namespace.yaml', 'node-agent-rbac.yaml', 'node-agent-policy.yaml'].flatMap((f) => ['-f', join(repoRoot, 'config', 'operator', f)]);
      const out = await run([pre.kubectl, '--kubeconfig', paths.kubeconfig, 'apply', '--server-side', '--field-manager=weft-sandbox', ...files]);
      if (out.code !== 0) throw new SandboxError(`applying the node agent's RBAC was rejected:\n${out.stderr.trim() || out.stdout.trim()}`);
      return `${out.stdout.trim().split('\n').length} objects`;
    }, (o) => o));

    await guard(progress.run(`kubectl apply --server-side -f ${opts.filename}`, async () => {
      const out = await run([pre.kubectl, '--kubeconfig', paths.kubeconfig, 'apply', '--server-side', '-f', opts.filename]);
      if (out.code !== 0) throw new SandboxError(`kubectl apply -f ${opts.filename} was rejected:\n${out.stderr.trim() || out.stdout.trim()}`);
      return out.stdout.trim();
    }, (o) => o));

    const readyStep = progress.step('waiting for Installation "default" to be Ready');
    let inst: Installation;
    try {
      inst = await guard(waitFor(`Installation Ready`, opts.timeout * 1000, async () => {
        operatorDied(r);
        const i = await client.request<Installation>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
        const ready = cond(i, 'Ready');
        const degraded = cond(i, 'Degraded');
        const n = i.status?.nodes;
        readyStep.update(`${n ? `nodes ready ${n.ready ?? 0}/${n.desired ?? 0}, updated ${n.updated ?? 0}/${n.desired ?? 0}; ` : ''}${ready ? `${ready.reason}: ${ready.message}` : 'no status yet'}${degraded?.status === 'True' ? ` [Degraded ${degraded.reason}]` : ''}`);
        return ready?.status === 'True' && i.status?.observedGeneration === i.metadata?.generation ? i : undefined;
      }));
      readyStep.done(cond(inst, 'Ready')?.message);
    } catch (e) {
      readyStep.fail((e as Error).message.split('\n')[0]);
      throw new SandboxError(`${(e as Error).message}\n${await diagnostics(client, r)}\n  kubelet events:\n    ${events.slice(-15).join('\n    ')}`);
    }

    // Two pods per node: Pod objects bound to their node; the kubelet gives each a network
    // namespace by CNI ADD with the conflist the agent wrote, and writes its IP to the API.
    const demo = await guard(progress.run(`pods: 2 per node, by CNI ADD with the agents' conflists`, async (step) => {
      for (const n of topology.nodes) {
        for (const x of ['a', 'b']) {
          await client.request(`/api/v1/namespaces/${DEMO_NAMESPACE}/pods`, {
            verb: 'create',
            method: 'POST',
            body: {
              apiVersion: 'v1', kind: 'Pod',
              metadata: { name: `demo-${n.name}-${x}`, namespace: DEMO_NAMESPACE, labels: { [DEMO_LABEL]: 'true' } },
              spec: {
                nodeName: n.name, automountServiceAccountToken: false, terminationGracePeriodSeconds: 0,
                containers: [{ name: 'demo', image: 'weft-sandbox/network-only:none' }],
              },
            },
          });
        }
      }
      return waitFor('the demo pods to get addresses', 60_000, async () => {
        const eps: Endpoint[] = [];
        for (const n of topology.nodes) {
          for (const x of ['a', 'b']) {
            const p = kubelet.podNetns(DEMO_NAMESPACE, `demo-${n.name}-${x}`);
            if (!p) return undefined;
            eps.push({ name: `${n.name}/${x}`, netns: p.netns, ip: p.ip, node: n.name, subnet: n.subnet });
          }
        }
        const list = await client.request<{ items: { status?: { podIP?: string } }[] }>(`/api/v1/namespaces/${DEMO_NAMESPACE}/pods`, { verb: 'list', query: { labelSelector: DEMO_LABEL } });
        return list.items.filter((p) => p.status?.podIP).length === eps.length ? eps : undefined;
      }, () => step.update(events.at(-1)?.replace(/^\S+ /, '') ?? ''));
    }, (eps) => eps.map((e) => `${e.name} ${e.ip}`).join(', ')));

    // What Weft decided and why: the Installation's status, checked against render's explain
    // for the same facts (the NodeNetworks the agents reported).
    const nodesList = await client.request<{ items: KubeObject[] }>('/api/v1/nodes', { verb: 'list' });
    const nns = await client.request<{ items: NodeNetwork[] }>('/apis/network.weft.dev/v1/nodenetworks', { verb: 'list' });
    const rendered = render(inst, buildFacts(nodesList.items, nns.items).facts, defaultRenderOptions);
    const st = inst.status!;
    const decisionLines: string[] = [];
    for (const p of st.ipPools ?? []) decisionLines.push(`pool ${p.name} ${p.cidr} (/${p.blockSize} blocks): encapsulation ${p.encapsulation}, dataplane ${p.dataplane ?? '?'}${p.reason ? ` — ${p.reason}` : ''}`);
    decisionLines.push(`MTU ${st.mtu} — ${st.mtuReason}`);
    decisionLines.push('render --explain for the same facts:');
    for (const e of rendered.explain.filter((x) => /^pool |^mtu$/.test(x.subject))) decisionLines.push(`  ${formatExplanation(e)}`);
    const agree = rendered.effective.mtu === st.mtu && rendered.effective.pools.every((p) => st.ipPools?.some((s) => s.name === p.name && s.encapsulation === p.encapsulation));
    const results: CheckResult[] = [{ name: 'Installation status agrees with render --explain', ok: agree, lines: agree ? [] : [`status says MTU ${st.mtu} ${st.encapsulation}, render says MTU ${rendered.effective.mtu} ${rendered.effective.pools.map((p) => `${p.name}=${p.encapsulation}`).join(',')}`] }];
    printSection(progress, 'Effective configuration (Installation status)', decisionLines);

    const by = (node: string, x: string) => demo.find((e) => e.name === `${node}/${x}`)!;
    const n1 = topology.nodes[0]!;
    // One pair inside n1's subnet (when it has company) and one across the router.
    const near = topology.nodes.find((n) => n !== n1 && n.subnet === n1.subnet);
    const far = topology.nodes.find((n) => n.subnet !== n1.subnet)!;
    const nodeEp = (n: typeof n1): Endpoint => ({ name: n.name, netns: n.netns, ip: n.address, node: n.name, subnet: n.subnet });
    const peers = [...(near ? [{ node: near, where: 'same subnet' }] : []), { node: far, where: 'across the router' }];

    results.push(await guard(progress.run('pod-to-pod connectivity matrix', async () => connectivityMatrix(demo), (c) => c.lines[0]!)));
    results.push(await guard(progress.run(`DF ping at MTU ${st.mtu}`, async () => pathMtu(peers.map((p) => [by(n1.name, 'a'), by(p.node.name, 'a')]), st.mtu!), (c) => (c.ok ? 'passed' : 'FAILED'))));
    results.push(await guard(progress.run('throughput: pod-to-pod vs node-to-node (iperf3)', async () => throughput(peers.map((p) => (
      { label: `${n1.name} -> ${p.node.name} (${p.where})`, pods: [by(n1.name, 'a'), by(p.node.name, 'a')], nodes: [nodeEp(n1), nodeEp(p.node)] }
    ))), (c) => (c.ok ? 'done' : 'FAILED'))));
    for (const c of results) printSection(progress, `${c.ok ? '✓' : '✗'} ${c.name}`, c.lines);

    const failed = results.filter((c) => !c.ok);
    progress.line();
    progress.line(failed.length === 0
      ? `All ${results.length} checks passed in ${progress.elapsed().toFixed(0)}s.`
      : `${failed.length} of ${results.length} checks FAILED: ${failed.map((c) => c.name).join('; ')}`);
    state.phase = 'up';
    writeState(state);
    exitCode = failed.length === 0 ? 0 : 1;

    if (opts.once) return exitCode;

    printSection(progress, 'The sandbox is up. Use it with kubectl:', [
      `export KUBECONFIG=${paths.kubeconfig}`,
      `alias kubectl=${pre.kubectl}`,
      'kubectl get nodes -o wide; kubectl get pods -A -o wide; kubectl get installation default -o yaml',
      'npx tsx cli/main.ts status        # the Installation, the rollout, every node (weft status)',
      'npx tsx cli/main.ts diagnose      # what is wrong and where (weft diagnose)',
      `sudo ip netns exec ${by(n1.name, 'a').netns} ping ${by(far.name, 'a').ip}   # from a pod`,
      `logs: ${paths.logs}/; pods without a Weft program get a network namespace only (no containers run)`,
      'Ctrl-C (or weft sandbox down from another terminal) removes everything.',
    ]);
    await interrupted;
    return exitCode;
  } catch (e) {
    if (abort.signal.aborted) {
      await teardown(r, progress);
      return 130;
    }
    progress.line();
    progress.line(`weft sandbox up failed: ${(e as Error).message}`);
    return 1;
  } finally {
    if (!r.torn) await teardown(r, progress);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

export async function sandboxDown(): Promise<number> {
  const dir = stateDir();
  const state = readState(dir);
  if (state && state.pid !== process.pid && ownerAlive(state)) {
    process.stdout.write(`stopping the sandbox (weft sandbox up, pid ${state.pid})…\n`);
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (alive(state.pid) && Date.now() < deadline) await sleep(200);
    if (alive(state.pid)) {
      process.stdout.write(`pid ${state.pid} did not stop within 60s; killing it\n`);
      process.kill(state.pid, 'SIGKILL');
      await sleep(500);
    }
  }
  const before = leftovers();
  if (!readState(dir) && !before.namespaces.length && !before.hostLinks.length && !before.dirExists) {
    process.stdout.write(state
      ? `weft sandbox down: the sandbox (pid ${state.pid}) stopped and removed everything it made\n`
      : 'weft sandbox down: nothing to remove (no sandbox state, namespaces or links)\n');
    return 0;
  }
  const report = sweep(state, dir);
  process.stdout.write(`weft sandbox down: removed ${report.namespaces.length} namespaces${report.namespaces.length ? ` (${report.namespaces.join(', ')})` : ''}, ${report.hostLinks.length} host links, ${report.processes} processes${report.removedDir ? `, ${dir}` : ''}\n`);
  const after = leftovers();
  const left = [...after.namespaces, ...after.hostLinks, ...(after.dirExists ? [dir] : [])];
  if (report.problems.length || left.length) {
    process.stderr.write(`weft sandbox down: could not remove everything: ${[...report.problems, ...left].join('; ')}\n`);
    return 1;
  }
  return 0;
}
