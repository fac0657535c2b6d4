// Issue 16, attack 7: `weft validate` input is bounded (size, aliases, keys, depth), duplicate
// keys are found in linear time, and every error — including an unreachable API server for
// `status` and `uninstall` — is one line on stderr naming the file (and field), never a stack
// trace. Timings are measured in-process (no process start-up in the number).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateFiles, type IgnoredDocument } from '../../../cli/commands/validate.ts';
import { INPUT_LIMITS } from '../../../cli/load-documents.ts';

const root = join(import.meta.dirname, '../../..');
function weft(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Each level's anchor refers to the previous one 9 times: 9^levels nodes once expanded. */
function aliasBomb(levels = 12): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return `apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n  x:\n${lines.map((l) => `    ${l}`).join('\n')}\n`;
}
/** A small bomb within the alias budget: 4 levels of 9 (~6500 nodes) must be refused by the expansion bound, not expanded. */
function smallAliasBomb(): string { return aliasBomb(4).replace(/a[5-9]\d*:.*\n/g, ''); }

function timed<T>(f: () => T): [T, number] {
  const start = performance.now();
  const v = f();
  return [v, performance.now() - start];
}

describe('weft validate input limits', () => {
  let dir = '';
  const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
  before(() => { dir = mkdtempSync(join(tmpdir(), 'weft-input-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a 3 MiB file is refused in well under a second with a one-line reason', () => {
    const big = file('big.yaml', `apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n${Array.from({ length: 120_000 }, (_, i) => `  k${i}: ${'v'.repeat(16)}`).join('\n')}\n`);
    const [problems, ms] = timed(() => validateFiles([big]));
    console.log(`# 3 MiB file: ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /too large \(\d+ bytes, at most 1048576\)/);
  });

  test('an alias bomb is refused in well under a second with a one-line reason', () => {
    for (const [name, text] of [['bomb.yaml', aliasBomb()], ['small-bomb.yaml', smallAliasBomb()]] as const) {
      const f = file(name, text);
      const [problems, ms] = timed(() => validateFiles([f]));
      console.log(`# alias bomb ${name}: ${ms.toFixed(1)} ms`);
      assert.ok(ms < 1000, `took ${ms} ms`);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.match(problems[0]!.message, /alias/i);
      assert.ok(!problems[0]!.message.includes('\n'));
    }
  });

  test('just under the size limit, a file of 80000 keys is refused before parsing', () => {
    const lines: string[] = [];
    for (let i = 0; lines.join('\n').length < INPUT_LIMITS.maxBytes - 100_000 && i < 200_000; i += 1000) {
      for (let j = i; j < i + 1000; j++) lines.push(`  k${j}: v`);
    }
    const f = file('keys.yaml', `apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n${lines.join('\n')}\n`);
    const [problems, ms] = timed(() => validateFiles([f]));
    console.log(`# ${lines.length} keys in ${(lines.join('\n').length / 1024).toFixed(0)} KiB: ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.match(problems[0]!.message, /more than 20000 lines and commas/);
  });

  test('a duplicate key is found (linear check) and reported with its line and field', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `    k${i}: v`);
    // 3000 keys in one mapping: a pairwise check would make 4.5 million comparisons.
    keys.push('    k17: again');
    const f = file('dup.yaml', `apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n  network:\n${keys.join('\n')}\n`);
    const [problems, ms] = timed(() => validateFiles([f]));
    // Parsing dominates (~0.1 ms per key on a busy 2-core machine); the check itself is one Set per mapping.
    console.log(`# 3000 keys with a duplicate: ${ms.toFixed(1)} ms`);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.message, `line ${5 + 3001}: spec.network.k17: duplicate key "k17"`);
  });

  test('other documents in a file are named as ignored', () => {
    const f = file('multi.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n---\napiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec: {}\n');
    const ignored: IgnoredDocument[] = [];
    assert.deepEqual(validateFiles([f], undefined, ignored), []);
    assert.deepEqual(ignored, [{ file: f, index: 0, what: 'ConfigMap extra' }]);
  });

  test('CLI: errors are one line each on stderr, stdout stays empty; --against a missing file is one line, no stack trace', () => {
    const bomb = file('bomb2.yaml', aliasBomb());
    const r = weft('validate', '-f', bomb, '--against', join(dir, 'missing.yaml'));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /missing\.yaml: --against: cannot read: ENOENT/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const m = weft('validate', '-f', file('multi2.yaml', 'kind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec: {}\n'));
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stderr, /multi2\.yaml: document 1 \(ConfigMap x\) ignored: not an Installation/);
  });

  test('CLI: status and uninstall with an unreachable API server: one line, exit 2, no stack trace', () => {
    const kc = file('unreachable.kubeconfig', [
      'apiVersion: v1', 'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: x}}]', 'contexts: [{name: c, context: {cluster: c, user: u}}]', 'current-context: c', '',
    ].join('\n'));
    for (const args of [['status'], ['uninstall', '--dry-run'], ['uninstall']]) {
      const r = weft(...args, '--kubeconfig', kc);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^weft ${args[0]}: cannot reach the Kubernetes API server.*ECONNREFUSED`));
    }
  });
});
