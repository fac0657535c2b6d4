// Completing render's BIRD template with this node's router id, blocks and peers; the result
// must be a configuration BIRD itself accepts (`bird -p`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EffectiveConfig } from '../../../api/effective-config.ts';
import { renderBirdTemplate } from '../../../render/bird.ts';
import { birdPassword, birdPeers, completeBirdTemplate, configuredPeersFor } from '../../../components/node/backends/bird-config.ts';
import { birdStartArgv, parseBirdProtocols } from '../../../components/node/backends/bgp.ts';
import { nodeAsNumber } from '../../../components/node/agent/agent.ts';

const cfg = {
  version: 1, mtu: 1500, mtuReason: '', hostPorts: false, bandwidth: false,
  pools: [{ name: 'default', cidr: '10.244.0.0/16', family: 4, blockSize: 26, encapsulation: 'None', dataplane: 'bgp', natOutgoing: true, nodeSelector: '' }],
  bgp: { enabled: true, fullMesh: true, asNumber: 64512, peers: [{ peerIP: '198.18.0.1', asNumber: 65000, nodeSelector: '' }] },
  autodetection: { v4: { firstFound: true } },
  cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', confName: '10-weft.conflist' },
  vxlan: { vni: 4096, port: 4789, device: 'weft.vxlan' }, ipip: { device: 'weft.ipip' },
} satisfies EffectiveConfig;

describe('BIRD template completion', () => {
  const template = renderBirdTemplate(cfg)!;
  const local = { name: 'n1', underlayAddress: '198.18.0.11', underlaySubnet: '198.18.0.0/24', underlayInterface: 'eth0', blocks: ['10.244.1.0/26', '10.244.9.64/26'] };
  const peers = birdPeers([{ name: 'n2', underlayAddress: '198.18.0.12' }, { name: 'n3.example', underlayAddress: '198.18.0.13' }], { mode: 'mesh', asNumber: 64512 }, [{ address: '198.18.0.1', asNumber: 65000 }]);

  test('full mesh plus configured peers, sorted, with safe protocol names', () => {
    assert.deepEqual(peers.map((p) => [p.name, p.address, p.asNumber]), [
      ['node_n2', '198.18.0.12', 64512], ['node_n3_example', '198.18.0.13', 64512], ['peer_198_18_0_1', '198.18.0.1', 65000],
    ]);
    assert.deepEqual(birdPeers([{ name: 'n2', underlayAddress: '198.18.0.12' }], { mode: 'none', asNumber: 64512 }, []), [], 'no mesh, no peers');
  });

  test('every placeholder replaced; router id, blocks and neighbors present', () => {
    const text = completeBirdTemplate(template, local, peers);
    assert.doesNotMatch(text, /\{\{[A-Z_]+\}\}/);
    assert.match(text, /router id 198\.18\.0\.11;/);
    assert.match(text, /local 198\.18\.0\.11 as 64512;/);
    assert.match(text, /route 10\.244\.1\.0\/26 blackhole;\n {2}route 10\.244\.9\.64\/26 blackhole;/);
    assert.match(text, /protocol bgp node_n3_example from weft_peer \{\n {2}description "n3\.example";\n {2}neighbor 198\.18\.0\.13 as 64512;\n\}/);
    assert.match(text, /protocol bgp peer_198_18_0_1 from weft_router \{/);
  });

  test('configured peers are chosen by the node\'s labels, and a label change changes the choice', () => {
    const bgp = { peers: [
      { peerIP: '198.18.0.1', asNumber: 65000, nodeSelector: 'rack == a' },
      { peerIP: '198.18.0.2', asNumber: 65001, nodeSelector: '' },
    ] };
    assert.deepEqual(configuredPeersFor(bgp, { rack: 'b' }), [{ address: '198.18.0.2', asNumber: 65001 }]);
    assert.deepEqual(configuredPeersFor(bgp, { rack: 'a' }).map((p) => p.address), ['198.18.0.1', '198.18.0.2']);
  });

  test('graceful restart (RFC 4724) and the session timers on every session; the kernel kept during recovery', () => {
    const text = completeBirdTemplate(template, local, peers);
    const peerTemplate = /template bgp weft_peer \{[\s\S]*?\n\}/.exec(text)![0];
    assert.match(peerTemplate, /\n {2}graceful restart on;\n {2}graceful restart time 120;/);
    assert.match(peerTemplate, /\n {2}hold time 90;\n {2}keepalive time 30;/);
    assert.match(/protocol kernel weft_kernel \{[\s\S]*?\n\}/.exec(text)![0], /persist;\n {2}graceful restart on;/);
    assert.match(text, /^graceful restart wait \d+;$/m);
    const tuned = renderBirdTemplate({ ...cfg, bgp: { ...cfg.bgp, holdTime: 9, keepaliveTime: 3, gracefulRestart: false } })!;
    assert.match(tuned, /hold time 9;\n {2}keepalive time 3;\n {2}graceful restart off;/);
    assert.match(tuned, /protocol kernel[\s\S]*graceful restart off;/);
  });

  test('BIRD starts in graceful-restart recovery (-R) only when asked', () => {
    const bgp = { asNumber: 64512, template, fullMesh: true, peers: [], configPath: '/run/weft/bird.conf', socketPath: '/run/weft/bird.ctl', pidFile: '/run/weft/bird.pid' };
    assert.deepEqual(birdStartArgv(bgp, false), ['bird', '-c', '/run/weft/bird.conf', '-s', '/run/weft/bird.ctl', '-P', '/run/weft/bird.pid']);
    assert.deepEqual(birdStartArgv(bgp, true).slice(-1), ['-R']);
  });

  test('route reflectors: a reflector peers with every node (clients as rr client), a client with the reflectors only', () => {
    const nodes = [{ name: 'rr2', underlayAddress: '198.18.0.2', routeReflector: true }, { name: 'c1', underlayAddress: '198.18.0.21' }, { name: 'c2', underlayAddress: '198.18.0.22', asNumber: 65001 }];
    const onReflector = birdPeers(nodes, { mode: 'reflectors', asNumber: 64512, clusterAsNumber: 64512, routeReflector: true }, []);
    assert.deepEqual(onReflector.map((p) => [p.name, p.template, !!p.rrClient, p.asNumber]), [
      ['node_c1', 'weft_reflector', true, 64512], ['node_c2', 'weft_reflector', false, 65001], ['node_rr2', 'weft_reflector', false, 64512],
    ], 'a client of another AS is an eBGP peer, never an rr client');
    const onClient = birdPeers(nodes, { mode: 'reflectors', asNumber: 64513, clusterAsNumber: 64512 }, [{ address: '198.18.9.2', asNumber: 65000, multihop: 2, password: 'pw' }]);
    assert.deepEqual(onClient.map((p) => [p.name, p.template, p.localAs]), [['node_rr2', 'weft_peer', 64513], ['peer_198_18_9_2', 'weft_router', 64513]]);
    const rrTemplate = renderBirdTemplate({ ...cfg, bgp: { ...cfg.bgp, fullMesh: false, routeReflectors: { nodeSelector: 'rr=yes', clusterID: '244.0.0.1' }, serviceCIDRs: ['10.96.0.0/12'] } })!;
    const text = completeBirdTemplate(rrTemplate, local, onReflector);
    const clientText = completeBirdTemplate(rrTemplate, local, onClient);
    assert.match(text, /template bgp weft_reflector from weft_peer \{\n {2}ipv4 \{ export where \(proto = "weft_blocks"\) \|\| \(source = RTS_BGP && net ~ \[ 10\.244\.0\.0\/16\+ \]\); \};\n {2}rr cluster id 244\.0\.0\.1;/);
    assert.match(clientText, /protocol bgp peer_198_18_9_2 from weft_router \{[^}]*password "pw";\n {2}multihop 2;\n {2}ipv4 \{ gateway recursive; import none; \};/);
    assert.match(text, /protocol static weft_services \{\n {2}ipv4;\n {2}route 10\.96\.0\.0\/12 blackhole;/);
    if (spawnSync('bird', ['--version']).error) return;
    const dir = mkdtempSync(join(tmpdir(), 'weft-bird-'));
    try {
      for (const [what, t] of [['reflector', text], ['client', clientText]] as const) {
        writeFileSync(join(dir, 'bird.conf'), t);
        const r = spawnSync('bird', ['-p', '-c', join(dir, 'bird.conf')], { encoding: 'utf8' });
        assert.equal(r.status, 0, `bird -p rejected the ${what} configuration: ${r.stderr}`);
      }
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test('disableBGPExport: the pool\'s blocks are not exported; only BGP-routed pools are imported', () => {
    const t = renderBirdTemplate({ ...cfg, pools: [...cfg.pools, { ...cfg.pools[0]!, name: 'quiet', cidr: '10.250.0.0/16', disableBGPExport: true }, { ...cfg.pools[0]!, name: 'vx', cidr: '10.251.0.0/16', dataplane: 'vxlan', encapsulation: 'VXLAN' }] })!;
    assert.match(t, /import where net ~ \[ 10\.244\.0\.0\/16\+ \];\n {4}export where proto = "weft_blocks" && !\(net ~ \[ 10\.250\.0\.0\/16\+ \]\);/);
  });

  test('BGP sessions per node at 100 nodes: full mesh vs two route reflectors', () => {
    const nodes = Array.from({ length: 100 }, (_, i) => ({ name: `n${i}`, underlayAddress: `198.18.${i >> 8}.${(i & 255) + 1}`, ...(i < 2 ? { routeReflector: true } : {}) }));
    const sessions = (topo: 'mesh' | 'reflectors') => nodes.map((n) => birdPeers(nodes.filter((p) => p !== n), { mode: topo, asNumber: 64512, clusterAsNumber: 64512, ...(n.routeReflector ? { routeReflector: true } : {}) }, []).length);
    const mesh = sessions('mesh');
    const rr = sessions('reflectors');
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / 2;
    console.log(`# 100 nodes: full mesh ${Math.max(...mesh)} sessions per node (${total(mesh)} in all); two reflectors: ${Math.max(...rr.slice(2))} per client, ${Math.max(...rr.slice(0, 2))} per reflector (${total(rr)} in all)`);
    assert.deepEqual([Math.min(...mesh), Math.max(...mesh)], [99, 99]);
    assert.deepEqual(rr.slice(2).every((x) => x === 2), true, 'a client peers with the two reflectors only');
    assert.deepEqual(rr.slice(0, 2), [99, 99], 'a reflector peers with every other node');
    assert.equal(total(mesh), 4950);
    assert.equal(total(rr), 197);
  });

  test('per-node AS from the Node annotation weft.dev/bgp-as-number: validated, else the cluster\'s with an error', () => {
    const node = (v?: string) => ({ metadata: { name: 'n1', ...(v !== undefined ? { annotations: { 'weft.dev/bgp-as-number': v } } : {}) } });
    assert.deepEqual(nodeAsNumber(node()), {});
    assert.deepEqual(nodeAsNumber(node('65001')), { asNumber: 65001 });
    assert.deepEqual(nodeAsNumber(node('4294967295')), { asNumber: 4294967295 });
    for (const bad of ['0', '4294967296', '-1', '65001;', ' 65001', '1e5', '0x10', '']) {
      assert.match(nodeAsNumber(node(bad)).error ?? '', /Node n1 annotation weft\.dev\/bgp-as-number=.* is not an AS number \(a decimal 1-4294967295\)/, bad);
    }
  });

  test('session passwords are checked before they reach bird.conf', () => {
    assert.equal(birdPassword('a-Valid pass_1'), 'a-Valid pass_1');
    for (const bad of ['', 'quote"inside', 'back\\slash', 'new\nline', 'x'.repeat(81)]) assert.throws(() => birdPassword(bad), /printable ASCII/);
  });

  test('BIRD\'s last error of a session is read from show protocols all', () => {
    const out = [
      'Name       Proto      Table      State  Since         Info',
      'peer_198_18_9_2 BGP   ---        start  2026-11-29 22:00:00  Active        Socket: Connection refused',
      '  BGP state:          Active',
      '    Neighbor address: 198.18.9.2',
      '    Last error:       Socket: Connection refused',
    ].join('\n');
    assert.deepEqual(parseBirdProtocols(out), [{ name: 'peer_198_18_9_2', peer: '198.18.9.2', state: 'Active', info: 'Active        Socket: Connection refused', lastError: 'Socket: Connection refused' }]);
  });

  test('a template without the placeholders is refused with what is missing', () => {
    assert.throws(() => completeBirdTemplate('router id 1.2.3.4;\n', local, peers), /lacks the placeholders \{\{ROUTER_ID\}\}/);
  });

  test('bird -p accepts the completed configuration', (t) => {
    if (spawnSync('bird', ['--version']).error) return t.skip('bird (bird2) is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'weft-bird-'));
    try {
      const path = join(dir, 'bird.conf');
      writeFileSync(path, completeBirdTemplate(template, local, peers));
      const r = spawnSync('bird', ['-p', '-c', path], { encoding: 'utf8' });
      assert.equal(r.status, 0, `bird -p rejected the config: ${r.stderr}`);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
