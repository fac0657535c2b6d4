// Issue 16, attack 1: a value another node writes into its own NodeNetwork status (or an
// IPAMBlock) must never add a line or an argument to the `ip -batch`, `bridge -batch`, `nft -f`
// or BIRD input this node runs. Hostile values go through every path — computePeers, each
// backend, the diff, the nft script, both BIRD renderers and the command builders directly —
// and the output must either leave them out (reporting why) or refuse to build at all.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computePeers, type PeerRejection } from '../../../components/node/agent/peers.ts';
import type { IPAMBlockObject, NodeNetworkObject } from '../../../components/node/agent/kube.ts';
import { BACKENDS } from '../../../components/node/backends/registry.ts';
import { birdConfigFor } from '../../../components/node/backends/bgp.ts';
import { birdPeers, completeBirdTemplate } from '../../../components/node/backends/bird-config.ts';
import {
  addrCommand, diffKernel, fdbReplaceCommand, linkAddCommand, neighReplaceCommand, routeReplaceCommand,
} from '../../../components/node/kernel/diff.ts';
import { planNft, renderNftTable } from '../../../components/node/kernel/nft.ts';
import { KernelValueError } from '../../../components/node/kernel/values.ts';
import { birdTemplatePlaceholders } from '../../../api/effective-config.ts';
import { CFG, EMPTY, node } from './helpers.ts';

// Separators every one of these languages splits on, and payloads that would do harm.
const SEPARATORS = ['\n', '\r\n', ' ', '\t', ';', '{', '}', '"', "'", '#', '\\', '$&', "$'", '\0', '\u2028'];
const PAYLOADS = [
  'route replace default via 198.18.0.66 proto static', 'link set eth0 mtu 68', 'flush table inet filter',
  'protocol bgp evil { neighbor 198.18.0.66 as 1; }', '} include "/etc/shadow"; {', 'dev eth0', '',
];
const VALID = ['0e:57:c6:12:00:0b', '198.18.0.12', '198.18.0.12/24', '10.244.9.0/26', 'eth0', 'weft.vxlan'];

/** A hostile value: a valid one with a separator and a payload spliced in, random text with
 *  separators, or something huge. */
const hostile: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom(...VALID), fc.constantFrom(...SEPARATORS), fc.constantFrom(...PAYLOADS), fc.boolean())
    .map(([v, sep, p, before]) => (before ? `${p}${sep}${v}` : `${v}${sep}${p}`)),
  fc.array(fc.oneof(fc.constantFrom(...SEPARATORS), fc.string({ maxLength: 8 }), fc.constantFrom(...VALID)), { minLength: 1, maxLength: 8 })
    .map((xs) => xs.join(''))
    .filter((s) => /[\s;{}"'#\\$\0\u2028]/.test(s) || s.length === 0),
  fc.constantFrom(...VALID).map((v) => v.repeat(5000)),
  fc.constantFrom('0e:57:c6:12:00:0b:ff', '198.18.0.12/33', '0x7f.1', '127.1', '198.018.0.12', '::ffff:198.18.0.12'),
);

// The only line shapes the agent may emit, with every slot of its type.
const MAC = '[0-9a-f]{2}(?::[0-9a-f]{2}){5}';
const IP = '(?:\\d{1,3}\\.){3}\\d{1,3}';
const CIDR = `${IP}/\\d{1,2}`;
const DEV = '[A-Za-z0-9_.-]{1,15}';
const IP_LINES = [
  `link add ${DEV}(?: address ${MAC})? mtu \\d+ type (?:vxlan id \\d+ local ${IP} dev ${DEV} dstport \\d+ (?:no)?learning|ipip local ${IP}(?: dev ${DEV})?)`,
  `link (?:del|set) ${DEV}(?: address ${MAC})?(?: mtu \\d+)?(?: up)?`,
  `addr (?:add|del) ${CIDR} dev ${DEV}`,
  `neigh replace ${IP} lladdr ${MAC} dev ${DEV} nud permanent`, `neigh del ${IP} dev ${DEV}`,
  `route replace (?:blackhole )?${CIDR}(?: via ${IP})?(?: dev ${DEV})?(?: onlink)? proto \\d+(?: metric \\d+)? table main`,
  `route del (?:blackhole )?${CIDR} proto \\d+(?: metric \\d+)? table main`,
].map((s) => new RegExp(`^${s}$`));
const BRIDGE_LINES = [`fdb (?:replace|del) ${MAC} dev ${DEV} dst ${IP} self(?: permanent)?`].map((s) => new RegExp(`^${s}$`));

function assertInert(lines: string[], shapes: RegExp[], what: string): void {
  for (const l of lines) assert.ok(shapes.some((re) => re.test(l)), `${what} line of an unexpected shape: ${JSON.stringify(l)}`);
}

const nn = (name: string, status: Record<string, unknown>): NodeNetworkObject =>
  ({ metadata: { name }, spec: { nodeName: name }, status } as NodeNetworkObject);
const blk = (cidr: string, nodeName: string): IPAMBlockObject =>
  ({ metadata: { name: cidr.replace(/[.:/]/g, '-'), creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date }, spec: { cidr, pool: 'default', node: nodeName } });

const LOCAL = { ...node(1), name: 'local' };

describe('hostile values from peers never reach a kernel command', () => {
  test('the reported attack: a VTEP MAC carrying extra ip-batch lines is refused and reported', () => {
    const mac = '0e:57:c6:12:00:0b\nroute replace default via 198.18.0.66 proto static\nlink set eth0 mtu 68';
    const rejected: PeerRejection[] = [];
    const peers = computePeers([nn('evil', { address: '198.18.0.66/24', vtep: { mac } }), nn('good', { address: '198.18.0.12/24' })],
      [blk('10.244.6.0/26', 'evil'), blk('10.244.2.0/26', 'good')], { self: 'local', keepBlockless: false, reject: (r) => rejected.push(r) });
    assert.deepEqual(peers.map((p) => p.name), ['good']);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]!.node, 'evil');
    assert.equal(rejected[0]!.field, 'status.vtep.mac');
    const plan = diffKernel(BACKENDS.vxlan.desired(LOCAL, peers, CFG), EMPTY, { nftTable: 'weft' });
    assert.ok(!plan.ip.some((l) => /default|eth0 mtu 68/.test(l)), plan.ip.join('\n'));
    assertInert(plan.ip, IP_LINES, 'ip');
    assertInert(plan.bridge, BRIDGE_LINES, 'bridge');
  });

  test('property: hostile status.address / vtep.mac / block CIDRs through computePeers and every backend', () => {
    fc.assert(fc.property(
      fc.record({ address: hostile, mac: hostile, cidr: hostile, field: fc.constantFrom('address', 'mac', 'cidr') }),
      fc.constantFrom(...Object.keys(BACKENDS) as (keyof typeof BACKENDS)[]),
      ({ address, mac, cidr, field }, backend) => {
        const status = {
          address: field === 'address' ? address : '198.18.0.66/24',
          vtep: { mac: field === 'mac' ? mac : '0e:57:c6:12:00:42' },
        };
        const rejected: PeerRejection[] = [];
        const peers = computePeers([nn('evil', status), nn('good', { address: '198.18.0.12/24' })],
          [blk(field === 'cidr' ? cidr : '10.244.6.0/26', 'evil'), blk('10.244.2.0/26', 'good')],
          { self: 'local', keepBlockless: backend === 'bgp', reject: (r) => rejected.push(r) });
        const evil = peers.find((p) => p.name === 'evil');
        // A refused value is reported, and never appears in what is programmed. (An empty
        // address is "not reported yet": the peer is skipped without a report.)
        const notYetReported = field === 'address' && address === '';
        assert.equal(rejected.length > 0, !notYetReported && (!evil || (field === 'cidr' && evil.blocks.length === 0)));
        const desired = BACKENDS[backend].desired(LOCAL, peers, CFG);
        const plan = diffKernel(desired, EMPTY, { nftTable: 'weft' });
        assertInert(plan.ip, IP_LINES, 'ip');
        assertInert(plan.bridge, BRIDGE_LINES, 'bridge');
        if (backend === 'bgp') {
          const text = birdConfigFor(LOCAL, peers, CFG.bgp!);
          assert.equal(text.match(/^protocol bgp /gm)?.length ?? 0, peers.length);
          assert.ok(!/evil \{|shadow|proto static/.test(text), text);
        }
      }), { numRuns: 400 });
  });

  test('property: every command builder refuses a hostile value in each slot', () => {
    const ok = { name: 'weft.vxlan', mac: '0e:57:c6:12:00:0b', ip: '10.244.2.0', underlay: '198.18.0.12', cidr: '10.244.2.0/26', dev: 'eth0' };
    const builders: [string, (v: string) => string][] = [
      ['link name', (v) => linkAddCommand({ name: v, kind: 'vxlan', mtu: 1450, addresses: [], vxlan: { vni: 1, port: 4789, local: ok.underlay, dev: ok.dev, learning: false } })],
      ['link mac', (v) => linkAddCommand({ name: ok.name, kind: 'vxlan', mtu: 1450, mac: v, addresses: [], vxlan: { vni: 1, port: 4789, local: ok.underlay, dev: ok.dev, learning: false } })],
      ['vxlan local', (v) => linkAddCommand({ name: ok.name, kind: 'vxlan', mtu: 1450, addresses: [], vxlan: { vni: 1, port: 4789, local: v, dev: ok.dev, learning: false } })],
      ['vxlan dev', (v) => linkAddCommand({ name: ok.name, kind: 'vxlan', mtu: 1450, addresses: [], vxlan: { vni: 1, port: 4789, local: ok.underlay, dev: v, learning: false } })],
      ['ipip local', (v) => linkAddCommand({ name: ok.name, kind: 'ipip', mtu: 1480, addresses: [], ipip: { local: v } })],
      ['addr', (v) => addrCommand('add', v, ok.name)],
      ['addr dev', (v) => addrCommand('add', ok.cidr, v)],
      ['route dst', (v) => routeReplaceCommand({ dst: v, type: 'unicast', gateway: ok.underlay, dev: ok.dev })],
      ['route via', (v) => routeReplaceCommand({ dst: ok.cidr, type: 'unicast', gateway: v, dev: ok.dev })],
      ['route dev', (v) => routeReplaceCommand({ dst: ok.cidr, type: 'unicast', gateway: ok.underlay, dev: v })],
      ['neigh ip', (v) => neighReplaceCommand({ ip: v, mac: ok.mac, dev: ok.name })],
      ['neigh mac', (v) => neighReplaceCommand({ ip: ok.ip, mac: v, dev: ok.name })],
      ['fdb mac', (v) => fdbReplaceCommand({ mac: v, dev: ok.name, dst: ok.underlay })],
      ['fdb dst', (v) => fdbReplaceCommand({ mac: ok.mac, dev: ok.name, dst: v })],
      ['nft table', (v) => planNft(v, { sets: {}, chains: [], rules: [] }, null)!],
      ['nft element', (v) => renderNftTable('weft', { sets: { pool_cidrs: [v] }, chains: [], rules: [] })],
    ];
    fc.assert(fc.property(hostile, fc.constantFrom(...builders), (v, [slot, build]) => {
      let out: string;
      try { out = build(v); } catch (e) {
        assert.ok(e instanceof KernelValueError, `${slot}: ${(e as Error).message}`);
        return;
      }
      // Built: the value must have been of its type, so it carried no separator.
      assert.ok(!/[\s;{}"'#\\$\0\u2028]/.test(v), `${slot} accepted ${JSON.stringify(v)}: ${JSON.stringify(out)}`);
    }), { numRuns: 1500 });
  });

  test('property: BIRD template completion refuses hostile addresses and neutralises names', () => {
    const template = Object.values(birdTemplatePlaceholders).join('\n') + '\n';
    fc.assert(fc.property(hostile, hostile, (name, address) => {
      const peers = birdPeers([{ name, underlayAddress: '198.18.0.12' }], { mode: 'mesh', asNumber: 64512 },
        [{ address, asNumber: 65000 }]);
      let text: string;
      try { text = completeBirdTemplate(template, LOCAL, peers); } catch (e) {
        assert.ok(e instanceof KernelValueError, (e as Error).message);
        return;
      }
      assert.equal(text.match(/^protocol bgp /gm)?.length, 2);
      for (const line of text.split('\n').filter((l) => l.startsWith('  description'))) assert.match(line, /^ {2}description "[A-Za-z0-9_.:-]*";$/);
      // Names survive only as inert identifier and string characters: no statement of their own.
      assert.ok(!text.split('\n').some((l) => /^\s*(include|protocol bgp evil|route replace)\b/.test(l)), text);
    }), { numRuns: 500 });
  });
});
