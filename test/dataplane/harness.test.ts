// The harness itself: CNI DEL releases what ADD took, and stale runs are swept.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { STATE_DIR, sweepStaleRuns } from './support/cleanup.ts';
import { TestCluster } from './support/cluster.ts';
import { dataplaneUnavailable, must, nsRun } from '../../cli/sandbox/exec.ts';

const skip = dataplaneUnavailable();

describe('dataplane harness', { skip: skip ?? false }, () => {
  test('CNI ADD through the chain gives the pod an address and a host route; DEL releases both', async () => {
    const c = await TestCluster.create({ nodes: 1, topology: 'one-subnet' });
    try {
      c.startAgents('host-gw', 1500);
      await c.syncAll();
      const pod = await c.addPod(c.nodes[0]!, { bandwidth: true });
      assert.match(pod.ip, /^10\.244\.1\.\d+$/);
      const ipamDir = `${c.nodes[0]!.dataDir}/ipam/weft`;
      assert.ok(readdirSync(ipamDir).includes(pod.ip), 'host-local recorded the allocation in the per-node dataDir');
      assert.match(await must(['ip', '-n', c.nodes[0]!.netns, 'route', 'show', `${pod.ip}/32`]), /dev veth/);
      assert.equal((await nsRun(c.nodes[0]!.netns, ['ping', '-c1', '-W2', pod.ip])).code, 0, 'the node must reach its pod over the ptp host route');
      await c.deletePod(pod);
      assert.ok(!readdirSync(ipamDir).includes(pod.ip), 'CNI DEL must release the address');
      assert.equal((await must(['ip', '-n', c.nodes[0]!.netns, 'route', 'show', `${pod.ip}/32`])).trim(), '');
    } finally { c.destroy(); }
  });

  test('a crashed run (dead owner pid) is swept; a live one is kept', async () => {
    // The live run first: creating a run sweeps too, and this test wants to watch the sweep.
    const live = await TestCluster.create({ nodes: 1, topology: 'one-subnet' });
    const stale = 'fff0';
    mkdirSync(STATE_DIR, { recursive: true });
    // pid 2^22+1 is above the default pid_max, so no process owns it.
    writeFileSync(`${STATE_DIR}/${stale}.pid`, String(4194305));
    await must(['ip', 'netns', 'add', `wd${stale}-n1`]);
    try {
      const swept = sweepStaleRuns();
      assert.ok(swept.includes(stale));
      assert.ok(!swept.includes(live.id));
      const names = await must(['ip', 'netns', 'list']);
      assert.ok(!names.includes(`wd${stale}-`), 'stale namespace left behind');
      assert.ok(names.includes(`wd${live.id}-n1`), 'live run swept');
      assert.ok(!existsSync(`${STATE_DIR}/${stale}.pid`));
    } finally { live.destroy(); }
  });
});
