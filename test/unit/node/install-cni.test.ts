// install-cni copies plugin binaries atomically and only when they changed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCniBinaries } from '../../../components/node/cni/install.ts';

describe('install-cni', () => {
  test('copies, skips unchanged, replaces changed by rename, refuses unknown plugins', async () => {
    const root = mkdtempSync(join(tmpdir(), 'weft-install-cni-'));
    try {
      const src = join(root, 'src');
      const dst = join(root, 'bin');
      mkdirSync(src);
      writeFileSync(join(src, 'ptp'), 'ptp-v1');
      writeFileSync(join(src, 'host-local'), 'hl-v1');
      mkdirSync(join(src, 'not-a-plugin'));
      chmodSync(join(src, 'ptp'), 0o600);
      assert.deepEqual(await installCniBinaries(src, dst), { copied: ['host-local', 'ptp'], unchanged: [] });
      assert.equal(statSync(join(dst, 'ptp')).mode & 0o777, 0o755, 'executable whatever the source mode');
      const ino = statSync(join(dst, 'ptp')).ino;
      assert.deepEqual(await installCniBinaries(src, dst), { copied: [], unchanged: ['host-local', 'ptp'] });
      writeFileSync(join(src, 'ptp'), 'ptp-v2');
      assert.deepEqual(await installCniBinaries(src, dst), { copied: ['ptp'], unchanged: ['host-local'] });
      assert.equal(readFileSync(join(dst, 'ptp'), 'utf8'), 'ptp-v2');
      assert.notEqual(statSync(join(dst, 'ptp')).ino, ino, 'replaced by rename: a runtime exec-ing the old file keeps a whole one');
      assert.deepEqual(readdirSync(dst).sort(), ['host-local', 'ptp'], 'no temp file left');
      assert.deepEqual(await installCniBinaries(src, join(root, 'bin2'), ['ptp']), { copied: ['ptp'], unchanged: [] });
      await assert.rejects(installCniBinaries(src, dst, ['bridge']), /plugins bridge not found in/);
      await assert.rejects(installCniBinaries(join(root, 'absent'), dst), /cannot read the plugin dir .*absent/);
    } finally { rmSync(root, { recursive: true, force: true }); }
  });
});
