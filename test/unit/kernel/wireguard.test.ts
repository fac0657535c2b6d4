// WireGuard's pure parts: `wg show dump` parsing, the `wg set` plan (level-triggered, removals
// after the routes moved), which peers are encrypted (handshake or already routed), the routes
// over the backend's, key files (0600, `wg pubkey`-compatible) and hostile keys from the API.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { backendFor } from '../../../components/node/backends/index.ts';
import {
  ensureKeyPair, encryptedPeers, publicKeyOf, wireguardSpec, withWireGuard, WIREGUARD_KEEPALIVE_S,
} from '../../../components/node/backends/wireguard.ts';
import { diffKernel } from '../../../components/node/kernel/diff.ts';
import { parseLinks } from '../../../components/node/kernel/read.ts';
import { handshakeNudge, parseWgDump, planWireGuard } from '../../../components/node/kernel/wireguard.ts';
import { KernelValueError, isIPv4Endpoint, isWireGuardKey } from '../../../components/node/kernel/values.ts';
import { computePeers, nodeNetworkPeerKey, type PeerRejection } from '../../../components/node/agent/peers.ts';
import type { IPAMBlockObject, NodeNetworkObject } from '../../../components/node/agent/kube.ts';
import type { DataplaneConfig, PeerNode } from '../../../components/node/backends/types.ts';
import { CFG, node, observedFrom } from './helpers.ts';

// RFC 7748 section 6.1 test vector (Alice): the private scalar and its X25519 public key.
const ALICE_PRIV = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
const ALICE_PUB = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64');
const K = (i: number) => Buffer.alloc(32, i).toString('base64');
const OWN = K(9);

const ENC: DataplaneConfig = { ...CFG, mtu: 1440, linkPrefix: 'weft', encryption: { port: 51830, privateKeyFile: '/run/weft/wireguard/private.key', publicKey: OWN } };
const peer = (i: number, key?: string): PeerNode => ({ ...node(i), ...(key ? { wireguard: { publicKey: key, endpoint: `${node(i).underlayAddress}:51830` } } : {}) });

describe('WireGuard values', () => {
  test('keys: canonical base64 of 32 bytes only', () => {
    assert.ok(isWireGuardKey(ALICE_PUB));
    assert.ok(isWireGuardKey(K(1)));
    for (const bad of [K(1).slice(0, 43), `${K(1)}=`, Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), `${K(1).slice(0, 42)}B=`,
      `${K(1).slice(0, 10)}\n${K(1).slice(11)}`, `${K(1).slice(0, 40)} rm=`, 'peer x remove', '', 42]) {
      assert.equal(isWireGuardKey(bad), false, JSON.stringify(bad));
    }
  });
  test('endpoints: dotted quad and a port', () => {
    assert.ok(isIPv4Endpoint('198.18.0.11:51830'));
    for (const bad of ['198.18.0.11', '198.18.0.11:0', '198.18.0.11:65536', '198.18.0.11:051830', '[::1]:51830', '198.18.0.11:51830 persistent-keepalive 1', 'host:51830']) {
      assert.equal(isIPv4Endpoint(bad), false, bad);
    }
  });
});

describe('WireGuard device plan', () => {
  const DUMP = [
    `PRIVKEY-NEVER-KEPT\t${OWN}\t51830\toff`,
    `${K(2)}\t(none)\t198.18.0.12:51830\t10.244.2.0/26\t1700000000\t1000\t2000\t25`,
    `${K(7)}\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
  ].join('\n');

  test('parses wg show dump and keeps no private key', () => {
    const o = parseWgDump(DUMP);
    assert.deepEqual(o, {
      publicKey: OWN, listenPort: 51830,
      peers: [
        { publicKey: K(2), endpoint: '198.18.0.12:51830', allowedIps: ['10.244.2.0/26'], latestHandshake: 1700000000, rxBytes: 1000, txBytes: 2000, keepalive: 25 },
        { publicKey: K(7), endpoint: null, allowedIps: [], latestHandshake: 0, rxBytes: 0, txBytes: 0, keepalive: 0 },
      ],
    });
    assert.ok(!JSON.stringify(o).includes('PRIVKEY'));
    assert.deepEqual(parseWgDump(`(none)\t(none)\t0\toff\n`), { publicKey: null, listenPort: 0, peers: [] });
  });

  test('a new device gets its key, port and peers; removals wait until after the routes moved', () => {
    const spec = wireguardSpec([peer(2, K(2)), peer(3, K(3)), peer(4)], ENC, OWN);
    assert.deepEqual(spec.peers.map((p) => p.publicKey), [K(2), K(3)], 'a peer without a key is not on the device');
    const plan = planWireGuard(spec, parseWgDump(`(none)\t(none)\t0\toff\n${K(7)}\t(none)\t(none)\t(none)\t0\t0\t0\toff`));
    assert.deepEqual(plan.before, [
      'private-key', '/run/weft/wireguard/private.key', 'listen-port', '51830',
      'peer', K(2), 'endpoint', '198.18.0.12:51830', 'allowed-ips', '10.244.2.0/26', 'persistent-keepalive', String(WIREGUARD_KEEPALIVE_S),
      'peer', K(3), 'endpoint', '198.18.0.13:51830', 'allowed-ips', '10.244.3.0/26', 'persistent-keepalive', String(WIREGUARD_KEEPALIVE_S),
    ]);
    assert.deepEqual(plan.after, ['peer', K(7), 'remove']);
  });

  test('a device that matches gets no command (a restarted agent touches no session)', () => {
    const spec = wireguardSpec([peer(2, K(2))], ENC, OWN);
    assert.deepEqual(planWireGuard(spec, parseWgDump(`x\t${OWN}\t51830\toff\n${K(2)}\t(none)\t198.18.0.12:51830\t10.244.2.0/26\t1700000000\t1\t2\t25`)), { before: [], after: [] });
    // A new block of the peer: only that peer changes.
    const grown = wireguardSpec([{ ...peer(2, K(2)), blocks: ['10.244.2.0/26', '10.244.20.0/26'] }], ENC, OWN);
    assert.deepEqual(planWireGuard(grown, parseWgDump(`x\t${OWN}\t51830\toff\n${K(2)}\t(none)\t198.18.0.12:51830\t10.244.2.0/26\t1700000000\t1\t2\t25`)).before,
      ['peer', K(2), 'endpoint', '198.18.0.12:51830', 'allowed-ips', '10.244.2.0/26,10.244.20.0/26', 'persistent-keepalive', '25']);
  });

  test('a peer publishing this node\'s own key is left off the device', () => {
    assert.deepEqual(wireguardSpec([peer(2, OWN)], ENC, OWN).peers, []);
  });

  test('values are checked at the command line too', () => {
    const spec = wireguardSpec([peer(2, K(2))], ENC, OWN);
    spec.peers[0]!.endpoint = '198.18.0.12:51830 peer x';
    assert.throws(() => planWireGuard(spec, parseWgDump('')), KernelValueError);
    assert.throws(() => planWireGuard({ ...spec, peers: [], privateKeyFile: '/run/x key' }, parseWgDump('')), KernelValueError);
  });

  test('the handshake nudge turns keepalive off and on', () => {
    const [p] = wireguardSpec([peer(2, K(2))], ENC, OWN).peers;
    assert.deepEqual(handshakeNudge([p!]), ['peer', K(2), 'persistent-keepalive', '0', 'peer', K(2), 'persistent-keepalive', '25']);
  });
});

describe('WireGuard routes over the backend', () => {
  const local = node(1);
  const peers = [peer(2, K(2)), peer(3, K(3)), peer(4)];
  const now = 1_700_000_100;
  const wg = (hs: Record<string, number>) => parseWgDump([`x\t${OWN}\t51830\toff`, ...Object.entries(hs).map(([k, t]) => `${k}\t(none)\tx\t(none)\t${t}\t0\t0\t25`)].join('\n'));

  test('encrypted: a fresh handshake, or blocks already routed through the device; plain: no key, or no handshake yet', () => {
    const spec = wireguardSpec(peers, ENC, OWN);
    assert.deepEqual(encryptedPeers(spec, peers, [], wg({ [K(2)]: now - 10, [K(3)]: 0 }), now), { encrypted: ['n2'], plain: ['n3', 'n4'], pending: ['n3'] });
    assert.deepEqual(encryptedPeers(spec, peers, [], wg({ [K(2)]: now - 1000, [K(3)]: now }), now), { encrypted: ['n3'], plain: ['n2', 'n4'], pending: ['n2'] }, 'a stale handshake is not a session');
    const routed = [{ dst: '10.244.2.0/26', type: 'unicast' as const, dev: 'weft.wg' }];
    assert.deepEqual(encryptedPeers(spec, peers, routed, wg({}), now).encrypted, ['n2'], 'no downgrade once a peer is encrypted (agent restart, rekey)');
  });

  test('the device is added and the encrypted peers\' blocks go through it; the backend keeps the rest', () => {
    for (const mode of ['host-gw', 'vxlan'] as const) {
      const base = backendFor(mode).desired(local, peers, ENC);
      const d = withWireGuard(base, local, peers, ENC, ['n2']);
      assert.deepEqual(d.links.find((l) => l.kind === 'wireguard'), { name: 'weft.wg', kind: 'wireguard', mtu: 1440, addresses: ['10.244.1.0/32'] });
      assert.deepEqual(d.routes.filter((r) => r.dst === '10.244.2.0/26'), [{ dst: '10.244.2.0/26', type: 'unicast', dev: 'weft.wg' }], mode);
      assert.deepEqual(d.routes.filter((r) => r.dst === '10.244.3.0/26'), base.routes.filter((r) => r.dst === '10.244.3.0/26'), `${mode}: a plain peer keeps the backend's route`);
      assert.deepEqual(d.fdb, base.fdb, 'VXLAN stays for plain traffic in both directions');
      // The kernel diff adds the address and route and brings the (externally created) device up.
      const observed = observedFrom(base);
      observed.links.push({ name: 'weft.wg', kind: 'wireguard', mtu: 1420, up: false, addresses: [], wireguard: { implementation: 'Userspace' } });
      const plan = diffKernel(d, observed, { nftTable: 'weft' });
      assert.deepEqual(plan.ip, ['link set weft.wg mtu 1440 up', 'addr add 10.244.1.0/32 dev weft.wg', 'route replace 10.244.2.0/26 dev weft.wg proto 87 table main'], mode);
      assert.deepEqual(diffKernel(d, observedFrom(d), { nftTable: 'weft' }).ip, [], `${mode}: steady state is zero operations`);
    }
  });

  test('wireguard-go\'s TUN and the kernel\'s link read back as the managed WireGuard device; other TUNs are not ours', () => {
    const json = JSON.stringify([
      { ifname: 'weft.wg', mtu: 1440, flags: ['UP'], linkinfo: { info_kind: 'tun' }, addr_info: [{ family: 'inet', local: '10.244.1.0', prefixlen: 32 }] },
      { ifname: 'weft.tap', mtu: 1500, flags: ['UP'], linkinfo: { info_kind: 'tun' } },
      { ifname: 'weft0.wg', mtu: 1420, flags: [], linkinfo: { info_kind: 'wireguard' } },
    ]);
    assert.deepEqual(parseLinks(json, 'weft'), [
      { name: 'weft.wg', kind: 'wireguard', mtu: 1440, up: true, addresses: ['10.244.1.0/32'], wireguard: { implementation: 'Userspace' } },
      { name: 'weft0.wg', kind: 'wireguard', mtu: 1420, up: false, addresses: [], wireguard: { implementation: 'Kernel' } },
    ]);
  });
});

describe('WireGuard keys', () => {
  test('the public key of a private key is X25519 (RFC 7748 test vector)', () => {
    assert.equal(publicKeyOf(ALICE_PRIV), ALICE_PUB);
  });

  test('made on first use with mode 0600, read back the same afterwards, and wg agrees on the public key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-wgkey-'));
    try {
      const file = join(dir, 'wireguard', 'private.key');
      const made = await ensureKeyPair(file);
      assert.equal(made.created, true);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.ok(isWireGuardKey(readFileSync(file, 'utf8').trim()));
      const again = await ensureKeyPair(file);
      assert.deepEqual(again, { publicKey: made.publicKey, created: false });
      chmodSync(file, 0o644);
      await ensureKeyPair(file);
      assert.equal(statSync(file).mode & 0o777, 0o600, 'a loosened mode is tightened');
      if (spawnSync('sh', ['-c', 'command -v wg']).status === 0) {
        assert.equal(execFileSync('wg', ['pubkey'], { input: readFileSync(file) }).toString().trim(), made.publicKey);
      }
      writeFileSync(file, 'not a key\n');
      await assert.rejects(ensureKeyPair(file), /does not hold a WireGuard private key/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('WireGuard peers from the API', () => {
  const nn = (name: string, created: string, wg?: { publicKey?: unknown; endpoint?: unknown }): NodeNetworkObject => ({
    metadata: { name, creationTimestamp: created as unknown as Date },
    spec: { nodeName: name },
    status: { address: `198.18.0.${10 + Number(name.slice(1))}/24`, ...(wg ? { wireguard: wg as { publicKey: string; endpoint: string } } : {}) },
  });
  const blk = (i: number): IPAMBlockObject => ({ metadata: { name: `10-244-${i}-0-26`, creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date }, spec: { cidr: `10.244.${i}.0/26`, pool: 'default', node: `n${i}` } });

  test('a valid key and endpoint are kept; a bad key, a bad endpoint or another node\'s key leave the peer plain and are reported', () => {
    const rejected: PeerRejection[] = [];
    const peers = computePeers([
      nn('n1', '2026-01-01T00:00:00Z'),
      nn('n2', '2026-01-01T00:00:01Z', { publicKey: K(2), endpoint: '198.18.0.12:51830' }),
      nn('n3', '2026-01-01T00:00:02Z', { publicKey: `${K(3).slice(0, 20)}\npeer`, endpoint: '198.18.0.13:51830' }),
      nn('n4', '2026-01-01T00:00:03Z', { publicKey: K(4), endpoint: '198.18.0.14:51830 allowed-ips 0.0.0.0/0' }),
      nn('n5', '2026-01-01T00:00:04Z', { publicKey: K(2), endpoint: '198.18.0.15:51830' }),
    ], [2, 3, 4, 5].map(blk), { self: 'n1', keepBlockless: false, reject: (r) => rejected.push(r) });
    assert.deepEqual(peers.map((p) => [p.name, p.wireguard?.publicKey ?? null]), [['n2', K(2)], ['n3', null], ['n4', null], ['n5', null]]);
    assert.deepEqual(rejected.map((r) => [r.node, r.field]), [['n3', 'status.wireguard.publicKey'], ['n4', 'status.wireguard.endpoint'], ['n5', 'status.wireguard.publicKey']]);
    assert.match(rejected[2]!.reason, /node n2 published this key first/);
  });

  test('a peer\'s key or endpoint change triggers a pass', () => {
    assert.notEqual(nodeNetworkPeerKey(nn('n2', 't', { publicKey: K(2), endpoint: '198.18.0.12:51830' })), nodeNetworkPeerKey(nn('n2', 't', { publicKey: K(3), endpoint: '198.18.0.12:51830' })));
    assert.notEqual(nodeNetworkPeerKey(nn('n2', 't')), nodeNetworkPeerKey(nn('n2', 't', { publicKey: K(2), endpoint: '198.18.0.12:51830' })));
  });
});
