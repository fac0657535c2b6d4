// Issue 16, attack 6: the agent holds its ConfigMap to the schema the Installation was admitted
// with — a conflist name "../.." (which would name the host-local store directory uninstall
// removes recursively) or a CNI dir outside the allowlist is refused at load, with the field.
// Conflist writes are atomic and durable (fsync of file and directory).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EffectiveConfig } from '../../../api/effective-config.ts';
import { configMapKeys } from '../../../api/effective-config.ts';
import { CNI_BIN_DIRS, CNI_CONF_DIRS, CONF_NAME_RE, loadConfig } from '../../../components/node/config/load.ts';
import { descriptorFor } from '../../../api/descriptor.ts';
import { writeFileIfChanged } from '../../../components/node/cni/conflist.ts';
import { renderConflist } from '../../../render/conflist.ts';

const config: EffectiveConfig = {
  version: 1, mtu: 1450, mtuReason: 'test',
  pools: [{ name: 'default', cidr: '10.70.0.0/24', family: 4, blockSize: 28, encapsulation: 'VXLAN', dataplane: 'vxlan', natOutgoing: true, nodeSelector: '' }],
  bgp: { enabled: false, fullMesh: false, asNumber: 64512, peers: [] },
  autodetection: { v4: { firstFound: true } },
  cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', confName: '10-weft.conflist' },
  hostPorts: false, bandwidth: false,
  vxlan: { vni: 4096, port: 4789, device: 'weft.vxlan' },
  ipip: { device: 'weft.ipip' },
};

describe('agent configuration', () => {
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'weft-cfg-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, c: EffectiveConfig) => {
    const d = join(dir, name);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, configMapKeys.config), JSON.stringify(c));
    writeFileSync(join(d, configMapKeys.conflist), renderConflist(config));
    return d;
  };

  test('the agent\'s rules are the Installation CRD\'s (one fact, checked)', () => {
    const cni = (descriptorFor('Installation').schema as any).properties.spec.properties.cni.properties;
    const allowed = (rule: string) => [...rule.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    assert.deepEqual(allowed(cni.binDir['x-kubernetes-validations'][0].rule), [...CNI_BIN_DIRS]);
    assert.deepEqual(allowed(cni.confDir['x-kubernetes-validations'][0].rule), [...CNI_CONF_DIRS]);
    assert.equal(cni.confName.pattern, CONF_NAME_RE.source);
  });

  test('a rendered configuration loads', async () => {
    const loaded = await loadConfig(write('ok', config));
    assert.equal(loaded.config.cni.confName, '10-weft.conflist');
  });

  for (const [what, cni, field] of [
    ['conflist name "../.."', { ...config.cni, confName: '../..' }, 'cni.confName'],
    ['conflist name with a directory', { ...config.cni, confName: '../../etc/x.conflist' }, 'cni.confName'],
    ['confDir "/"', { ...config.cni, confDir: '/' }, 'cni.confDir'],
    ['binDir "/etc"', { ...config.cni, binDir: '/etc' }, 'cni.binDir'],
  ] as const) {
    test(`refused: ${what}`, async () => {
      await assert.rejects(loadConfig(write(what.replace(/\W/g, '_'), { ...config, cni })), new RegExp(`config\\.json: ${field.replace('.', '\\.')}: `));
    });
  }

  test('refused: a pool CIDR that is not a CIDR', async () => {
    await assert.rejects(loadConfig(write('pool', { ...config, pools: [{ ...config.pools[0]!, cidr: '10.70.0.0/24 dev eth0' }] })), /pools\[0\]\.cidr/);
  });

  test('encryption: WireGuard with a port loads; a port that is not one, or another mode, is refused', async () => {
    const loaded = await loadConfig(write('wg', { ...config, encryption: { mode: 'WireGuard', port: 51830 } }));
    assert.deepEqual(loaded.config.encryption, { mode: 'WireGuard', port: 51830 });
    await assert.rejects(loadConfig(write('wgport', { ...config, encryption: { mode: 'WireGuard', port: '51830 peer x' as unknown as number } })), /config\.json: encryption\.port: /);
    await assert.rejects(loadConfig(write('wgport2', { ...config, encryption: { mode: 'WireGuard', port: 9099 } })), /encryption\.port/);
    await assert.rejects(loadConfig(write('wgmode', { ...config, encryption: { mode: 'IPsec' as 'WireGuard', port: 51830 } })), /encryption\.mode/);
  });

  test('conflist writes leave no temp file and are skipped when unchanged', async () => {
    const p = join(dir, 'net.d', '10-weft.conflist');
    assert.equal(await writeFileIfChanged(p, 'a\n'), true);
    assert.equal(await writeFileIfChanged(p, 'a\n'), false);
    assert.equal(readFileSync(p, 'utf8'), 'a\n');
    assert.deepEqual(readdirSync(join(dir, 'net.d')), ['10-weft.conflist']);
  });
});

