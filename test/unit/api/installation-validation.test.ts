import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateInstallation } from '../../../api/validation/validate.ts';

type Obj = Record<string, any>;

function installation(spec: Obj = {}, name = 'default'): Obj {
  return { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name }, spec };
}

function pool(extra: Obj = {}): Obj {
  return { name: 'default', cidr: '10.244.0.0/16', ...extra };
}

function withPools(...pools: Obj[]): Obj {
  return installation({ network: { ipPools: pools } });
}

function paths(obj: Obj, old?: Obj): string[] {
  return validateInstallation(obj, old).map((p) => p.path);
}

/** Each rule: a valid example that passes and an invalid one rejected at `path`. */
const cases: { rule: string; valid: Obj; invalid: Obj; path: string; old?: Obj }[] = [
  { rule: 'name must be default', valid: installation(), invalid: installation({}, 'prod'), path: 'metadata.name' },
  { rule: 'cidr syntax', valid: withPools(pool()), invalid: withPools(pool({ cidr: '10.244.0.0' })), path: 'spec.network.ipPools[0].cidr' },
  { rule: 'cidr prefix in range', valid: withPools(pool({ cidr: '10.0.0.0/8' })), invalid: withPools(pool({ cidr: '10.0.0.0/40' })), path: 'spec.network.ipPools[0].cidr' },
  { rule: 'cidr host bits zero', valid: withPools(pool({ cidr: '10.244.0.0/16' })), invalid: withPools(pool({ cidr: '10.244.1.0/16' })), path: 'spec.network.ipPools[0].cidr' },
  { rule: 'ipv6 cidr', valid: withPools(pool({ cidr: 'fd00:244::/56' })), invalid: withPools(pool({ cidr: 'fd00:244::1/56' })), path: 'spec.network.ipPools[0].cidr' },
  { rule: 'IPv4 blockSize 20-32', valid: withPools(pool({ blockSize: 32 })), invalid: withPools(pool({ blockSize: 33 })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'IPv4 blockSize >= 20', valid: withPools(pool({ cidr: '10.0.0.0/8', blockSize: 20 })), invalid: withPools(pool({ cidr: '10.0.0.0/8', blockSize: 19 })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'IPv6 blockSize 116-128', valid: withPools(pool({ cidr: 'fd00::/56', blockSize: 122 })), invalid: withPools(pool({ cidr: 'fd00::/56', blockSize: 64 })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'default blockSize not larger than pool', valid: withPools(pool({ cidr: '10.0.0.0/26' })), invalid: withPools(pool({ name: 'small', cidr: '10.0.0.0/28' })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'default IPv6 blockSize not larger than pool', valid: withPools(pool({ cidr: 'fd00::/122' })), invalid: withPools(pool({ cidr: 'fd00::/124' })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'vxlan vni 24 bits', valid: installation({ network: { vxlan: { vni: 16777215 } } }), invalid: installation({ network: { vxlan: { vni: 16777216 } } }), path: 'spec.network.vxlan.vni' },
  { rule: 'vxlan vni not 0', valid: installation({ network: { vxlan: { vni: 1 } } }), invalid: installation({ network: { vxlan: { vni: 0 } } }), path: 'spec.network.vxlan.vni' },
  { rule: 'vxlan port range', valid: installation({ network: { vxlan: { port: 4789 } } }), invalid: installation({ network: { vxlan: { port: 80 } } }), path: 'spec.network.vxlan.port' },
  { rule: 'vxlan port not the agent\'s', valid: installation({ network: { vxlan: { port: 8472 } } }), invalid: installation({ network: { vxlan: { port: 9099 } } }), path: 'spec.network.vxlan.port' },
  { rule: 'encryption mode enum', valid: installation({ network: { encryption: { mode: 'WireGuard' } } }), invalid: installation({ network: { encryption: { mode: 'IPsec' } } }), path: 'spec.network.encryption.mode' },
  { rule: 'encryption port range', valid: installation({ network: { encryption: { mode: 'WireGuard', port: 51820 } } }), invalid: installation({ network: { encryption: { mode: 'WireGuard', port: 500 } } }), path: 'spec.network.encryption.port' },
  { rule: 'encryption port not the agent\'s', valid: installation({ network: { encryption: { port: 51871 } } }), invalid: installation({ network: { encryption: { port: 9099 } } }), path: 'spec.network.encryption.port' },
  { rule: 'encryption port differs from the VXLAN port', valid: installation({ network: { encryption: { port: 4789 } } }), invalid: installation({ network: { encryption: { port: 4799 } } }), path: 'spec.network.encryption.port' },
  { rule: 'encryption port differs from a set VXLAN port', valid: installation({ network: { vxlan: { port: 4789 }, encryption: { port: 4799 } } }), invalid: installation({ network: { vxlan: { port: 51000 }, encryption: { port: 51000 } } }), path: 'spec.network.encryption.port' },
  { rule: 'encryption port immutable while WireGuard is on', old: installation({ network: { encryption: { mode: 'WireGuard', port: 51830 } } }), valid: installation({ network: { encryption: { mode: 'Disabled', port: 51831 } } }), invalid: installation({ network: { encryption: { mode: 'WireGuard', port: 51831 } } }), path: 'spec.network.encryption.port' },
  { rule: 'blockSize not larger than pool', valid: withPools(pool({ cidr: '10.244.0.0/24', blockSize: 26 })), invalid: withPools(pool({ cidr: '10.244.0.0/24', blockSize: 22 })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'IPIP only on IPv4', valid: withPools(pool({ encapsulation: 'IPIPCrossSubnet' })), invalid: withPools(pool({ cidr: 'fd00::/56', encapsulation: 'IPIP' })), path: 'spec.network.ipPools[0].encapsulation' },
  { rule: 'encapsulation enum', valid: withPools(pool({ encapsulation: 'VXLANCrossSubnet' })), invalid: withPools(pool({ encapsulation: 'GRE' })), path: 'spec.network.ipPools[0].encapsulation' },
  { rule: 'natOutgoing enum', valid: withPools(pool({ natOutgoing: 'Disabled' })), invalid: withPools(pool({ natOutgoing: 'yes' })), path: 'spec.network.ipPools[0].natOutgoing' },
  { rule: 'pool name is a DNS label', valid: withPools(pool({ name: 'edge-1' })), invalid: withPools(pool({ name: 'Edge_1' })), path: 'spec.network.ipPools[0].name' },
  { rule: 'pool names unique', valid: withPools(pool(), pool({ name: 'b', cidr: '10.245.0.0/16' })), invalid: withPools(pool(), pool({ cidr: '10.245.0.0/16' })), path: 'spec.network.ipPools' },
  { rule: 'pool cidr required', valid: withPools(pool()), invalid: withPools({ name: 'x' }), path: 'spec.network.ipPools[0].cidr' },
  { rule: 'cidr immutable', old: withPools(pool()), valid: withPools(pool({ natOutgoing: 'Disabled' })), invalid: withPools(pool({ cidr: '10.245.0.0/16' })), path: 'spec.network.ipPools[0].cidr' },
  { rule: 'blockSize immutable', old: withPools(pool()), valid: withPools(pool({ blockSize: 26 })), invalid: withPools(pool({ blockSize: 24 })), path: 'spec.network.ipPools[0].blockSize' },
  { rule: 'mtu 0 or 576-9216', valid: installation({ network: { mtu: 576 } }), invalid: installation({ network: { mtu: 575 } }), path: 'spec.network.mtu' },
  { rule: 'mtu at most 9216', valid: installation({ network: { mtu: 9216 } }), invalid: installation({ network: { mtu: 9217 } }), path: 'spec.network.mtu' },
  { rule: 'autodetection exactly one method', valid: installation({ network: { nodeAddressAutodetectionV4: { interface: 'eth.*' } } }), invalid: installation({ network: { nodeAddressAutodetectionV4: { interface: 'eth.*', cidrs: ['198.18.0.0/15'] } } }), path: 'spec.network.nodeAddressAutodetectionV4' },
  { rule: 'autodetection not empty', valid: installation({ network: { nodeAddressAutodetectionV6: { kubernetes: 'NodeInternalIP' } } }), invalid: installation({ network: { nodeAddressAutodetectionV6: {} } }), path: 'spec.network.nodeAddressAutodetectionV6' },
  { rule: 'firstFound only true', valid: installation({ network: { nodeAddressAutodetectionV4: { firstFound: true } } }), invalid: installation({ network: { nodeAddressAutodetectionV4: { firstFound: false } } }), path: 'spec.network.nodeAddressAutodetectionV4.firstFound' },
  { rule: 'canReach is an IP', valid: installation({ network: { nodeAddressAutodetectionV4: { canReach: '198.18.0.1' } } }), invalid: installation({ network: { nodeAddressAutodetectionV4: { canReach: '198.18.0.0/16' } } }), path: 'spec.network.nodeAddressAutodetectionV4.canReach' },
  { rule: 'autodetection cidrs are CIDRs', valid: installation({ network: { nodeAddressAutodetectionV4: { cidrs: ['198.18.0.0/15'] } } }), invalid: installation({ network: { nodeAddressAutodetectionV4: { cidrs: ['198.18.0.0'] } } }), path: 'spec.network.nodeAddressAutodetectionV4.cidrs[0]' },
  { rule: 'kubernetes method enum', valid: installation({ network: { nodeAddressAutodetectionV4: { kubernetes: 'NodeInternalIP' } } }), invalid: installation({ network: { nodeAddressAutodetectionV4: { kubernetes: 'ExternalIP' } } }), path: 'spec.network.nodeAddressAutodetectionV4.kubernetes' },
  { rule: 'bgp mode enum', valid: installation({ network: { bgp: { mode: 'FullMesh' } } }), invalid: installation({ network: { bgp: { mode: 'RouteReflector' } } }), path: 'spec.network.bgp.mode' },
  { rule: 'bgp asNumber range', valid: installation({ network: { bgp: { asNumber: 4294967295 } } }), invalid: installation({ network: { bgp: { asNumber: 0 } } }), path: 'spec.network.bgp.asNumber' },
  { rule: 'bgp peerIP is an IP', valid: installation({ network: { bgp: { peers: [{ peerIP: '2001:db8::1', asNumber: 65000 }] } } }), invalid: installation({ network: { bgp: { peers: [{ peerIP: 'router-1', asNumber: 65000 }] } } }), path: 'spec.network.bgp.peers[0].peerIP' },
  { rule: 'bgp peer asNumber required', valid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000 }] } } }), invalid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1' }] } } }), path: 'spec.network.bgp.peers[0].asNumber' },
  { rule: 'bgp keepalive below hold time', valid: installation({ network: { bgp: { keepaliveTimeSeconds: 10, holdTimeSeconds: 30 } } }), invalid: installation({ network: { bgp: { keepaliveTimeSeconds: 90 } } }), path: 'spec.network.bgp.keepaliveTimeSeconds' },
  { rule: 'bgp hold time at least 3', valid: installation({ network: { bgp: { keepaliveTimeSeconds: 1, holdTimeSeconds: 3 } } }), invalid: installation({ network: { bgp: { keepaliveTimeSeconds: 1, holdTimeSeconds: 2 } } }), path: 'spec.network.bgp.holdTimeSeconds' },
  { rule: 'bgp restart time 12 bits', valid: installation({ network: { bgp: { restartTimeSeconds: 4095 } } }), invalid: installation({ network: { bgp: { restartTimeSeconds: 4096 } } }), path: 'spec.network.bgp.restartTimeSeconds' },
  { rule: 'bgp reflectors need mode RouteReflectors (no mesh beside them)', valid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' } } } }), invalid: installation({ network: { bgp: { mode: 'FullMesh', routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' } } } }), path: 'spec.network.bgp.mode' },
  { rule: 'bgp mode RouteReflectors needs routeReflectors', valid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' } } } }), invalid: installation({ network: { bgp: { mode: 'RouteReflectors' } } }), path: 'spec.network.bgp.routeReflectors' },
  { rule: 'bgp reflectors with no clients', valid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' } } } }), invalid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'all()', clusterID: '244.0.0.1' } } } }), path: 'spec.network.bgp.routeReflectors.nodeSelector' },
  { rule: 'bgp reflectors selector not empty', valid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' } } } }), invalid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: '', clusterID: '244.0.0.1' } } } }), path: 'spec.network.bgp.routeReflectors.nodeSelector' },
  { rule: 'bgp cluster ID is IPv4', valid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'weft.dev/route-reflector=true', clusterID: '244.0.0.1' } } } }), invalid: installation({ network: { bgp: { mode: 'RouteReflectors', routeReflectors: { nodeSelector: 'rr=yes', clusterID: '12345' } } } }), path: 'spec.network.bgp.routeReflectors.clusterID' },
  { rule: 'bgp asNumber at most 4294967295', valid: installation({ network: { bgp: { asNumber: 1 } } }), invalid: installation({ network: { bgp: { asNumber: 4294967296 } } }), path: 'spec.network.bgp.asNumber' },
  { rule: 'bgp peer AS in range', valid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 4294967295 }] } } }), invalid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 4294967296 }] } } }), path: 'spec.network.bgp.peers[0].asNumber' },
  { rule: 'bgp peer multihop TTL 1-255', valid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000, ebgpMultihop: 2 }] } } }), invalid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000, ebgpMultihop: 256 }] } } }), path: 'spec.network.bgp.peers[0].ebgpMultihop' },
  { rule: 'bgp password is a Secret key', valid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000, passwordSecretKey: 'tor-1' }] } } }), invalid: installation({ network: { bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000, passwordSecretKey: 'a b' }] } } }), path: 'spec.network.bgp.peers[0].passwordSecretKey' },
  { rule: 'bgp service CIDRs are IPv4 CIDRs', valid: installation({ network: { bgp: { serviceClusterIPs: ['10.96.0.0/12'], serviceExternalIPs: ['203.0.113.0/24'] } } }), invalid: installation({ network: { bgp: { serviceClusterIPs: ['10.96.0.1'] } } }), path: 'spec.network.bgp.serviceClusterIPs[0]' },
  { rule: 'hostPorts enum', valid: installation({ network: { hostPorts: 'Disabled' } }), invalid: installation({ network: { hostPorts: 'On' } }), path: 'spec.network.hostPorts' },
  { rule: 'bandwidth enum', valid: installation({ network: { bandwidth: 'Enabled' } }), invalid: installation({ network: { bandwidth: true } }), path: 'spec.network.bandwidth' },
  { rule: 'cni dirs absolute', valid: installation({ cni: { binDir: '/opt/cni/bin' } }), invalid: installation({ cni: { binDir: 'opt/cni/bin' } }), path: 'spec.cni.binDir' },
  { rule: 'binDir allowlisted (a read-write host mount)', valid: installation({ cni: { binDir: '/usr/libexec/cni' } }), invalid: installation({ cni: { binDir: '/etc' } }), path: 'spec.cni.binDir' },
  { rule: 'binDir: no /', valid: installation({ cni: { binDir: '/usr/lib/cni' } }), invalid: installation({ cni: { binDir: '/' } }), path: 'spec.cni.binDir' },
  { rule: 'confDir allowlisted, no ..', valid: installation({ cni: { confDir: '/etc/cni/net.d' } }), invalid: installation({ cni: { confDir: '/etc/cni/net.d/../..' } }), path: 'spec.cni.confDir' },
  { rule: 'confName has no dot-dot start', valid: installation({ cni: { confName: '10-weft.conflist' } }), invalid: installation({ cni: { confName: '..conflist' } }), path: 'spec.cni.confName' },
  { rule: 'confName has no slash', valid: installation({ cni: { confName: 'a.b.conflist' } }), invalid: installation({ cni: { confName: '../../x.conflist' } }), path: 'spec.cni.confName' },
  { rule: 'confName is a .conflist', valid: installation({ cni: { confName: '05-weft.conflist' } }), invalid: installation({ cni: { confName: '05-weft.conf' } }), path: 'spec.cni.confName' },
  { rule: 'maxUnavailable positive count', valid: installation({ nodeUpdateStrategy: { maxUnavailable: 3 } }), invalid: installation({ nodeUpdateStrategy: { maxUnavailable: 0 } }), path: 'spec.nodeUpdateStrategy.maxUnavailable' },
  { rule: 'maxUnavailable percent', valid: installation({ nodeUpdateStrategy: { maxUnavailable: '10%' } }), invalid: installation({ nodeUpdateStrategy: { maxUnavailable: '150%' } }), path: 'spec.nodeUpdateStrategy.maxUnavailable' },
  { rule: 'paused boolean', valid: installation({ nodeUpdateStrategy: { paused: true } }), invalid: installation({ nodeUpdateStrategy: { paused: 'yes' } }), path: 'spec.nodeUpdateStrategy.paused' },
  { rule: 'registry form', valid: installation({ registry: 'registry.example.com:5000/mirror' }), invalid: installation({ registry: 'registry.example.com/weft:v1' }), path: 'spec.registry' },
  { rule: 'unknown fields rejected', valid: installation({ network: {} }), invalid: installation({ network: { ipPool: [] } }), path: 'spec.network.ipPool' },
  { rule: 'toleration operator enum', valid: installation({ nodeAgent: { tolerations: [{ operator: 'Exists' }] } }), invalid: installation({ nodeAgent: { tolerations: [{ operator: 'Any' }] } }), path: 'spec.nodeAgent.tolerations[0].operator' },
  { rule: 'pool overlap (document-level)', valid: withPools(pool(), pool({ name: 'b', cidr: '10.245.0.0/16' })), invalid: withPools(pool(), pool({ name: 'b', cidr: '10.244.64.0/18' })), path: 'spec.network.ipPools[1].cidr' },
];

describe('Installation validation rules', () => {
  for (const c of cases) {
    test(`${c.rule}: valid example passes`, () => {
      assert.deepEqual(validateInstallation(c.valid, c.old), []);
    });
    test(`${c.rule}: invalid example is rejected at ${c.path}`, () => {
      const problems = validateInstallation(c.invalid, c.old);
      assert.ok(problems.some((p) => p.path === c.path), `expected a problem at ${c.path}, got ${JSON.stringify(problems)}`);
    });
  }

  test('a pool smaller than one default block: the message names the pool, the default and the fix', () => {
    const [p] = validateInstallation(withPools(pool({ name: 'small', cidr: '10.0.0.0/28' })));
    assert.equal(p?.path, 'spec.network.ipPools[0].blockSize');
    assert.match(p?.message ?? '', /smaller than one block: blockSize \(26 for IPv4, 122 for IPv6 when omitted\).*set blockSize between the cidr's prefix length and 32.*or use a cidr of \/26/);
    assert.deepEqual(validateInstallation(withPools(pool({ name: 'small', cidr: '10.0.0.0/28', blockSize: 28 }))), [], 'the fix it names is accepted');
  });

  test('transition rules are skipped on create (no previous object)', () => {
    assert.deepEqual(paths(withPools(pool({ cidr: '10.9.0.0/16' }))), []);
  });

  test('a renamed pool is a new pool, so its cidr may differ', () => {
    assert.deepEqual(paths(withPools(pool({ name: 'new', cidr: '10.9.0.0/16' })), withPools(pool())), []);
  });

  test('explicit default blockSize is not a change from an unset one', () => {
    assert.deepEqual(paths(withPools(pool({ blockSize: 26 })), withPools(pool())), []);
    assert.deepEqual(paths(withPools(pool({ cidr: 'fd00::/56', blockSize: 122 })), withPools(pool({ cidr: 'fd00::/56' }))), []);
  });

  test('messages say what to do', () => {
    const [p] = validateInstallation(withPools(pool({ cidr: 'fd00::/56', encapsulation: 'IPIP' })));
    assert.match(p!.message, /use VXLAN/);
  });

  test('wrong apiVersion and kind are reported', () => {
    const obj = { ...installation(), apiVersion: 'operator.weft.dev/v2', kind: 'Install' };
    assert.deepEqual(paths(obj).slice(0, 2), ['apiVersion', 'kind']);
  });
});

test('pool and BGP peer nodeSelectors must parse', () => {
  const obj = installation({ network: { ipPools: [pool({ nodeSelector: 'zone in (a' })], bgp: { peers: [{ peerIP: '192.0.2.1', asNumber: 65000, nodeSelector: 'rack==' }] } } });
  const ps = paths(obj);
  assert.ok(ps.includes('spec.network.ipPools[0].nodeSelector'), JSON.stringify(ps));
  assert.deepEqual(paths(withPools(pool({ nodeSelector: 'zone in (a,b),!spot' }))), []);
});
