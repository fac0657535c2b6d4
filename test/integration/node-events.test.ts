// Node Events from the agent against a real kube-apiserver, with only the RBAC render grants the
// weft-node ServiceAccount: a core v1 Event per decision (block claimed, conflist written) on the
// Node, visible through events.k8s.io (what `weft diagnose` reads), and none repeated by later passes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { EffectiveConfig } from '../../api/effective-config.ts';
import { NodeAgent } from '../../components/node/agent/agent.ts';
import { renderConflist } from '../../render/conflist.ts';
import { agentKubeConfigForNode, installAgentRights } from '../support/node-token.ts';
import { startControlPlane, type ControlPlane } from '../../kube/envtest.ts';
import { repoRoot, testenvAvailable } from '../../hack/testenv/assets.ts';

const env = await testenvAvailable();
if (!env.ok) console.log(`# skipping the node events integration test: ${env.reason}`);

const config: EffectiveConfig = {
  version: 1, mtu: 1450, mtuReason: 'test',
  pools: [{ name: 'default', cidr: '10.70.0.0/24', family: 4, blockSize: 28, encapsulation: 'VXLAN', dataplane: 'vxlan', natOutgoing: true, nodeSelector: '' }],
  bgp: { enabled: false, fullMesh: false, asNumber: 64512, peers: [] },
  autodetection: { v4: { firstFound: true } },
  cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', confName: '10-weft.conflist' },
  hostPorts: false, bandwidth: false,
  vxlan: { vni: 4096, port: 4789, device: 'weft.vxlan' },
  ipip: { device: 'weft.ipip' },
};

describe('node agent Events (real API server, agent RBAC)', { skip: env.ok ? false : env.reason }, () => {
  let cp: ControlPlane;
  let root: string;
  let agent: NodeAgent | undefined;

  before(async () => {
    cp = await startControlPlane();
    for (const f of readdirSync(join(repoRoot, 'crds')).filter((x) => x.endsWith('.network.weft.dev.yaml'))) await cp.kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds', f)]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/nodenetworks.network.weft.dev', 'crd/ipamblocks.network.weft.dev']);
    root = mkdtempSync(join(tmpdir(), 'weft-node-events-'));
  });
  after(async () => {
    await agent?.stop();
    await cp?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('BlockClaimed and ConflistWritten on the Node, once each', { timeout: 60_000 }, async () => {
    await installAgentRights(cp, [{ name: 'default', cidr: '10.70.0.0/24', blockSize: 28 }]);
    await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'ev-1' } }) });
    const kc = await agentKubeConfigForNode(cp, 'ev-1');
    const cfgDir = join(root, 'cfg');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, 'config.json'), JSON.stringify(config));
    writeFileSync(join(cfgDir, 'cni-conflist'), renderConflist(config));
    const dir = join(root, 'ev-1');
    agent = new NodeAgent({
      nodeName: 'ev-1', configDir: cfgDir, kubeConfig: kc, version: 'test', log: pino({ level: 'warn' }),
      ipamDataDir: join(dir, 'ipam'), hostRoot: '/', cniConfDir: join(dir, 'net.d'),
      healthPort: 0, healthHost: '127.0.0.1', resyncMs: 60_000, debounceMs: 20,
      leakGraceMs: 600_000, leakScanMs: 100, claimThreshold: 0.9, statusMinIntervalMs: 0,
      kernel: false, bird: { configPath: join(dir, 'bird.conf'), socketPath: join(dir, 'bird.ctl'), pidFile: join(dir, 'bird.pid') },
    });
    await agent.start();
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(dir, 'net.d', '10-weft.conflist'))) {
      if (Date.now() > deadline) assert.fail('no conflist written');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 5; i++) { agent.schedule(0); await new Promise((r) => setTimeout(r, 100)); }
    await agent.nodeEvents!.flush();
    assert.equal(agent.nodeEvents!.stats.failed, 0, 'the agent\'s RBAC allows creating events');

    const core = JSON.parse((await cp.kubectl(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.kind=Node,involvedObject.name=ev-1', '-o', 'json'])).stdout) as { items: { reason: string; type: string; message: string; source?: { component?: string } }[] };
    // This machine's first interface may be smaller than 1450 + 50: then the agent says so too.
    const nn = JSON.parse((await cp.kubectl(['get', 'nodenetwork', 'ev-1', '-o', 'json'])).stdout) as { status?: { conditions?: { type: string; status: string }[] } };
    const mtuTooLarge = nn.status?.conditions?.some((c) => c.type === 'MTUTooLarge' && c.status === 'True') ?? false;
    const reasons = core.items.map((e) => e.reason).sort();
    assert.deepEqual(reasons, ['BlockClaimed', 'ConflistWritten', ...(mtuTooLarge ? ['MTUTooLarge'] : [])], JSON.stringify(core.items.map((e) => [e.reason, e.message])));
    assert.match(core.items.find((e) => e.reason === 'BlockClaimed')!.message, /10\.70\.0\.\d+\/28 of pool default/);
    assert.equal(core.items[0]!.source?.component, 'weft-node');
    // weft diagnose lists events through events.k8s.io/v1 and keeps those regarding a Node.
    const v1 = JSON.parse((await cp.kubectl(['get', 'events.v1.events.k8s.io', '-n', 'default', '-o', 'json'])).stdout) as { items: { regarding?: { kind?: string; name?: string }; reason?: string }[] };
    assert.equal(v1.items.filter((e) => e.regarding?.kind === 'Node' && e.regarding.name === 'ev-1').length, reasons.length);
  });
});
