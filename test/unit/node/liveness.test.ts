// The agent's /healthz: alive while passes end, not alive once one has run past its limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_STUCK_PASS_MS, liveness } from '../../../components/node/agent/liveness.ts';
import { DEFAULT_EXEC_TIMEOUT_MS } from '../../../components/node/kernel/exec.ts';

const base = { stopped: false, passStartedAt: undefined, passStep: undefined, now: 1_000_000, stuckPassMs: DEFAULT_STUCK_PASS_MS };

test('no pass in flight: alive', () => {
  assert.deepEqual(liveness(base), { ok: true });
});

test('a pass within its limit, even a slow one: alive', () => {
  assert.equal(liveness({ ...base, passStartedAt: base.now - DEFAULT_STUCK_PASS_MS, passStep: 'kernel' }).ok, true);
});

test('a pass past its limit: not alive, with the step it hangs in and how long', () => {
  const c = liveness({ ...base, passStartedAt: base.now - DEFAULT_STUCK_PASS_MS - 1_000, passStep: 'kernel' });
  assert.equal(c.ok, false);
  assert.match(c.detail!, /run for 301 s \(limit 300 s\), stuck in step kernel/);
});

test('stopping: not alive', () => {
  assert.equal(liveness({ ...base, stopped: true }).ok, false);
});

test('the default limit outlasts several commands that each hit the exec timeout', () => {
  assert.ok(DEFAULT_STUCK_PASS_MS >= 3 * DEFAULT_EXEC_TIMEOUT_MS);
});
