// Credentials of the node agent as the API server sees them on a real node: a projected
// ServiceAccount token of weft-system/weft-node bound to a Pod scheduled on the node, so the
// token carries the node name (request.userInfo.extra['authentication.kubernetes.io/node-name'])
// that the admission policy config/operator/node-agent-policy.yaml keys on.
import { request as httpsRequest } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from '../../kube/envtest.ts';
import { repoRoot } from '../../hack/testenv/assets.ts';
import { join } from 'node:path';

export const AGENT_NAMESPACE = 'weft-system';
export const AGENT_SERVICE_ACCOUNT = 'weft-node';

/** Creates (if absent) a Pod of the weft-node ServiceAccount on nodeName (the Node must exist)
 *  and returns a token bound to it. Without a kubelet the pod stays Pending; the token is valid
 *  while the pod exists. */
export async function agentTokenForNode(cp: ControlPlane, nodeName: string, expirationSeconds = 3600): Promise<string> {
  const pod = `weft-node-token-${nodeName}`;
  await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: pod, namespace: AGENT_NAMESPACE },
      spec: {
        nodeName, serviceAccountName: AGENT_SERVICE_ACCOUNT, automountServiceAccountToken: false,
        tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'weft.invalid/none:0' }],
      },
    }),
  });
  const uid = (await cp.kubectl(['get', 'pod', '-n', AGENT_NAMESPACE, pod, '-o', 'jsonpath={.metadata.uid}'])).stdout.trim();
  const tr = await cp.kubectl(['create', '--raw', `/api/v1/namespaces/${AGENT_NAMESPACE}/serviceaccounts/${AGENT_SERVICE_ACCOUNT}/token`, '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid } },
    }),
  });
  return (JSON.parse(tr.stdout) as { status: { token: string } }).status.token;
}

/** A kubeconfig for the API server of cp authenticating with token. */
export function tokenKubeConfig(cp: ControlPlane, token: string, user = 'weft-node'): KubeConfig {
  const cluster = cp.kubeConfig.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: 'c', cluster: 'c', user }],
    currentContext: 'c',
  });
  return kc;
}

export interface RawResponse { status: number; body: any }

/** One request to cp's API server with a bearer token: status and parsed body, never throws on
 *  an HTTP error (tests assert on 403 and on the admission message). */
export function apiRequest(cp: ControlPlane, token: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
  const cluster = cp.kubeConfig.getCurrentCluster()!;
  const url = new URL(path, cluster.server);
  const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : undefined;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      method, ca, timeout: 30_000,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(payload ? { 'content-type': contentType } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * What a cluster gets from Weft's manifest for the agent, without the operator: the
 * Installation CRD, the weft-system namespace, the agent's static RBAC and admission policies
 * (config/operator/node-agent-*.yaml), and an Installation whose status lists `pools` (what the
 * operator would have written; the pool policy reads it).
 */
export async function installAgentRights(cp: ControlPlane, pools: { name: string; cidr: string; blockSize: number }[]): Promise<void> {
  await cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds', 'installations.operator.weft.dev.yaml')]);
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/installations.operator.weft.dev']);
  for (const f of ['namespace.yaml', 'node-agent-rbac.yaml', 'node-agent-policy.yaml']) {
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-install', '-f', join(repoRoot, 'config', 'operator', f)]);
  }
  await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default' }, spec: { network: { ipPools: pools.map((p) => ({ ...p })) } } }),
  });
  await cp.kubectl(['patch', 'installation', 'default', '--subresource=status', '--type=merge', '-p',
    JSON.stringify({ status: { ipPools: pools.map((p) => ({ ...p, encapsulation: 'VXLAN' })) } })]);
}

/** A kubeconfig of the agent of nodeName (pod-bound token), returned once the API server
 *  enforces the agent policies for it (they load asynchronously after being created). */
export async function agentKubeConfigForNode(cp: ControlPlane, nodeName: string): Promise<KubeConfig> {
  const token = await agentTokenForNode(cp, nodeName);
  const other = `${nodeName}-other`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const foreign = await apiRequest(cp, token, 'POST', '/apis/network.weft.dev/v1/nodenetworks?dryRun=All',
      { apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name: other }, spec: { nodeName: other } });
    const outOfPool = await apiRequest(cp, token, 'POST', '/apis/network.weft.dev/v1/ipamblocks?dryRun=All',
      { apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock', metadata: { name: '0-0-0-0-1' }, spec: { cidr: '0.0.0.0/1', pool: 'default', node: nodeName } });
    if (foreign.status === 403 && outOfPool.status === 403) return tokenKubeConfig(cp, token);
    if (Date.now() > deadline) throw new Error(`the weft-node admission policies are not enforced after 60 s (foreign NodeNetwork: ${foreign.status}, out-of-pool block: ${outOfPool.status})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
