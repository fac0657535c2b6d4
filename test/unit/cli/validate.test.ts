import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../../..');

function weft(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
}

test('weft validate accepts every sample in config/samples', () => {
  const samples = yamlFiles('config/samples');
  assert.ok(samples.length > 0);
  const r = weft('validate', '-f', ...samples);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
});

for (const dir of ['test/fixtures/invalid', 'test/fixtures/document-invalid']) {
  for (const file of yamlFiles(dir)) {
    test(`weft validate rejects ${file} naming the field`, () => {
      const expected = readFileSync(join(root, file), 'utf8').split('\n')[0]!.replace('# expect: ', '');
      const r = weft('validate', '-f', file);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.stdout, '', 'problems go to stderr');
      const lines = r.stderr.trim().split('\n');
      for (const line of lines) assert.ok(line.startsWith(`${file}: `), `line must start with the file: ${line}`);
      assert.ok(lines.some((l) => l.startsWith(`${file}: ${expected}: `)), `no line for ${expected} in:\n${r.stderr}`);
    });
  }
}

test('weft validate --against catches a changed immutable field', () => {
  const r = weft('validate', '-f', 'test/fixtures/valid/pool-cidr-changed.yaml', '--against', 'config/samples/installation.yaml');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /spec\.network\.ipPools\[0\]\.cidr: cidr of an existing pool is immutable/);
});

test('weft validate reports unreadable and non-YAML files with exit 1', () => {
  const r = weft('validate', '-f', 'does-not-exist.yaml');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /does-not-exist\.yaml: <document>: cannot read/);
});
