// Issue 16, attack 5: nothing the agent runs or waits for may block it forever — every kernel
// tool has a timeout, the host-local store lock is waited for a bounded time, and a directory
// in the store does not stop the leak scan.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TIMEOUT_EXIT_CODE, execRunner } from '../../../components/node/kernel/exec.ts';
import { readStore, withStoreLock } from '../../../components/node/ipam/hostlocal.ts';

const haveFlock = spawnSync('sh', ['-c', 'command -v flock'], { timeout: 5000 }).status === 0;

describe('bounded work', () => {
  test('a kernel tool that hangs is killed at its timeout and reported', async () => {
    const start = performance.now();
    const r = await execRunner().run(['sleep', '30'], undefined, { timeoutMs: 300 });
    const ms = performance.now() - start;
    assert.equal(r.code, TIMEOUT_EXIT_CODE);
    assert.match(r.stderr, /killed after 300 ms \(timeout\)/);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });

  test('the runner default applies when a call sets none', async () => {
    const r = await execRunner(undefined, { timeoutMs: 200 }).run(['sleep', '30']);
    assert.equal(r.code, TIMEOUT_EXIT_CODE);
  });

  test('the host-local store lock is waited for a bounded time, with a clear error', async (t) => {
    if (!haveFlock) { t.skip('flock(1) is not installed (util-linux)'); return; }
    const dir = await mkdtemp(join(tmpdir(), 'weft-lock-'));
    // Another process (a stuck CNI plugin) holds the lock.
    const holder = spawn('flock', ['-x', join(dir, 'lock'), '-c', 'echo held; sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => holder.stdout.once('data', r));
      const start = performance.now();
      let ran = false;
      await assert.rejects(withStoreLock(dir, async () => { ran = true; }, 1000), /held by another process for more than 1 s/);
      const ms = performance.now() - start;
      assert.equal(ran, false);
      assert.ok(ms < 4000, `waited ${ms} ms`);
    } finally {
      holder.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a directory named like an address in the store is skipped, the reservations are read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-store-'));
    try {
      await writeFile(join(dir, '10.244.1.2'), 'c1\neth0');
      await mkdir(join(dir, '10.244.1.3'));
      await writeFile(join(dir, 'last_reserved_ip.0'), '10.244.1.2');
      assert.deepEqual(await readStore(dir), [{ ip: '10.244.1.2', containerId: 'c1', ifname: 'eth0' }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
