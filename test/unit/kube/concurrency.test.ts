// kube/concurrency.ts: bounded fan-out (weft diagnose's agent requests and probes, the benches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapLimit } from '../../../kube/concurrency.ts';

test('mapLimit keeps at most limit calls in flight and the results in order', async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit(Array.from({ length: 40 }, (_, i) => i), 5, async (i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 1 + (i % 3)));
    inFlight--;
    return i * 2;
  });
  assert.equal(peak, 5);
  assert.deepEqual(out, Array.from({ length: 40 }, (_, i) => i * 2));
  assert.deepEqual(await mapLimit([], 5, async () => 1), []);
});
