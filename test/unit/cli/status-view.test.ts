import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressBar, renderStatus, table } from '../../../cli/status-view.ts';

test('progressBar shows done/total and percent, clamped', () => {
  assert.equal(progressBar(3, 10, 10), '[###.......] 3/10 (30%)');
  assert.equal(progressBar(0, 0, 4), '[####] 0/0 (100%)');
  assert.equal(progressBar(12, 10, 4), '[####] 12/10 (100%)');
});

test('table pads columns', () => {
  assert.equal(table(['A', 'BB'], [['xxx', 'y']]), 'A    BB\nxxx  y');
});

test('renderStatus shows conditions, rollout and nodes that lag behind with their reason', () => {
  const text = renderStatus(
    {
      apiVersion: 'operator.weft.dev/v1',
      kind: 'Installation',
      metadata: { name: 'default', generation: 3 },
      spec: {},
      status: {
        observedGeneration: 3,
        mtu: 1450,
        mtuReason: 'min node MTU 1500 - VXLAN 50',
        configHash: 'h2',
        ipPools: [{ name: 'default', cidr: '10.244.0.0/16', blockSize: 26, encapsulation: 'VXLANCrossSubnet', dataplane: 'vxlan-crosssubnet' }],
        nodes: { desired: 2, updated: 1, ready: 1 },
        conditions: [
          { type: 'Ready', status: 'False', reason: 'RolloutInProgress', message: '1/2 nodes' },
          { type: 'Progressing', status: 'True', reason: 'RollingOut', message: '1/2 nodes' },
        ],
      },
    },
    [
      { apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name: 'b' }, spec: { nodeName: 'b' }, status: { address: '198.18.1.2/24', mtu: 1500, configHash: 'h1', conditions: [{ type: 'Ready', status: 'False', reason: 'KernelOutOfSync', message: 'route to 10.244.0.0/26 missing' }] } },
      { apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name: 'a' }, spec: { nodeName: 'a' }, status: { address: '198.18.0.2/24', mtu: 1500, configHash: 'h2', conditions: [{ type: 'Ready', status: 'True' }] } },
    ],
  );
  assert.match(text, /MTU 1450 {2}\(min node MTU 1500 - VXLAN 50\)/);
  assert.match(text, /Progressing +True +RollingOut +1\/2 nodes/);
  assert.match(text, /Degraded +Unknown/);
  assert.match(text, /updated \[#+\.+\] 1\/2 \(50%\)/);
  const lines = text.split('\n');
  const a = lines.findIndex((l) => l.startsWith('a '));
  const b = lines.findIndex((l) => l.startsWith('b '));
  assert.ok(a > 0 && b > a, 'nodes sorted by name');
  assert.match(lines[b]!, /no +False +route to 10\.244\.0\.0\/26 missing/);
});

test('renderStatus with many nodes lists the lagging ones first and counts the rest', () => {
  const nn = (name: string, hash: string, ready: boolean) => ({ apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name }, spec: { nodeName: name }, status: { configHash: hash, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: 'X', message: `${name} problem` }] } }) as never;
  const nodes = [...Array.from({ length: 100 }, (_, i) => nn(`n${String(i).padStart(3, '0')}`, 'h2', true)), nn('n500', 'h1', true), nn('n600', 'h2', false)];
  const text = renderStatus(
    { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default', generation: 1 }, spec: {}, status: { observedGeneration: 1, configHash: 'h2', nodes: { desired: 102, updated: 101, ready: 100 } } },
    nodes,
    { maxNodeRows: 5 },
  );
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith('NODE'));
  assert.match(lines[header + 1]!, /^n500 .* no /);
  assert.match(lines[header + 2]!, /^n600 .*n600 problem/);
  assert.match(lines[header + 3]!, /^n000 /);
  assert.equal(lines[header + 6], '... and 97 more node(s), updated and Ready; --all-nodes lists every node');
  assert.match(text, /updated \[#+\.*\] 101\/102/);
});
