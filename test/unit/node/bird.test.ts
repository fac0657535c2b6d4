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
import { birdPeers, completeBirdTemplate, configuredPeersFor } from '../../../components/node/backends/bird-config.ts';
import { birdStartArgv } from '../../../components/node/backends/bgp.ts';

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
  const peers = birdPeers([{ name: 'n2', underlayAddress: '198.18.0.12', blocks: [] }, { name: 'n3.example', underlayAddress: '198.18.0.13', blocks: ['10.244.3.0/26'] }], true, 64512, [{ address: '198.18.0.1', asNumber: 65000 }]);

  test('full mesh plus configured peers, sorted, with safe protocol names', () => {
    assert.deepEqual(peers.map((p) => [p.name, p.address, p.asNumber]), [
      ['node_n2', '198.18.0.12', 64512], ['node_n3_example', '198.18.0.13', 64512], ['peer_198_18_0_1', '198.18.0.1', 65000],
    ]);
    assert.deepEqual(birdPeers([{ name: 'n2', underlayAddress: '198.18.0.12', blocks: [] }], false, 64512, []), [], 'no mesh, no peers');
  });

  test('every placeholder replaced; router id, blocks and neighbors present', () => {
    const text = completeBirdTemplate(template, local, peers);
    assert.doesNotMatch(text, /\{\{[A-Z_]+\}\}/);
    assert.match(text, /router id 198\.18\.0\.11;/);
    assert.match(text, /local 198\.18\.0\.11 as 64512;/);
    assert.match(text, /route 10\.244\.1\.0\/26 blackhole;\n {2}route 10\.244\.9\.64\/26 blackhole;/);
    assert.match(text, /protocol bgp node_n3_example from weft_peer \{\n {2}description "n3\.example";\n {2}neighbor 198\.18\.0\.13 as 64512;\n\}/);
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
