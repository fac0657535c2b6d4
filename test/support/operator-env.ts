// Helpers shared by the operator integration tests and the operator benchmark: install the
// kustomize base, mint a kubeconfig for the operator's own ServiceAccount (so tests run it
// with exactly the RBAC it ships), wait for conditions.
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYAML } from 'yaml';
import { join } from 'node:path';
import { KubeClient, type KubeObject } from '../../kube/index.ts';
import type { ControlPlane } from '../../kube/envtest.ts';
import { repoRoot } from '../../hack/testenv/assets.ts';

export const operatorBase = join(repoRoot, 'config', 'operator');

export async function waitFor<T>(what: string, cond: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** kubectl apply --server-side -k config/operator (CRDs, namespace, RBAC, Deployment). */
export async function installOperatorBase(cp: ControlPlane): Promise<void> {
  await cp.kubectl(['apply', '--server-side', '--field-manager=weft-install', '-k', operatorBase]);
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/installations.operator.weft.dev', 'crd/nodenetworks.network.weft.dev', 'crd/ipamblocks.network.weft.dev']);
}

/** A kubeconfig authenticating as a ServiceAccount through a TokenRequest (no Secret needed). */
export async function serviceAccountKubeConfig(cp: ControlPlane, namespace: string, name: string): Promise<KubeConfig> {
  const admin = new KubeClient(cp.kubeConfig);
  try {
    const tr = await admin.request<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      verb: 'create',
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86_400 } },
    });
    const cluster = cp.kubeConfig.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
      users: [{ name: `${namespace}:${name}`, token: tr.status.token }],
      contexts: [{ name: 'sa', cluster: 'c', user: `${namespace}:${name}` }],
      currentContext: 'sa',
    });
    return kc;
  } finally {
    admin.close();
  }
}

export function installationYaml(spec: unknown): string {
  return toYAML({ apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default' }, spec });
}

export async function getJson<T = KubeObject>(cp: ControlPlane, args: string[]): Promise<T | undefined> {
  const r = await cp.kubectl(['get', ...args, '-o', 'json'], { allowFailure: true });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as T;
}

export function condition(obj: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } } | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}
