// The agent's /debug/diagnose sections read at request time (sysctls, conntrack, BIRD, the
// conflist and the CNI bin dir), and how `weft diagnose` parses them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diagnose, readSysctlsNow } from '../../../components/node/agent/diagnose.ts';
import { execRunner } from '../../../components/node/kernel/exec.ts';
import { parseAgentDiagnose } from '../../../cli/diagnose/agent-report.ts';
import { analyze } from '../../../cli/diagnose/analyze.ts';
import { healthy } from './fixtures.ts';

describe('agent /debug/diagnose, read at request time', () => {
  test('sysctls and conntrack from a sysctl root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'weft-sysctl-'));
    try {
      for (const [k, v] of [['net/ipv4/ip_forward', '0'], ['net/ipv4/conf/all/rp_filter', '1'], ['net/ipv4/conf/weft.vxlan/rp_filter', '2'], ['net/netfilter/nf_conntrack_count', '900'], ['net/netfilter/nf_conntrack_max', '1000']] as const) {
        mkdirSync(join(root, k, '..'), { recursive: true });
        writeFileSync(join(root, k), `${v}\n`);
      }
      const r = await readSysctlsNow(execRunner(), root, ['weft.vxlan']);
      assert.deepEqual(r.sysctls, { fresh: true, root, values: { 'net/ipv4/ip_forward': 0, 'net/ipv4/conf/all/rp_filter': 1, 'net/ipv4/neigh/default/gc_thresh3': null, 'net/ipv4/conf/weft.vxlan/rp_filter': 2 } });
      assert.deepEqual(r.conntrack, { count: 900, max: 1000 });
      writeFileSync(join(root, 'net/ipv4/ip_forward'), '1\n');
      assert.equal(((await readSysctlsNow(execRunner(), root, [])).sysctls as { values: Record<string, number> }).values['net/ipv4/ip_forward'], 1, 'a fresh read each time');
      rmSync(join(root, 'net/netfilter'), { recursive: true });
      assert.match(((await readSysctlsNow(execRunner(), root, [])).conntrack as { error: string }).error, /not loaded/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('the conflist parsed, the bin dir listed, BIRD asked; parsed by weft diagnose into findings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-diag-'));
    try {
      mkdirSync(join(dir, 'net.d'));
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'net.d', '10-weft.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'weft', plugins: [{ type: 'ptp', ipam: { type: 'host-local' } }, { type: 'portmap' }] }));
      for (const b of ['ptp', 'host-local']) writeFileSync(join(dir, 'bin', b), '');
      const raw = await diagnose({
        runner: execRunner(), confDir: join(dir, 'net.d'), vxlanDevice: 'weftnone.vxlan', nftTable: 'weft_none', protocol: 199, state: { ready: true, backend: 'bgp' },
        conflistPath: join(dir, 'net.d', '10-weft.conflist'), binDir: join(dir, 'bin'),
        bird: { socketPath: join(dir, 'no-bird.ctl') },
      });
      assert.deepEqual(raw.cniConf, { name: '10-weft.conflist', plugins: ['ptp', 'host-local', 'portmap'] });
      assert.deepEqual(raw.cniBinDir, { path: join(dir, 'bin'), entries: ['host-local', 'ptp'] });
      assert.equal((raw.bird as { running: boolean }).running, false, 'no BIRD on that socket');
      const r = parseAgentDiagnose('http://x/debug/diagnose', JSON.parse(JSON.stringify(raw)));
      assert.deepEqual(r.conflist, { name: '10-weft.conflist', plugins: ['ptp', 'host-local', 'portmap'] });
      assert.deepEqual(r.cniBinDir, { path: join(dir, 'bin'), entries: ['host-local', 'ptp'] });
      assert.match((r.bgp as { unavailable: string }).unavailable, /no-bird\.ctl/);
      assert.equal((r.sysctls as { fresh: boolean }).fresh, true);

      // The analysis sees the missing plugin from the agent's answer alone (no node-local access).
      const s = healthy();
      s.agents['node-1'] = { ...s.agents['node-1']!, conflist: r.conflist!, cniBinDir: r.cniBinDir! };
      assert.deepEqual(analyze(s).map((f) => [f.id, f.node]), [['cni-plugin-missing', 'node-1']]);

      writeFileSync(join(dir, 'net.d', '10-weft.conflist'), '{ not json');
      const bad = parseAgentDiagnose('u', JSON.parse(JSON.stringify(await diagnose({ runner: execRunner(), confDir: join(dir, 'net.d'), vxlanDevice: 'x', nftTable: 'x', protocol: 199, state: {}, conflistPath: join(dir, 'net.d', '10-weft.conflist') }))));
      assert.match((bad.conflist as { error: string }).error, /10-weft\.conflist/);
      rmSync(join(dir, 'net.d', '10-weft.conflist'));
      const gone = parseAgentDiagnose('u', JSON.parse(JSON.stringify(await diagnose({ runner: execRunner(), confDir: join(dir, 'net.d'), vxlanDevice: 'x', nftTable: 'x', protocol: 199, state: {}, conflistPath: join(dir, 'net.d', '10-weft.conflist') }))));
      assert.deepEqual(gone.conflist, { unavailable: '10-weft.conflist: missing' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('parsing: BIRD up with sessions, conntrack, and errors become Unavailable', () => {
    const r = parseAgentDiagnose('u', {
      agent: { backend: 'bgp' }, bird: { running: true },
      bgpSessions: [{ peer: '198.18.0.12', name: 'node_b', state: 'Established', info: '' }],
      conntrack: { count: 5, max: 10 }, sysctls: { error: 'reading /proc/sys: denied' }, cniBinDir: { path: '/opt/cni/bin', error: 'ENOENT' },
    });
    assert.deepEqual(r.bgp, [{ peer: '198.18.0.12', name: 'node_b', state: 'Established' }]);
    assert.deepEqual(r.conntrack, { count: 5, max: 10 });
    assert.deepEqual(r.sysctls, { unavailable: 'sysctls: reading /proc/sys: denied' });
    assert.deepEqual(r.cniBinDir, { unavailable: 'CNI bin dir: /opt/cni/bin: ENOENT' });
  });
});
