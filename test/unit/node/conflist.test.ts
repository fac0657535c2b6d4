// Filling render's conflist template with this node's blocks, and the atomic, change-only write.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conflistText, fillConflist, parseConflistTemplate, writeFileIfChanged } from '../../../components/node/cni/conflist.ts';

const template = parseConflistTemplate(JSON.stringify({
  cniVersion: '1.0.0', name: 'weft',
  plugins: [
    { type: 'ptp', mtu: 1450, ipam: { type: 'host-local', ranges: [] } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
}), 'test');

describe('conflist filling', () => {
  test('one range set per family with this node\'s blocks in order, dataDir, default routes', () => {
    const c = fillConflist(template, ['10.244.3.0/26', 'fd00::/120', '10.244.9.64/26'], '/var/lib/weft/ipam');
    assert.deepEqual(c.plugins[0], {
      type: 'ptp', mtu: 1450,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: '10.244.3.0/26' }, { subnet: '10.244.9.64/26' }], [{ subnet: 'fd00::/120' }]],
        dataDir: '/var/lib/weft/ipam',
        routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      },
    });
    assert.deepEqual(c.plugins[1], template.plugins[1], 'other plugins untouched');
    assert.deepEqual((template.plugins[0] as { ipam: { ranges: unknown[] } }).ipam.ranges, [], 'the template is not mutated');
  });

  test('routes the template sets are kept', () => {
    const t = structuredClone(template);
    (t.plugins[0] as { ipam: Record<string, unknown> }).ipam.routes = [{ dst: '10.0.0.0/8' }];
    const c = fillConflist(t, ['10.244.3.0/26'], '/d');
    assert.deepEqual((c.plugins[0] as { ipam: { routes: unknown } }).ipam.routes, [{ dst: '10.0.0.0/8' }]);
  });

  test('same blocks, same bytes', () => {
    assert.equal(conflistText(fillConflist(template, ['10.244.3.0/26'], '/d')), conflistText(fillConflist(template, ['10.244.3.0/26'], '/d')));
  });

  test('a template without a host-local plugin is rejected with the reason', () => {
    assert.throws(() => parseConflistTemplate('{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"ptp"}]}', 'cm'), /no plugin .* has ipam\.type host-local/);
    assert.throws(() => parseConflistTemplate('{', 'cm'), /cm: the CNI conflist template is not JSON/);
  });
});

describe('atomic write', () => {
  test('writes when different, not when equal, never leaves a temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-conflist-'));
    try {
      const path = join(dir, '10-weft.conflist');
      assert.equal(await writeFileIfChanged(path, 'a\n'), true);
      const m1 = statSync(path).mtimeMs;
      const ino = statSync(path).ino;
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(await writeFileIfChanged(path, 'a\n'), false);
      assert.equal(statSync(path).mtimeMs, m1, 'unchanged content is not rewritten');
      assert.equal(await writeFileIfChanged(path, 'b\n'), true);
      assert.equal(readFileSync(path, 'utf8'), 'b\n');
      assert.notEqual(statSync(path).ino, ino, 'replaced by rename, not rewritten in place');
      assert.deepEqual(readdirSync(dir), ['10-weft.conflist']);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

test('a pre-existing foreign file with the same content counts as written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-conflist-'));
  try {
    writeFileSync(join(dir, 'f'), 'x');
    assert.equal(await writeFileIfChanged(join(dir, 'f'), 'x'), false);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
