import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { BACKENDS, backendFor } from '../../../components/node/backends/index.ts';
import { birdConfigFor, parseBirdProtocols } from '../../../components/node/backends/bgp.ts';
import { derivedVtepMac } from '../../../components/node/backends/common.ts';
import { diffKernel } from '../../../components/node/kernel/diff.ts';
import { CFG, EMPTY, node, observedFrom } from './helpers.ts';

const local = node(1);
const sameSubnetPeer = node(2);
const remotePeer = { ...node(3, 1), underlaySubnet: '198.18.1.0/24' };

describe('backends', () => {
  test('every mode owns a blackhole for each local block and the natOutgoing table', () => {
    for (const b of Object.values(BACKENDS)) {
      const d = b.desired({ ...local, blocks: ['10.244.1.0/26', '10.244.9.64/26'] }, [sameSubnetPeer], CFG);
      assert.deepEqual(d.routes.filter((r) => r.type === 'blackhole').map((r) => r.dst), ['10.244.1.0/26', '10.244.9.64/26'], b.name);
      assert.deepEqual(d.nat, { natSources: ['10.244.0.0/16'], poolCidrs: ['10.244.0.0/16'] });
    }
  });

  test('host-gw: one route per peer block via its underlay address', () => {
    const d = backendFor('host-gw').desired(local, [sameSubnetPeer, { ...node(4), blocks: ['10.244.4.0/26', '10.244.40.0/26'] }], CFG);
    assert.deepEqual(d.routes.filter((r) => r.type === 'unicast'), [
      { dst: '10.244.2.0/26', type: 'unicast', gateway: '198.18.0.12', dev: 'eth0' },
      { dst: '10.244.4.0/26', type: 'unicast', gateway: '198.18.0.14', dev: 'eth0' },
      { dst: '10.244.40.0/26', type: 'unicast', gateway: '198.18.0.14', dev: 'eth0' },
    ]);
    assert.deepEqual(d.links, []);
  });

  test('host-gw: a peer in another subnet gets no route (the kernel would reject the batch) and is reported', () => {
    const d = backendFor('host-gw').desired(local, [sameSubnetPeer, remotePeer], CFG);
    assert.deepEqual(d.routes.filter((r) => r.type === 'unicast').map((r) => r.gateway), ['198.18.0.12']);
    assert.equal(d.unroutable?.length, 1);
    assert.equal(d.unroutable?.[0]?.peer, remotePeer.name);
    assert.match(d.unroutable![0]!.reason, /VXLANCrossSubnet or BGP/);
  });

  test('vxlan: device attributes, VTEP /32, and the reported MAC of a peer wins over the derived one', () => {
    const d = backendFor('vxlan').desired(local, [{ ...sameSubnetPeer, vxlanMac: '02:00:00:00:00:02' }], { ...CFG, vxlan: { vni: 4097 } });
    assert.deepEqual(d.links, [{
      name: 'weft.vxlan', kind: 'vxlan', mtu: 1450, mac: derivedVtepMac('198.18.0.11'), addresses: ['10.244.1.0/32'],
      vxlan: { vni: 4097, port: 4799, local: '198.18.0.11', dev: 'eth0', learning: false },
    }]);
    assert.deepEqual(d.fdb, [{ dev: 'weft.vxlan', mac: '02:00:00:00:00:02', dst: '198.18.0.12' }]);
    assert.deepEqual(d.neighbors, [{ dev: 'weft.vxlan', ip: '10.244.2.0', mac: '02:00:00:00:00:02' }]);
  });

  test('derived VTEP MACs are locally administered unicast and distinct per node', () => {
    const mac = derivedVtepMac('198.18.1.200');
    assert.equal(mac, '0e:57:c6:12:01:c8');
    assert.equal(parseInt(mac.slice(0, 2), 16) & 0b11, 0b10);
  });

  test('vxlan-crosssubnet: direct route inside the subnet, tunnel across it', () => {
    const d = backendFor('vxlan-crosssubnet').desired(local, [sameSubnetPeer, remotePeer], CFG);
    assert.deepEqual(d.routes.filter((r) => r.type === 'unicast'), [
      { dst: '10.244.2.0/26', type: 'unicast', gateway: '198.18.0.12', dev: 'eth0' },
      { dst: '10.244.3.0/26', type: 'unicast', gateway: '10.244.3.0', dev: 'weft.vxlan', onlink: true },
    ]);
    assert.equal(d.fdb.length, 1);
    assert.equal(d.fdb[0]!.dst, '198.18.1.13');
  });

  test('ipip: the exact ip -batch commands (no ipip module on the test machines)', () => {
    const plan = diffKernel(backendFor('ipip').desired(local, [sameSubnetPeer, remotePeer], { ...CFG, mtu: 1480 }), { ...EMPTY }, { nftTable: 'weft' });
    assert.deepEqual(plan.ip, [
      'link add weft.ipip mtu 1480 type ipip local 198.18.0.11 dev eth0',
      'addr add 10.244.1.0/32 dev weft.ipip',
      'link set weft.ipip up',
      'route replace blackhole 10.244.1.0/26 proto 87 table main',
      'route replace 10.244.2.0/26 via 198.18.0.12 dev weft.ipip onlink proto 87 table main',
      'route replace 10.244.3.0/26 via 198.18.1.13 dev weft.ipip onlink proto 87 table main',
    ]);
    assert.deepEqual(plan.bridge, []);
  });

  test('ipip-crosssubnet: same subnet peers go direct; re-applying is zero operations', () => {
    const d = backendFor('ipip-crosssubnet').desired(local, [sameSubnetPeer, remotePeer], { ...CFG, mtu: 1480 });
    assert.deepEqual(d.routes.filter((r) => r.type === 'unicast').map((r) => `${r.dst} ${r.gateway} ${r.dev}`), [
      '10.244.2.0/26 198.18.0.12 eth0', '10.244.3.0/26 198.18.1.13 weft.ipip',
    ]);
    const plan = diffKernel(d, observedFrom(d), { nftTable: 'weft' });
    assert.deepEqual([plan.ip, plan.bridge, plan.nft], [[], [], null]);
  });

  test('a peer list containing the local node is rejected with what to do', () => {
    assert.throws(() => backendFor('host-gw').desired(local, [local], CFG), /pass only other nodes as peers/);
    assert.throws(() => backendFor('nope'), /unknown dataplane backend "nope"/);
    assert.throws(() => backendFor('vxlan').desired({ ...local, blocks: [] }, [], CFG), /claim a block/);
  });
});

describe('bgp backend (BIRD 2)', () => {
  // The backend writes render's template completed for the node (render/bird.ts, the one BIRD
  // renderer), so these tests check the configuration the product writes.
  test('renders an iBGP full mesh exporting own blocks and importing pool routes into the kernel', () => {
    const conf = birdConfigFor(local, [remotePeer, sameSubnetPeer], CFG.bgp!);
    for (const line of [
      'router id 198.18.0.11;', '  route 10.244.1.0/26 blackhole;', '  metric 87;', '  local 198.18.0.11 as 64512;',
      '    gateway direct;', '    import where net ~ [ 10.244.0.0/16+ ];', '    export where proto = "weft_blocks";',
      '  neighbor 198.18.0.12 as 64512;', '  neighbor 198.18.1.13 as 64512;', '  ipv4 { import none; export where source = RTS_BGP; };',
    ]) assert.ok(conf.includes(line), `missing: ${line}\n${conf}`);
    assert.ok(conf.indexOf('node_n2') < conf.indexOf('node_n3'), 'peers sorted, so the file is stable');
    assert.equal(conf, birdConfigFor(local, [sameSubnetPeer, remotePeer], CFG.bgp!), 'peer order must not change the file');
  });

  // What the product does (render/bird.ts): configured peers are added to the full mesh; with
  // fullMesh off they are the only peers. Each keeps its own AS number.
  test('configured peers add to the mesh, or stand alone without fullMesh, with their own AS numbers', () => {
    const tor = [{ address: '198.18.0.1', asNumber: 65000, name: 'tor-1' }];
    const withMesh = birdConfigFor(local, [sameSubnetPeer], { ...CFG.bgp!, peers: tor });
    assert.match(withMesh, /protocol bgp peer_198_18_0_1 from weft_router \{\n {2}description "tor-1";\n {2}neighbor 198\.18\.0\.1 as 65000;/);
    assert.match(withMesh, /neighbor 198\.18\.0\.12 as 64512;/, 'the mesh stays');
    const alone = birdConfigFor(local, [sameSubnetPeer], { ...CFG.bgp!, fullMesh: false, peers: tor });
    assert.match(alone, /neighbor 198\.18\.0\.1 as 65000;/);
    assert.ok(!alone.includes('198.18.0.12'), 'no mesh without fullMesh');
  });

  test('the rendered config passes bird -p', (t) => {
    try { execFileSync('sh', ['-c', 'command -v bird']); } catch { t.skip('bird (bird2) is not installed'); return; }
    const dir = mkdtempSync(`${tmpdir()}/weft-bird-`);
    try {
      writeFileSync(`${dir}/bird.conf`, birdConfigFor(local, [sameSubnetPeer, remotePeer], CFG.bgp!));
      execFileSync('bird', ['-p', '-c', `${dir}/bird.conf`]);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test('parses birdc show protocols all into {peer, state, info}', () => {
    const text = readFileSync(new URL('./testdata/birdc-show-protocols-all.txt', import.meta.url), 'utf8');
    assert.deepEqual(parseBirdProtocols(text), [{ peer: '198.18.0.12', name: 'peer_n2', state: 'Established', info: 'Established' }]);
    const down = [
      'BIRD 2.0.12 ready.', 'Name       Proto      Table      State  Since         Info',
      'peer_n3    BGP        ---        start  2026-11-25 21:22:14  Active        Socket: Connection refused',
      '  BGP state:          Active', '    Neighbor address: 198.18.1.13', '    Neighbor AS:      64512', '',
    ].join('\n');
    assert.deepEqual(parseBirdProtocols(down), [{ peer: '198.18.1.13', name: 'peer_n3', state: 'Active', info: 'Active        Socket: Connection refused' }]);
  });
});
