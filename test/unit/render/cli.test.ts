import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runRender } from '../../../cli/commands/render.ts';
import { validateFiles } from '../../../cli/commands/validate.ts';
import { options } from './fixtures.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const sample = join(root, 'config/samples/installation.yaml');

function withFiles(files: Record<string, string>, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'weft-render-cli-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const invalid = `apiVersion: operator.weft.dev/v1
kind: Installation
metadata: {name: cluster}
spec:
  network:
    mtu: 100
    ipPools:
      - {name: a, cidr: 10.244.0.0/16}
      - {name: b, cidr: 10.244.1.0/24, blockSize: 12}
`;

describe('weft render', () => {
  test('an invalid Installation exits 1 with exactly the lines weft validate prints', () => {
    withFiles({ 'bad.yaml': invalid }, (dir) => {
      const file = join(dir, 'bad.yaml');
      const r = runRender({ filename: file }, options);
      assert.equal(r.exitCode, 1);
      const expected = validateFiles([file]).map((p) => `${p.file}: ${p.path}: ${p.message}\n`).join('');
      assert.ok(expected.split('\n').length > 3, 'the fixture should have several problems');
      assert.equal(r.stdout, expected);
    });
  });

  test('a file without an Installation, and one with two', () => {
    withFiles({ 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' }, (dir) => {
      const r = runRender({ filename: join(dir, 'cm.yaml') }, options);
      assert.equal(r.exitCode, 1);
      assert.match(r.stdout, /: kind: no Installation in this file/);
    });
    const one = 'apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec: {}\n';
    withFiles({ 'two.yaml': `${one}---\n${one}` }, (dir) => {
      const r = runRender({ filename: join(dir, 'two.yaml') }, options);
      assert.equal(r.exitCode, 1);
      assert.match(r.stdout, /found 2 Installations/);
    });
  });

  test('bad facts are reported against the facts file', () => {
    withFiles({ 'facts.yaml': 'nodes:\n  - {name: a, address: 10.0.0.5, mtu: 1500}\n', 'empty.yaml': 'foo: 1\n' }, (dir) => {
      const facts = join(dir, 'facts.yaml');
      const r = runRender({ filename: sample, facts }, options);
      assert.equal(r.exitCode, 1);
      assert.ok(r.stdout.startsWith(`${facts}: nodes[0].address: "10.0.0.5" must be the node's underlay address with its prefix length`), r.stdout);
      const e = runRender({ filename: sample, facts: join(dir, 'empty.yaml') }, options);
      assert.equal(e.exitCode, 1);
      assert.match(e.stdout, /: nodes: a facts file is one document with a list of nodes/);
    });
  });

  test('-o json prints a v1 List of the same objects', () => {
    const r = runRender({ filename: sample, output: 'json' }, options);
    assert.equal(r.exitCode, 0);
    const list = JSON.parse(r.stdout);
    assert.equal(list.kind, 'List');
    assert.deepEqual(list.items.map((o: { kind: string }) => o.kind), ['Namespace', 'ConfigMap', 'DaemonSet']);
  });

  test('Degraded problems go to stderr, the objects stay pipeable', () => {
    withFiles({
      'i.yaml': 'apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n  network:\n    ipPools: [{name: a, cidr: 10.244.0.0/16, encapsulation: None}]\n',
      'f.yaml': 'nodes:\n  - {name: a, address: 198.18.0.5/24}\n  - {name: b, address: 198.18.1.5/24}\n',
    }, (dir) => {
      const r = runRender({ filename: join(dir, 'i.yaml'), facts: join(dir, 'f.yaml') }, options);
      assert.equal(r.exitCode, 0);
      assert.match(r.stderr, /^warning: Degraded HostGatewayAcrossSubnets/);
      assert.ok(r.stdout.startsWith('---\napiVersion: v1\nkind: Namespace'));
    });
  });

  test('the weft command has render registered (--explain, stdin)', () => {
    const p = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'render', '-f', '-', '--explain'], {
      cwd: root,
      encoding: 'utf8',
      input: 'apiVersion: operator.weft.dev/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n  network:\n    ipPools: [{name: default, cidr: 10.244.0.0/16, encapsulation: VXLAN}]\n',
    });
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^mtu: 1450 — provisional: /m);
    assert.match(p.stdout, /^pool default encapsulation: VXLAN — set in spec\.network\.ipPools\[0\]\.encapsulation$/m);
  });
});
