import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Backoff, backoffCeiling, backoffDelay, sleep } from '../../../kube/backoff.ts';

describe('backoff', () => {
  test('ceiling doubles from initial and caps at max', () => {
    const o = { initialMs: 100, maxMs: 1_000 };
    assert.deepEqual([0, 1, 2, 3, 4, 5, 50, 5000].map((a) => backoffCeiling(a, o)), [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  test('jittered delay stays within [ceiling*(1-jitter), ceiling] for any attempt and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (attempt, r, jitter, initialMs, span) => {
          const o = { initialMs, maxMs: initialMs + span, jitter };
          const d = backoffDelay(attempt, o, () => r);
          const c = backoffCeiling(attempt, o);
          assert.ok(Number.isFinite(d));
          assert.ok(d <= c && d <= o.maxMs, `${d} > ceiling ${c}`);
          assert.ok(d >= c * (1 - jitter) - 1e-9, `${d} < ${c * (1 - jitter)}`);
          assert.ok(d >= 0);
        },
      ),
    );
  });

  test('jitter actually spreads delays (not a constant)', () => {
    const o = { initialMs: 1000, maxMs: 1000, jitter: 0.5 };
    const seen = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(3, o))));
    assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
  });

  test('Backoff counts failures and reset starts over', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100 }, () => 0);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [10, 20, 40, 80, 100]);
    assert.equal(b.failures, 5);
    b.reset();
    assert.equal(b.next(), 10);
  });

  test('sleep resolves false at once when aborted', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    assert.equal(await p, false);
    assert.ok(performance.now() - t0 < 1_000);
    assert.equal(await sleep(5), true);
  });
});
