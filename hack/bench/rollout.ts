/**
 * `npm run bench:rollout`: the health-gated Weft node-agent rollout against a native DaemonSet
 * RollingUpdate of the same size, on the same control plane in one run.
 *
 *   npm run bench:rollout -- [--nodes 1000] [--max-unavailable 10%] [--rounds 1]
 *
 * Both DaemonSets run on every kwok node at once, so both rollouts see the same cluster load:
 *  - Weft: the Installation's MTU changes; timed from the apply until Installation Ready again
 *    (every node replaced and its NodeNetwork — written by the TEST-SIDE agent simulator —
 *    reporting the new configuration hash, Ready). Canary first, then a sliding window of
 *    maxUnavailable nodes in flight (issue 23).
 *  - native: a plain DaemonSet with updateStrategy RollingUpdate (same maxUnavailable) gets a
 *    template annotation changed; timed until every pod is updated and available (kwok marks
 *    pods Ready).
 * Also reported: the operator's API requests per node during its rollout, by verb.
 * Last line: `ratio=<weft/native> weft=<s> native=<s>` (medians over rounds).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { createOperator } from '../../operator/operator.ts';
import { batchRollout } from '../../operator/rollout/batch-rollout.ts';
import { Informer, KubeClient, createLogger, type KubeObject, type RequestInfo } from '../../kube/index.ts';
import { AgentSimulator } from '../../test/support/agent-simulator.ts';
import { startControlPlane } from '../../kube/envtest.ts';
import { ensureTestenv } from '../testenv/assets.ts';
import { createFakeNodes, waitFakeNodesReady } from '../../test/support/kwok.ts';
import { installOperatorBase, installationYaml, serviceAccountKubeConfig, waitFor } from '../../test/support/operator-env.ts';

const opts = new Command('bench:rollout')
  .option('--nodes <n>', 'number of kwok nodes', (v) => Number(v), 1000)
  .option('--max-unavailable <v>', 'maxUnavailable of both rollouts', '10%')
  .option('--rounds <n>', 'rollouts of each kind, interleaved', (v) => Number(v), 1)
  .parse(process.argv)
  .opts<{ nodes: number; maxUnavailable: string; rounds: number }>();

const log = (s: string) => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const maxUnavailable: number | string = /^\d+$/.test(opts.maxUnavailable) ? Number(opts.maxUnavailable) : opts.maxUnavailable;

interface InstObj extends KubeObject {
  status?: { observedGeneration?: number; mtu?: number; nodes?: { desired?: number; updated?: number; ready?: number }; conditions?: { type: string; status: string }[] };
}
interface DsObj extends KubeObject {
  status?: { observedGeneration?: number; desiredNumberScheduled?: number; updatedNumberScheduled?: number; numberAvailable?: number; numberReady?: number };
}

const NATIVE_NS = 'bench-native';

interface TrackedPod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** When each agent pod was first seen created, bound, Running and deleted, and each NodeNetwork's reports: where a batch's time goes. */
class Tracker {
  readonly created = new Map<string, { node?: string; at: number; running?: number }>();
  readonly nnReady = new Map<string, { hash?: string; at: number }[]>();
  private readonly stop = new AbortController();
  constructor(client: KubeClient) {
    const pods = new Informer<TrackedPod>({ client, resource: { version: 'v1', plural: 'pods', namespace: 'weft-system', labelSelector: 'app.kubernetes.io/name=weft-node' } });
    const nns = new Informer<KubeObject & { status?: { configHash?: string; conditions?: { type: string; status: string }[] } }>({ client, resource: { group: 'network.weft.dev', version: 'v1', plural: 'nodenetworks' } });
    pods.subscribe((ev) => {
      const uid = ev.obj.metadata?.uid ?? '';
      const now = Date.now();
      let c = this.created.get(uid);
      if (!c) this.created.set(uid, (c = { at: now }));
      if (ev.obj.spec?.nodeName) c.node = ev.obj.spec.nodeName;
      if (ev.obj.status?.phase === 'Running' && c.running === undefined) c.running = now;
    });
    nns.subscribe((ev) => {
      const st = ev.obj.status;
      if (!st?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')) return;
      const list = this.nnReady.get(ev.obj.metadata!.name!) ?? [];
      if (list.at(-1)?.hash !== st.configHash) list.push({ hash: st.configHash, at: Date.now() });
      this.nnReady.set(ev.obj.metadata!.name!, list);
    });
    void pods.start(this.stop.signal);
    void nns.start(this.stop.signal);
  }
  close(): void {
    this.stop.abort();
  }
}
function nativeDaemonSet(rev: number): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'native', namespace: NATIVE_NS },
    spec: {
      selector: { matchLabels: { app: 'native' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable, maxSurge: 0 } },
      template: {
        metadata: { labels: { app: 'native' }, annotations: { 'bench.weft.dev/revision': String(rev) } },
        spec: {
          nodeSelector: { 'kwok.x-k8s.io/node': 'fake' },
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9' }],
        },
      },
    },
  };
}

async function main(): Promise<void> {
  const n = opts.nodes;
  log(`# starting the control plane (controller-manager, scheduler, kwok) with ${n} nodes`);
  const cp = await startControlPlane({ binDir: await ensureTestenv(), controllerManager: true, scheduler: true, kwok: true, startTimeoutMs: 180_000 });
  const admin = new KubeClient(cp.kubeConfig);
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-rollout-'));
  let sim: AgentSimulator | undefined;
  let stopOp: (() => Promise<void>) | undefined;
  try {
    await installOperatorBase(cp);
    await createFakeNodes(cp.kubeConfig, n, { concurrency: 64 });
    await waitFakeNodesReady(cp.kubeConfig, n, 600_000);
    const saKc = await serviceAccountKubeConfig(cp, 'weft-system', 'weft-operator');
    sim = new AgentSimulator({ kubeConfig: cp.kubeConfig, concurrency: 64 });
    sim.start();
    const op = await createOperator({
      kubeConfig: saKc,
      version: '0.1.0-bench',
      identity: 'bench-rollout',
      leaderElect: false,
      handleSignals: false,
      applyCrds: false,
      logger: createLogger({ level: process.env.WEFT_BENCH_LOG ?? 'silent' }),
      rollout: batchRollout(),
    });
    const requests: RequestInfo[] = [];
    const deletes: { pod: string; at: number }[] = [];
    op.manager.client.onRequest((r) => {
      requests.push(r);
      const m = /\/pods\/([^/?]+)$/.exec(r.path);
      if (r.verb === 'delete' && m) deletes.push({ pod: m[1]!, at: Date.now() });
    });
    const tracker = new Tracker(admin);
    const run = op.run();
    stopOp = async () => {
      op.stop();
      await run;
    };

    const applyInst = async (mtu: number) => {
      const f = join(dir, `inst-${mtu}.yaml`);
      writeFileSync(f, installationYaml({ network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16' }], mtu }, nodeUpdateStrategy: { maxUnavailable } }));
      await cp.kubectl(['apply', '--server-side', '--field-manager=bench', '--force-conflicts', '-f', f]);
    };
    const instReady = (mtu: number, timeoutMs: number) =>
      waitFor(`Installation Ready at mtu ${mtu}`, async () => {
        const i = await admin.request<InstObj>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' });
        const s = i.status;
        return s?.observedGeneration === i.metadata?.generation && s?.mtu === mtu && s?.nodes?.ready === n && s?.nodes?.updated === n &&
          s?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      }, timeoutMs, 100);
    const applyNative = async (rev: number) => {
      await cp.kubectl(['apply', '--server-side', '--field-manager=bench', '--force-conflicts', '-f', '-'], { input: JSON.stringify(nativeDaemonSet(rev)) });
    };
    const nativeReady = (timeoutMs: number) =>
      waitFor('native DaemonSet rolled out', async () => {
        const d = await admin.request<DsObj>(`/apis/apps/v1/namespaces/${NATIVE_NS}/daemonsets/native`, { verb: 'get' });
        const s = d.status;
        return s?.observedGeneration === d.metadata?.generation && s?.desiredNumberScheduled === n && s?.updatedNumberScheduled === n && s?.numberAvailable === n && s?.numberReady === n;
      }, timeoutMs, 100);

    let t = Date.now();
    await applyInst(1400);
    await instReady(1400, 900_000);
    log(`# Weft installed on ${n} nodes in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await cp.kubectl(['create', 'namespace', NATIVE_NS]);
    await applyNative(0);
    await nativeReady(900_000);
    log(`# native DaemonSet on ${n} nodes in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const weft: number[] = [];
    const native: number[] = [];
    let mtu = 1400;
    for (let round = 1; round <= opts.rounds; round++) {
      mtu += 10;
      const from = requests.length;
      const fromDelete = deletes.length;
      const simWrites = sim.writes;
      t = Date.now();
      await applyInst(mtu);
      await instReady(mtu, 1_800_000);
      const w = (Date.now() - t) / 1000;
      weft.push(w);
      const window = requests.slice(from);
      const byVerb: Record<string, number> = {};
      for (const r of window) byVerb[r.verb] = (byVerb[r.verb] ?? 0) + 1;
      // Per batch: from its first delete to the last new pod created, Running, NodeNetwork Ready on the target, and the next batch.
      const target = (await admin.request<{ status?: { configHash?: string } }>('/apis/operator.weft.dev/v1/installations/default', { verb: 'get' })).status?.configHash;
      const ds = deletes.slice(fromDelete);
      const batches: { at: number; pods: string[] }[] = [];
      for (const d of ds) {
        const b = batches.at(-1);
        if (b && d.at - b.at < 200) b.pods.push(d.pod);
        else batches.push({ at: d.at, pods: [d.pod] });
      }
      const uidsAfter = [...tracker.created.values()];
      // A sliding window starts nodes a few at a time: show the first rounds of deletes and count the rest.
      if (batches.length > 8) log(`#   ${batches.length} rounds of deletes (a round: deletes less than 200 ms apart); the first 5:`);
      for (const [i, b] of batches.slice(0, batches.length > 8 ? 5 : batches.length).entries()) {
        const next = batches[i + 1]?.at;
        const fresh = uidsAfter.filter((c) => c.at >= b.at && (next === undefined || c.at < next));
        const maxOf = (xs: (number | undefined)[]) => (xs.length && xs.every((x) => x !== undefined) ? ((Math.max(...(xs as number[])) - b.at) / 1000).toFixed(2) : '?');
        const nnAt = fresh.map((c) => tracker.nnReady.get(c.node ?? '')?.find((r) => r.hash === target && r.at >= b.at)?.at);
        log(`#   batch ${i + 1}: ${b.pods.length} deletes; last new pod created +${maxOf(fresh.map((c) => c.at))} s, Running +${maxOf(fresh.map((c) => c.running))} s, NodeNetwork Ready +${maxOf(nnAt)} s; next batch +${next ? ((next - b.at) / 1000).toFixed(2) : '-'} s`);
      }
      log(`# round ${round} Weft: ${w.toFixed(1)} s; operator API requests ${window.length} = ${(window.length / n).toFixed(2)}/node (${Object.entries(byVerb).map(([k, v]) => `${k} ${v}`).join(', ')}); simulator NodeNetwork writes ${((sim.writes - simWrites) / n).toFixed(2)}/node`);

      t = Date.now();
      await applyNative(round);
      await nativeReady(1_800_000);
      const nt = (Date.now() - t) / 1000;
      native.push(nt);
      log(`# round ${round} native RollingUpdate: ${nt.toFixed(1)} s`);
    }
    const wm = median(weft);
    const nm = median(native);
    log(`# ${n} nodes, maxUnavailable ${opts.maxUnavailable}: Weft ${weft.map((x) => x.toFixed(1)).join(', ')} s; native ${native.map((x) => x.toFixed(1)).join(', ')} s (goal: Weft within 1.2x)`);
    tracker.close();
    log(`ratio=${(wm / nm).toFixed(2)} weft=${wm.toFixed(1)} native=${nm.toFixed(1)}`);
  } finally {
    await stopOp?.();
    await sim?.stop();
    admin.close();
    await cp.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
