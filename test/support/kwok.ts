// Fake nodes that kwok (started by startControlPlane({ kwok: true })) keeps Ready and whose pods it
// marks Running, so a DaemonSet can roll out over thousands of nodes without a kubelet.
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';

/** The selector kwok is started with; nodes without it are left alone. */
export const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';
export const KWOK_LABEL = 'kwok.x-k8s.io/node';
export const KWOK_TAINT = { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' } as const;

export interface FakeNodeOptions {
  /** Names are `${prefix}${index}`, index zero-padded to the width of count. Default 'kwok-node-'. */
  prefix?: string;
  /** Requests in flight at once. */
  concurrency?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** spec.podCIDR(s) per node, for tests of IPAM that read them. */
  podCIDR?: (index: number) => string | undefined;
}

export function fakeNode(name: string, opts: Pick<FakeNodeOptions, 'labels' | 'annotations'> & { podCIDR?: string } = {}): V1Node {
  const resources = { cpu: '32', memory: '256Gi', pods: '110', 'ephemeral-storage': '1Ti' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        [KWOK_LABEL]: 'fake',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...opts.labels,
      },
      annotations: { [KWOK_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0', ...opts.annotations },
    },
    spec: {
      providerID: `kwok://${name}`,
      taints: [{ ...KWOK_TAINT }],
      ...(opts.podCIDR ? { podCIDR: opts.podCIDR, podCIDRs: [opts.podCIDR] } : {}),
    },
    // kwok fills in conditions, addresses and nodeInfo; capacity is ours to choose so pods fit.
    status: { capacity: resources, allocatable: resources },
  };
}

/** Runs fn over items with at most `limit` in flight; rejects with the first error after all settle. */
async function mapConcurrent<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        firstError ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstError) throw firstError;
  return results;
}

/** Creates count kwok nodes and returns their names. */
export async function createFakeNodes(kc: KubeConfig, count: number, opts: FakeNodeOptions = {}): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const prefix = opts.prefix ?? 'kwok-node-';
  const width = String(Math.max(count - 1, 0)).length;
  const names = Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
  await mapConcurrent(names, opts.concurrency ?? 32, async (name, i) => {
    const podCIDR = opts.podCIDR?.(i);
    try {
      await core.createNode({ body: fakeNode(name, { labels: opts.labels, annotations: opts.annotations, ...(podCIDR ? { podCIDR } : {}) }) });
    } catch (e) {
      throw new Error(`creating fake node ${name}: ${describeApiError(e)}`);
    }
  });
  return names;
}

export async function deleteFakeNodes(kc: KubeConfig, names: string[], concurrency = 32): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await mapConcurrent(names, concurrency, async (name) => {
    try {
      await core.deleteNode({ name });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw new Error(`deleting fake node ${name}: ${describeApiError(e)}`);
    }
  });
}

function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Waits until every kwok node (or those named) reports Ready; returns how many are. */
export async function waitFakeNodesReady(kc: KubeConfig, expected: number, timeoutMs = 120_000): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let ready = 0;
  for (;;) {
    const list = await core.listNode({ labelSelector: `${KWOK_LABEL}=fake` });
    ready = list.items.filter(isReady).length;
    if (ready >= expected) return ready;
    if (Date.now() > deadline) {
      throw new Error(`only ${ready} of ${expected} kwok nodes became Ready within ${timeoutMs / 1000}s; is kwok running (startControlPlane({ kwok: true }))?`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function describeApiError(e: unknown): string {
  const err = e as { code?: number; body?: unknown; message?: string };
  if (err.code !== undefined) {
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    return `HTTP ${err.code}: ${body}`;
  }
  return err.message ?? String(e);
}
