import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inNetns } from '../../../components/node/kernel/exec.ts';
import { parseFdb, parseLinks, parseNeighbors, parseRoutes } from '../../../components/node/kernel/read.ts';
import { parseSysctlDump } from '../../../components/node/kernel/sysctl.ts';
import { FDB_JSON, IP_ADDR_JSON, NEIGH_JSON, ROUTE_JSON } from './fixtures.ts';

describe('parsing iproute2 JSON', () => {
  test('links: only prefix-named links of a managed kind, with their IPv4 addresses', () => {
    assert.deepEqual(parseLinks(IP_ADDR_JSON, 'weft'), [{
      name: 'weft.vxlan', kind: 'vxlan', mtu: 1450, up: true, addresses: ['10.244.1.0/32'], mac: '0e:57:c6:12:00:01',
      vxlan: { vni: 4096, port: 4789, local: '198.18.0.1', dev: 'eth0', learning: false },
    }]);
    assert.deepEqual(parseLinks(IP_ADDR_JSON, 'other'), []);
  });

  test('routes: blackhole, onlink and metric survive the round trip', () => {
    assert.deepEqual(parseRoutes(ROUTE_JSON), [
      { dst: '10.244.1.0/26', type: 'blackhole' },
      { dst: '10.244.2.0/26', type: 'unicast', gateway: '10.244.2.0', dev: 'weft.vxlan', onlink: true },
      { dst: '10.244.3.0/26', type: 'unicast', gateway: '198.18.0.3', dev: 'eth0', metric: 5 },
    ]);
  });

  test('neighbours: only permanent entries on managed devices', () => {
    assert.deepEqual(parseNeighbors(NEIGH_JSON, new Set(['weft.vxlan'])), [{ dev: 'weft.vxlan', ip: '10.244.2.0', mac: '0e:57:c6:12:00:02' }]);
    assert.deepEqual(parseNeighbors(NEIGH_JSON, new Set()), []);
  });

  test('fdb: unicast permanent entries, the all-zeros flood entry is not ours', () => {
    assert.deepEqual(parseFdb(FDB_JSON, 'weft.vxlan'), [{ dev: 'weft.vxlan', mac: '0e:57:c6:12:00:02', dst: '198.18.0.2' }]);
  });

  test('sysctl dump: missing files read as null', () => {
    const m = parseSysctlDump('net/ipv4/ip_forward\t1\nnet/ipv4/neigh/default/gc_thresh1\t\n');
    assert.equal(m.get('net/ipv4/ip_forward'), 1);
    assert.equal(m.get('net/ipv4/neigh/default/gc_thresh1'), null);
  });
});

describe('running in a network namespace', () => {
  test('ip and bridge use -n, everything else goes through ip netns exec, no netns runs as is', () => {
    assert.deepEqual(inNetns('n1', ['ip', '-batch', '-']), ['ip', '-n', 'n1', '-batch', '-']);
    assert.deepEqual(inNetns('n1', ['bridge', '-json', 'fdb', 'show']), ['bridge', '-n', 'n1', '-json', 'fdb', 'show']);
    assert.deepEqual(inNetns('n1', ['nft', '-f', '-']), ['ip', 'netns', 'exec', 'n1', 'nft', '-f', '-']);
    assert.deepEqual(inNetns(undefined, ['nft', '-f', '-']), ['nft', '-f', '-']);
  });
});
