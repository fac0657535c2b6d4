// The weft-node command line: subcommands and duration parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, parseDuration } from '../../../components/node/main.ts';

test('durations: 250ms, 30s, 10m, 1h, plain milliseconds; garbage is refused', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1.5s'), 1_500);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('42'), 42);
  assert.throws(() => parseDuration('ten minutes'), /not a duration/);
});

test('weft-node has agent, install-cni and cleanup, and agent defaults match the DaemonSet', () => {
  const p = buildProgram();
  assert.deepEqual(p.commands.map((c) => c.name()).sort(), ['agent', 'cleanup', 'install-cni']);
  const agent = p.commands.find((c) => c.name() === 'agent')!;
  const defaults = Object.fromEntries(agent.options.map((o) => [o.attributeName(), o.defaultValue]));
  assert.equal(defaults.healthPort, 9099);
  assert.equal(defaults.configDir, '/etc/weft');
  assert.equal(defaults.hostRoot, '/host');
  assert.equal(defaults.leakGracePeriod, 600_000);
  assert.equal(agent.options.find((o) => o.long === '--no-kernel')?.negate, true, '--no-kernel is opt-in: the kernel is programmed by default');
});
