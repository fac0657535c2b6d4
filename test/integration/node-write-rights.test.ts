// Issue 16, attacks 2 and 3, on a real API server with exactly what Weft ships
// (config/operator: the agent's static RBAC and its ValidatingAdmissionPolicies): the agent of
// node A — authenticated like a real one, with a token bound to a Pod on node A — may create and
// report on its own NodeNetwork and IPAMBlocks, and nothing else: not node B's NodeNetwork or
// blocks, not a block naming node B, not a block outside the pools, not the uninstall marker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UNINSTALL_ANNOTATION } from '../../api/lifecycle.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { testenvAvailable } from '../../hack/testenv/assets.ts';
import { fakeNode } from '../support/kwok.ts';
import { getJson, installOperatorBase, installationYaml, waitFor } from '../support/operator-env.ts';
import { agentTokenForNode, apiRequest, type RawResponse } from '../support/node-token.ts';

const env = await testenvAvailable();
const skip = env.ok ? false : `needs the test control plane: ${env.reason}`;

const NN = '/apis/network.weft.dev/v1/nodenetworks';
const BLOCKS = '/apis/network.weft.dev/v1/ipamblocks';
const MERGE = 'application/merge-patch+json';

const nodeNetwork = (node: string, annotations?: Record<string, string>) => ({
  apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork',
  metadata: { name: node, ...(annotations ? { annotations } : {}) }, spec: { nodeName: node },
});
const block = (cidr: string, node: string, pool = 'default') => ({
  apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock',
  metadata: { name: cidr.replace(/[.:/]/g, '-') }, spec: { cidr, pool, node },
});

function denied(r: RawResponse, why: RegExp): void {
  assert.equal(r.status, 403, `expected 403, got ${r.status}: ${JSON.stringify(r.body)}`);
  assert.match(String(r.body?.message ?? ''), why);
}
function ok(r: RawResponse): void {
  assert.ok(r.status >= 200 && r.status < 300, `expected success, got ${r.status}: ${JSON.stringify(r.body)}`);
}

describe('a node agent may write only its own node\'s objects (shipped RBAC + admission policy, real API server)', { skip }, () => {
  let cp: ControlPlane;
  let tokenA = '';
  let tokenC = '';
  let adminToken = '';
  const asA = (method: string, path: string, body?: unknown, ct?: string) => apiRequest(cp, tokenA, method, path, body, ct);

  before(async () => {
    cp = await startControlPlane();
    await installOperatorBase(cp);
    for (const n of ['node-a', 'node-b', 'node-c']) await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(fakeNode(n)) });
    await cp.kubectl(['apply', '--server-side', '--field-manager=weft-test', '-f', '-'], {
      input: installationYaml({ network: { ipPools: [{ name: 'default', cidr: '10.50.0.0/16', blockSize: 26 }] } }),
    });
    // The operator's effective pools, which the pool policy reads (the operator is not running here).
    await cp.kubectl(['patch', 'installation', 'default', '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { ipPools: [{ name: 'default', cidr: '10.50.0.0/16', blockSize: 26, encapsulation: 'VXLAN' }] } })]);
    tokenA = await agentTokenForNode(cp, 'node-a');
    tokenC = await agentTokenForNode(cp, 'node-c');
    // The policies are enforced once the API server has loaded them (and their param kind): probe
    // with dry-run requests until a foreign write is refused and an own one admitted.
    await waitFor('the admission policies to be enforced', async () => {
      const foreign = await asA('POST', `${NN}?dryRun=All`, nodeNetwork('node-b'));
      const outOfPool = await asA('POST', `${BLOCKS}?dryRun=All`, block('10.99.0.0/26', 'node-a'));
      return foreign.status === 403 && outOfPool.status === 403;
    }, 60_000, 500);
    adminToken = (await cp.kubectl(['create', 'token', 'weft-operator', '-n', 'weft-system'])).stdout.trim();
    // Node B's objects, as its own agent and the operator would have made them.
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(nodeNetwork('node-b')) });
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(block('10.50.1.0/26', 'node-b')) });
  });
  after(async () => {
    await cp?.stop();
  });

  test('its own NodeNetwork: create and status patch are admitted', async () => {
    ok(await asA('POST', NN, nodeNetwork('node-a')));
    ok(await asA('PATCH', `${NN}/node-a/status`, { status: { address: '198.18.0.10/24', vtep: { mac: '0e:57:c6:12:00:0a', ip: '10.50.0.0' } } }, MERGE));
    assert.equal((await getJson<any>(cp, ['nodenetwork', 'node-a']))?.status?.address, '198.18.0.10/24');
  });

  test('its own block inside a pool: create, status patch and delete are admitted', async () => {
    ok(await asA('POST', BLOCKS, block('10.50.0.0/26', 'node-a')));
    ok(await asA('PATCH', `${BLOCKS}/10-50-0-0-26/status`, { status: { allocated: 3, capacity: 64 } }, MERGE));
    ok(await asA('POST', BLOCKS, block('10.50.0.64/26', 'node-a')));
    ok(await asA('DELETE', `${BLOCKS}/10-50-0-64-26`));
  });

  test('node B\'s NodeNetwork: no create, no status patch (its address would reroute B\'s blocks), no patch', async () => {
    await cp.kubectl(['delete', 'nodenetwork', 'node-b']);
    denied(await asA('POST', NN, nodeNetwork('node-b')), /may write only NodeNetwork node-a/);
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(nodeNetwork('node-b')) });
    denied(await asA('PATCH', `${NN}/node-b/status`, { status: { address: '198.18.0.66/24' } }, MERGE), /may write only NodeNetwork node-a/);
    denied(await asA('PATCH', `${NN}/node-b`, { metadata: { labels: { x: 'y' } } }, MERGE), /forbidden/i);
    assert.equal((await getJson<any>(cp, ['nodenetwork', 'node-b']))?.status?.address, undefined);
  });

  test('node B\'s blocks: no delete, no status patch, no new block naming node B', async () => {
    denied(await asA('DELETE', `${BLOCKS}/10-50-1-0-26`), /may write only IPAMBlocks whose spec.node is node-a/);
    denied(await asA('PATCH', `${BLOCKS}/10-50-1-0-26/status`, { status: { allocated: 0 } }, MERGE), /may write only IPAMBlocks whose spec.node is node-a/);
    denied(await asA('POST', BLOCKS, block('10.50.2.0/26', 'node-b')), /may write only IPAMBlocks whose spec.node is node-a/);
    assert.ok(await getJson(cp, ['ipamblock', '10-50-1-0-26']), 'node B\'s block is still there');
  });

  test('spec.node cannot be changed: the agent has no update verb, and the CRD refuses it for anyone', async () => {
    denied(await asA('PATCH', `${BLOCKS}/10-50-1-0-26`, { spec: { node: 'node-a' } }, MERGE), /forbidden/i);
    const r = await cp.kubectl(['patch', 'ipamblock', '10-50-1-0-26', '--type=merge', '-p', '{"spec":{"node":"node-a"}}'], { allowFailure: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /node of a block is immutable/);
  });

  test('blocks outside every pool, or of another size, are refused (a 0.0.0.0/1 "block" would capture half the IPv4 space)', async () => {
    denied(await asA('POST', BLOCKS, block('0.0.0.0/1', 'node-a')), /not a block of pool default/);
    denied(await asA('POST', BLOCKS, block('10.99.0.0/26', 'node-a')), /not a block of pool default/);
    denied(await asA('POST', BLOCKS, block('10.50.4.0/24', 'node-a')), /not a block of pool default/);
    denied(await asA('POST', BLOCKS, block('10.50.5.0/26', 'node-a', 'other')), /not a block of pool other/);
  });

  test('the uninstall marker: the agent can neither set it on a NodeNetwork nor create one with it; the operator can', async () => {
    denied(await asA('PATCH', `${NN}/node-b`, { metadata: { annotations: { [UNINSTALL_ANNOTATION]: 'x' } } }, MERGE), /forbidden/i);
    denied(await asA('PATCH', `${NN}/node-a`, { metadata: { annotations: { [UNINSTALL_ANNOTATION]: 'x' } } }, MERGE), /forbidden/i);
    // Through the status subresource the API server keeps metadata as it was, or the policy refuses.
    const viaStatus = await asA('PATCH', `${NN}/node-a/status`, { metadata: { annotations: { [UNINSTALL_ANNOTATION]: 'x' } }, status: { mtu: 1500 } }, MERGE);
    assert.ok(viaStatus.status === 403 || viaStatus.status === 200, JSON.stringify(viaStatus.body));
    assert.equal((await getJson<any>(cp, ['nodenetwork', 'node-a']))?.metadata?.annotations?.[UNINSTALL_ANNOTATION], undefined);
    denied(await apiRequest(cp, tokenC, 'POST', NN, nodeNetwork('node-c', { [UNINSTALL_ANNOTATION]: 'x' })), /only the operator sets or removes/);
    ok(await apiRequest(cp, tokenC, 'POST', NN, nodeNetwork('node-c')));
    // The operator's ServiceAccount is not matched by the policy and holds patch on NodeNetworks.
    ok(await apiRequest(cp, adminToken, 'PATCH', `${NN}/node-c`, { metadata: { annotations: { [UNINSTALL_ANNOTATION]: 'uid-1' } } }, MERGE));
  });

  test('hostile status values are refused by the CRD schema even on the agent\'s own object', async () => {
    const r = await asA('PATCH', `${NN}/node-a/status`, { status: { vtep: { mac: '0e:57:c6:12:00:0b\nroute replace default via 198.18.0.66' } } }, MERGE);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /status\.vtep\.mac/);
  });

  test('a ServiceAccount token that names no node may write nothing', async () => {
    const unbound = (await cp.kubectl(['create', 'token', 'weft-node', '-n', 'weft-system'])).stdout.trim();
    await cp.kubectl(['delete', 'nodenetwork', 'node-c']);
    denied(await apiRequest(cp, unbound, 'POST', NN, nodeNetwork('node-c')), /projected ServiceAccount token/);
    denied(await apiRequest(cp, unbound, 'POST', BLOCKS, block('10.50.6.0/26', 'node-c')), /projected ServiceAccount token/);
  });
});
