// `weft convert` on a Tigera operator Installation with the cluster's Calico IPPools and BGP
// objects (issue 21, item 8): the Weft Installation it writes validates, asks for the same pod
// network, and every field it could not carry has its own stderr line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runConvert } from '../../../cli/commands/convert.ts';
import { validateInstallation } from '../../../api/validation/validate.ts';
import { render, type ClusterFacts } from '../../../render/index.ts';

const fixture = fileURLToPath(new URL('../../fixtures/tigera/installation.yaml', import.meta.url));

describe('weft convert', () => {
  const r = runConvert([fixture]);
  const out = parse(r.stdout);

  test('writes a Weft Installation that validates (exit 0)', () => {
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(out.apiVersion, 'operator.weft.dev/v1');
    assert.deepEqual(validateInstallation(out), []);
  });

  test('carries pools (from the IPPool objects), MTU, BGP, autodetection, pull secrets and the rollout', () => {
    assert.deepEqual(out.spec.network.ipPools, [
      { name: 'default-ipv4-ippool', cidr: '10.48.0.0/16', blockSize: 26, encapsulation: 'VXLANCrossSubnet', natOutgoing: 'Enabled', nodeSelector: 'all()' },
      { name: 'gpu-pool', cidr: '10.49.0.0/20', blockSize: 28, encapsulation: 'IPIP', natOutgoing: 'Disabled', nodeSelector: "gpu == 'true' && !has(spot)" },
    ]);
    assert.equal(out.spec.network.mtu, 1440);
    assert.deepEqual(out.spec.network.bgp, { mode: 'FullMesh', asNumber: 64600, peers: [{ peerIP: '192.168.10.1', asNumber: 65000, nodeSelector: "rack == 'r1'" }] });
    assert.deepEqual(out.spec.network.nodeAddressAutodetectionV4, { cidrs: ['192.168.10.0/24'] });
    assert.equal(out.spec.network.hostPorts, 'Enabled');
    assert.deepEqual(out.spec.imagePullSecrets, [{ name: 'pull-secret' }]);
    assert.deepEqual(out.spec.nodeUpdateStrategy, { maxUnavailable: 2 });
  });

  test('one stderr line for every field it could not carry', () => {
    const lines = r.stderr.trim().split('\n');
    for (const field of ['spec.variant', 'spec.registry', 'spec.kubernetesProvider', 'calicoNetwork.linuxDataplane', 'calicoNetwork.ipPools', 'IPPool default-ipv4-ippool: spec.allowedUses', 'IPPool old-pool: spec.disabled', 'BGPConfiguration default: spec.logSeverityScreen', 'BGPPeer tor: spec.peerIP']) {
      assert.equal(lines.filter((l) => l.includes(field)).length, 1, `${field} in\n${r.stderr}`);
    }
    assert.ok(lines.every((l) => l.startsWith('weft convert: ')), r.stderr);
    assert.equal(lines.length, 9, r.stderr);
  });

  test('the Calico selectors select with their meaning in render', () => {
    const facts: ClusterFacts = { nodes: [{ name: 'a', labels: { gpu: 'true' } }, { name: 'b', labels: { gpu: 'true', spot: 'x' } }, { name: 'c' }] };
    const e = render(out, facts).explain;
    assert.equal(e.find((x) => x.subject === 'pool default-ipv4-ippool nodes')!.decision, '3 of 3');
    assert.equal(e.find((x) => x.subject === 'pool gpu-pool nodes')!.decision, '1 of 3');
  });

  test('input without a Tigera Installation or IPPool is refused with what to pass', () => {
    const bad = runConvert([fileURLToPath(new URL('../../golden/two-subnets/installation.yaml', import.meta.url))]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /no operator\.tigera\.io\/v1 Installation/);
  });
});
