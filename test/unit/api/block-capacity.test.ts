// One block-capacity rule for the agent, the operator's pool gauges and `weft diagnose`, checked
// against the real host-local plugin where it is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockCapacity, blockCapacityOf } from '../../../api/block-capacity.ts';

test('IPv4 blocks lose network, gateway and broadcast; IPv6 blocks network and gateway', () => {
  assert.equal(blockCapacityOf(4, 26), 61);
  assert.equal(blockCapacityOf(4, 28), 13);
  assert.equal(blockCapacityOf(4, 30), 1);
  assert.equal(blockCapacityOf(4, 31), 0, 'never negative');
  assert.equal(blockCapacityOf(6, 122), 62);
  assert.equal(blockCapacityOf(6, 124), 14);
  assert.equal(blockCapacity('10.244.0.64/26'), 61);
  assert.equal(blockCapacity('fd00:10:244::/120'), 254);
  assert.throws(() => blockCapacity('10.244.0.0'), /no prefix length/);
});

const HOST_LOCAL = ['/usr/lib/cni/host-local', '/opt/cni/bin/host-local'].find((p) => existsSync(p));

/** Allocates from a fresh host-local store until it refuses; returns how many addresses it gave. */
function hostLocalCapacity(subnet: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'weft-capacity-'));
  try {
    const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'capacity', type: 'host-local', ipam: { type: 'host-local', dataDir: dir, ranges: [[{ subnet }]] } });
    for (let i = 0; i < 300; i++) {
      try {
        execFileSync(HOST_LOCAL!, [], {
          input: conf,
          env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c${i}`, CNI_NETNS: '/dev/null', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      } catch {
        return i;
      }
    }
    throw new Error(`host-local handed out 300 addresses from ${subnet}; use a smaller subnet`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('matches what host-local hands out from a block configured as Weft configures it', (t) => {
  if (!HOST_LOCAL) { t.skip('host-local (containernetworking-plugins) is not installed'); return; }
  for (const subnet of ['10.99.0.0/28', '10.99.0.0/29', 'fd00:99::/124']) {
    assert.equal(blockCapacity(subnet), hostLocalCapacity(subnet), subnet);
  }
});
