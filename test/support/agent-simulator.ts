// TEST-SIDE AGENT SIMULATOR — not the node agent. kwok nodes run no real agent, so this stands
// in for one per node: when the node's weft-node pod is Running it creates the node's
// NodeNetwork (owned by the Node) and reports in its status what the real agent would: an
// underlay address and MTU, the config hash it runs and its pod's UID, and a Ready condition.
// Like the real agent (docs/adr/0010) a pod runs the weft-config ConfigMap it found when it
// started, and applies a newer one in place only once its NodeNetwork carries the operator's
// grant (annotation network.weft.dev/config-hash) of exactly the ConfigMap's hash. Failures are
// injectable per node (issue 8's rollout tests).
import { KubeConfig } from '@kubernetes/client-node';
import { annotations, names } from '../../api/index.ts';
import { UNINSTALLED_CONDITION, uninstallRequested } from '../../api/lifecycle.ts';
import { canonicalJson } from '../../kube/json.ts';
import { Informer, KubeClient, isNotFound, type KubeObject } from '../../kube/index.ts';

export interface InjectedFailure {
  /** Report Ready=False with this reason/message (e.g. a dataplane that did not come up). */
  notReady?: { reason: string; message: string };
  /** Stop reporting: the NodeNetwork keeps whatever it said last (a hung agent). */
  stalled?: boolean;
  /** Report this underlay MTU instead of the default. */
  mtu?: number;
  /** Report this underlay address (CIDR form) instead of the default. */
  address?: string;
  /** Never answer the uninstall marker, and stop reporting at all from then on (a hung agent). */
  ignoreUninstall?: boolean;
}

export interface AgentSimulatorOptions {
  kubeConfig: KubeConfig;
  /** Only nodes matching this label selector are simulated. Default: kwok's fake nodes. */
  nodeLabelSelector?: string;
  /** Underlay address of the i-th node seen (CIDR form). Default 198.18.<i/250>.<i%250+1>/15, one subnet. */
  address?: (node: string, index: number) => string;
  /** Underlay MTU. Default 1500. */
  mtu?: (node: string) => number;
  /** Writes in flight at once. Default 32. */
  concurrency?: number;
}

interface Pod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

type NodeNetworkObj = KubeObject & { status?: Record<string, unknown> };

export class AgentSimulator {
  private readonly client: KubeClient;
  private readonly nodes: Informer;
  private readonly pods: Informer<Pod>;
  private readonly nodeNetworks: Informer<NodeNetworkObj>;
  private readonly configMaps: Informer;
  /** The configuration each agent pod (by uid) runs: the ConfigMap's when it started, then what it was granted. */
  private readonly running = new Map<string, string>();
  private readonly failures = new Map<string, InjectedFailure>();
  private readonly indexOf = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly stopper = new AbortController();
  private runs: Promise<unknown>[] = [];
  private wake: (() => void) | undefined;
  /** Agent pods (uids) that cleaned their node for an uninstall: like the real agent, they
   *  never report (nor re-create their NodeNetwork) again. */
  private readonly uninstalledPods = new Set<string>();
  /** Writes made, for tests that count API traffic. */
  writes = 0;

  constructor(private readonly opts: AgentSimulatorOptions) {
    this.client = new KubeClient(opts.kubeConfig, { userAgent: 'weft-test-agent-simulator' });
    this.nodes = new Informer({ client: this.client, resource: { version: 'v1', plural: 'nodes', labelSelector: opts.nodeLabelSelector ?? 'kwok.x-k8s.io/node=fake' } });
    this.pods = new Informer<Pod>({
      client: this.client,
      resource: { version: 'v1', plural: 'pods', namespace: names.namespace, labelSelector: `app.kubernetes.io/name=${names.daemonSet}` },
      indexers: { node: (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []) },
    });
    this.nodeNetworks = new Informer<NodeNetworkObj>({ client: this.client, resource: { group: 'network.weft.dev', version: 'v1', plural: 'nodenetworks' } });
    this.configMaps = new Informer({ client: this.client, resource: { version: 'v1', plural: 'configmaps', namespace: names.namespace, fieldSelector: `metadata.name=${names.configMap}` } });
  }

  /** The hash of the configuration the weft-config ConfigMap holds now. */
  private configMapHash(): string | undefined {
    return this.configMaps.store.list()[0]?.metadata?.annotations?.[annotations.configHash];
  }

  start(): void {
    const mark = (n: string | undefined) => {
      if (!n) return;
      this.dirty.add(n);
      this.wake?.();
    };
    this.nodes.subscribe((ev) => mark(ev.obj.metadata?.name));
    this.pods.subscribe((ev) => mark(ev.obj.spec?.nodeName));
    this.nodeNetworks.subscribe((ev) => mark(ev.obj.metadata?.name));
    // A grant may arrive before the ConfigMap holding it (the kubelet's volume refresh lags too).
    this.configMaps.subscribe(() => {
      for (const n of this.nodes.store.keys()) this.dirty.add(n);
      this.wake?.();
    });
    const s = this.stopper.signal;
    this.runs = [this.nodes.start(s), this.pods.start(s), this.nodeNetworks.start(s), this.configMaps.start(s), this.loop()];
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    this.wake?.();
    await Promise.all(this.runs);
    this.client.close();
  }

  /** Injects (merges) a failure for one node; takes effect on its next report. */
  inject(node: string, f: InjectedFailure): void {
    this.failures.set(node, { ...this.failures.get(node), ...f });
    this.dirty.add(node);
    this.wake?.();
  }

  clear(node?: string): void {
    for (const n of node ? [node] : [...this.failures.keys()]) {
      this.failures.delete(n);
      this.dirty.add(n);
    }
    this.wake?.();
  }

  private addressFor(node: string): string {
    let i = this.indexOf.get(node);
    if (i === undefined) this.indexOf.set(node, (i = this.indexOf.size));
    return this.opts.address?.(node, i) ?? `198.18.${Math.floor(i / 250) % 256}.${(i % 250) + 1}/15`;
  }

  private async loop(): Promise<void> {
    const s = this.stopper.signal;
    await Promise.all([this.nodes.waitForSync(s), this.pods.waitForSync(s), this.nodeNetworks.waitForSync(s), this.configMaps.waitForSync(s)]);
    for (const n of this.nodes.store.keys()) this.dirty.add(n);
    while (!s.aborted) {
      if (this.dirty.size === 0) {
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 1000);
        });
        this.wake = undefined;
        continue;
      }
      const batch = [...this.dirty];
      this.dirty.clear();
      let next = 0;
      const worker = async () => {
        while (next < batch.length && !s.aborted) {
          const node = batch[next++]!;
          try {
            await this.report(node);
          } catch (err) {
            if (s.aborted) return;
            // Conflicts and transient errors: try again on the next round.
            this.dirty.add(node);
            if (!isNotFound(err)) await new Promise((r) => setTimeout(r, 200));
          }
        }
      };
      await Promise.all(Array.from({ length: this.opts.concurrency ?? 32 }, worker));
    }
  }

  private podOn(node: string): Pod | undefined {
    return this.pods.store.byIndex('node', node).find((p) => p.spec?.nodeName === node && !p.metadata?.deletionTimestamp && p.status?.phase === 'Running');
  }

  private async report(nodeName: string): Promise<void> {
    const node = this.nodes.store.get(nodeName);
    if (!node || node.metadata?.deletionTimestamp) return;
    const f = this.failures.get(nodeName) ?? {};
    if (f.stalled) return;
    const pod = this.podOn(nodeName);
    if (!pod) return; // no agent running on that node: nobody reports
    if (this.uninstalledPods.has(pod.metadata?.uid ?? '')) return;
    const marked = this.nodeNetworks.store.get(nodeName);
    if (marked && uninstallRequested(marked)) {
      // The uninstall handshake (docs/adr/0009): the real agent cleans its node, then says so.
      if (f.ignoreUninstall) {
        // A hung agent: it neither cleans nor reports, nor does anything after.
        this.uninstalledPods.add(pod.metadata?.uid ?? '');
        return;
      }
      await this.client.request(`/apis/network.weft.dev/v1/nodenetworks/${nodeName}/status`, {
        verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json',
        body: { status: { conditions: [
          { type: 'Ready', status: 'False', reason: 'Uninstalling', message: 'the Installation is being deleted' },
          { type: UNINSTALLED_CONDITION, status: 'True', reason: 'Cleaned', message: 'test-side agent simulator: nothing to clean on a kwok node' },
        ] } },
      });
      this.writes++;
      this.uninstalledPods.add(pod.metadata?.uid ?? '');
      return;
    }
    const uid = pod.metadata?.uid ?? '';
    if (!this.running.has(uid)) {
      const started = this.configMapHash();
      if (!started) return; // no ConfigMap yet: the kubelet could not have started the pod
      this.running.set(uid, started);
    }
    const grant = marked?.metadata?.annotations?.[annotations.configGrant];
    if (grant && grant !== this.running.get(uid) && grant === this.configMapHash()) this.running.set(uid, grant);
    const hash = this.running.get(uid);
    const status = {
      address: f.address ?? this.addressFor(nodeName),
      interface: 'eth0',
      autodetectionMethod: 'firstFound',
      mtu: f.mtu ?? this.opts.mtu?.(nodeName) ?? 1500,
      configHash: hash,
      podUID: uid,
      agentVersion: 'simulated',
      conditions: [
        f.notReady
          ? { type: 'Ready', status: 'False', reason: f.notReady.reason, message: f.notReady.message }
          : { type: 'Ready', status: 'True', reason: 'AgentReady', message: 'test-side agent simulator: conflist written, kernel in sync' },
      ],
    };
    const path = `/apis/network.weft.dev/v1/nodenetworks/${nodeName}`;
    let nn = this.nodeNetworks.store.get(nodeName);
    if (!nn) {
      try {
        nn = await this.client.request<NodeNetworkObj>('/apis/network.weft.dev/v1/nodenetworks', {
          verb: 'create',
          method: 'POST',
          body: {
            apiVersion: 'network.weft.dev/v1',
            kind: 'NodeNetwork',
            metadata: { name: nodeName, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata!.uid! }] },
            spec: { nodeName },
          },
        });
        this.writes++;
      } catch (err) {
        if (!(err instanceof Error && 'status' in err && (err as { status: number }).status === 409)) throw err;
        nn = await this.client.request<NodeNetworkObj>(path, { verb: 'get' });
      }
    }
    const cur = nn.status ?? {};
    const same = (['address', 'mtu', 'configHash', 'podUID'] as const).every((k) => cur[k] === status[k]) && canonicalJson(cur.conditions) === canonicalJson(status.conditions);
    if (same) return;
    await this.client.request(`${path}/status`, { verb: 'patch', method: 'PATCH', contentType: 'application/merge-patch+json', body: { status } });
    this.writes++;
  }
}
