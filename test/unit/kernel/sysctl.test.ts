import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dataplaneSysctls, needsWrite } from '../../../components/node/kernel/sysctl.ts';

describe('dataplane sysctls', () => {
  test('forwarding, loose rp_filter on all and on each tunnel device', () => {
    const keys = dataplaneSysctls(3, ['weft.vxlan']).map((w) => `${w.key}=${w.value}`);
    for (const k of ['net/ipv4/ip_forward=1', 'net/ipv4/conf/all/rp_filter=2', 'net/ipv4/conf/weft.vxlan/rp_filter=2']) assert.ok(keys.includes(k), k);
  });

  test('neighbour gc thresholds grow with the node count and never drop below kernel defaults', () => {
    const small = Object.fromEntries(dataplaneSysctls(3, []).map((w) => [w.key, w.value]));
    const big = Object.fromEntries(dataplaneSysctls(5000, []).map((w) => [w.key, w.value]));
    assert.equal(small['net/ipv4/neigh/default/gc_thresh3'], 1024);
    assert.equal(big['net/ipv4/neigh/default/gc_thresh3'], 40000);
    assert.ok(big['net/ipv4/neigh/default/gc_thresh1']! < big['net/ipv4/neigh/default/gc_thresh2']!);
  });

  test('written only when different; atLeast never lowers', () => {
    assert.equal(needsWrite({ key: 'k', value: 1, mode: 'exact' }, 1), false);
    assert.equal(needsWrite({ key: 'k', value: 2, mode: 'exact' }, 1), true);
    assert.equal(needsWrite({ key: 'k', value: 1024, mode: 'atLeast' }, 4096), false);
    assert.equal(needsWrite({ key: 'k', value: 1024, mode: 'atLeast' }, 512), true);
    assert.equal(needsWrite({ key: 'k', value: 1, mode: 'exact' }, null), false);
  });
});
