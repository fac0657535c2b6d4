import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, WorkQueue } from '../../../kube/workqueue.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('WorkQueue', () => {
  test('deduplicates keys waiting in the queue, keeps FIFO order', async () => {
    const q = new WorkQueue();
    for (const k of ['a', 'b', 'a', 'c', 'b', 'a']) q.add(k);
    assert.equal(q.length, 3);
    const got = [await q.get(), await q.get(), await q.get()];
    assert.deepEqual(got, ['a', 'b', 'c']);
    assert.equal(q.length, 0);
  });

  test('a key is handed to one worker at a time; re-added while in flight it comes back after done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    assert.equal(k, 'a');
    q.add('a');
    q.add('a');
    assert.equal(q.length, 0, 'in-flight key must not be queued for a second worker');
    let second: string | undefined;
    void q.get().then((x) => (second = x));
    await tick();
    assert.equal(second, undefined, 'second worker must wait while a is processing');
    q.done('a');
    await tick();
    assert.equal(second, 'a', 're-added key must be processed again after done');
    q.done('a');
    assert.equal(q.length, 0);
    assert.equal(q.inFlight, 0);
  });

  test('concurrent workers never process the same key at once', async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let overlaps = 0;
    let processed = 0;
    const worker = async () => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (active.has(k)) overlaps++;
        active.add(k);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        active.delete(k);
        processed++;
        q.done(k);
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    for (let i = 0; i < 300; i++) {
      q.add(`k${i % 5}`);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await q.shutdown();
    await Promise.all(workers);
    assert.equal(overlaps, 0);
    assert.ok(processed >= 5 && processed < 300, `processed ${processed}: dedup should collapse adds`);
  });

  test('addAfter delays; an earlier pending delayed add wins', async () => {
    const q = new WorkQueue();
    const t0 = performance.now();
    q.addAfter('x', 60);
    q.addAfter('x', 500); // later: ignored
    assert.equal(q.length, 0);
    assert.equal(q.pendingDelayed, 1);
    const k = await q.get();
    const dt = performance.now() - t0;
    assert.equal(k, 'x');
    assert.ok(dt >= 55 && dt < 400, `delayed ${dt} ms`);
    q.done('x');
    await new Promise((r) => setTimeout(r, 550));
    assert.equal(q.length, 0, 'the later addAfter must not fire separately');
  });

  test('per-key exponential backoff on failure, reset by forget', () => {
    const rl = new RateLimiter({ perKey: { initialMs: 10, maxMs: 1000 }, qps: 1e9, burst: 1e9 });
    const delays = Array.from({ length: 9 }, () => rl.when('a'));
    assert.deepEqual(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    assert.equal(rl.when('b'), 10, 'backoff is per key');
    assert.equal(rl.retries('a'), 9);
    rl.forget('a');
    assert.equal(rl.retries('a'), 0);
    assert.equal(rl.when('a'), 10);
  });

  test('token bucket: burst passes at once, then one key per 1/qps', () => {
    let now = 0;
    const rl = new RateLimiter({ perKey: { initialMs: 0.001, maxMs: 0.001 }, qps: 10, burst: 5 }, () => now);
    const first = Array.from({ length: 5 }, (_, i) => rl.when(`k${i}`));
    assert.ok(first.every((d) => d <= 0.001), `burst delays ${first}`);
    // Tokens are reserved: successive over-burst requests wait 100, 200, 300 ms.
    assert.deepEqual([rl.when('x'), rl.when('y'), rl.when('z')].map(Math.round), [100, 200, 300]);
    now = 1_000; // refill 10 tokens (capped to burst 5) minus the 3 owed
    assert.ok(rl.when('w') <= 0.001);
  });

  test('rate-limited adds through the queue honour the combined delay', async () => {
    const q = new WorkQueue({ rateLimiter: new RateLimiter({ perKey: { initialMs: 40, maxMs: 1000 }, qps: 1000, burst: 10 }) });
    const t0 = performance.now();
    assert.equal(q.addRateLimited('a'), 40);
    assert.equal(await q.get(), 'a');
    q.done('a');
    assert.ok(performance.now() - t0 >= 35);
    assert.equal(q.addRateLimited('a'), 80);
    q.forget('a');
    assert.equal(q.retries('a'), 0);
    await q.shutdown({ drain: false });
  });

  test('shutdown with drain hands out queued keys, then undefined; new adds are refused', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    const done = q.shutdown();
    q.add('c');
    assert.equal(await q.get(), 'a');
    q.done('a');
    assert.equal(await q.get(), 'b');
    let resolved = false;
    void done.then(() => (resolved = true));
    await tick();
    assert.equal(resolved, false, 'shutdown must wait for the in-flight key');
    q.done('b');
    await done;
    assert.equal(await q.get(), undefined);
  });

  test('shutdown without drain drops queued keys, waits for in-flight, cancels delayed adds', async () => {
    const q = new WorkQueue();
    q.add('busy');
    assert.equal(await q.get(), 'busy');
    q.add('queued');
    q.addAfter('later', 50);
    const done = q.shutdown({ drain: false });
    assert.equal(q.length, 0);
    assert.equal(q.pendingDelayed, 0);
    assert.equal(await q.get(), undefined);
    let resolved = false;
    void done.then(() => (resolved = true));
    await tick();
    assert.equal(resolved, false, 'shutdown must wait for the in-flight key');
    q.add('busy'); // refused while shutting down
    q.done('busy');
    await done;
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(q.length, 0, 'cancelled delayed add must not fire');
  });

  test('shutdown wakes workers blocked on an empty queue', async () => {
    const q = new WorkQueue();
    const blocked = [q.get(), q.get()];
    await q.shutdown();
    assert.deepEqual(await Promise.all(blocked), [undefined, undefined]);
  });

  test('requeueAfter via addAfter after forget keeps no backoff memory', async () => {
    const q = new WorkQueue({ rateLimiter: new RateLimiter({ perKey: { initialMs: 10, maxMs: 1000 } }) });
    q.addRateLimited('k');
    q.addRateLimited('k');
    assert.equal(q.retries('k'), 2);
    q.forget('k');
    q.addAfter('k', 20);
    assert.equal(await q.get(), 'k');
    assert.equal(q.retries('k'), 0);
    q.done('k');
    await q.shutdown({ drain: false });
  });
});
