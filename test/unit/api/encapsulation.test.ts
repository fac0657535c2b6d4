// The encapsulation <-> dataplane <-> overhead table (api/encapsulation.ts) is the one place
// these facts live; both spellings map onto each other through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATAPLANES, ENCAPSULATIONS, ENCRYPTIONS, WIREGUARD_DEFAULT_PORT, dataplaneFor, encapsulationOverhead, podOverhead, poolEncapsulationFacts, type DataplaneMode } from '../../../api/encapsulation.ts';
import { descriptorFor, resolvedSchema } from '../../../api/descriptor.ts';
import { BACKENDS } from '../../../components/node/backends/registry.ts';

test('overheads are DESIGN.md\'s IPv4 figures', () => {
  assert.deepEqual(encapsulationOverhead, { None: 0, VXLAN: 50, VXLANCrossSubnet: 50, IPIP: 20, IPIPCrossSubnet: 20 });
});

test('every encapsulation maps to a dataplane that maps back to it', () => {
  for (const e of Object.keys(ENCAPSULATIONS) as (keyof typeof ENCAPSULATIONS)[]) {
    assert.equal(DATAPLANES[dataplaneFor(e, false)].encapsulation, e);
    assert.equal(DATAPLANES[dataplaneFor(e, true)].encapsulation, e);
  }
  assert.equal(dataplaneFor('None', true), 'bgp');
  assert.equal(DATAPLANES['vxlan-crosssubnet'].crossSubnet, true);
  assert.equal(DATAPLANES.ipip.tunnel, 'ipip');
});

test('status pools are read by encapsulation, else by dataplane; unknown spellings are unknown', () => {
  assert.equal(poolEncapsulationFacts({ encapsulation: 'VXLANCrossSubnet', dataplane: '' })?.overhead, 50);
  assert.equal(poolEncapsulationFacts({ encapsulation: 'Auto', dataplane: 'ipip-crosssubnet' })?.overhead, 20);
  assert.equal(poolEncapsulationFacts({ encapsulation: 'Auto', dataplane: '' }), undefined);
  assert.equal(poolEncapsulationFacts({ encapsulation: 'vxlan', dataplane: 'VXLAN' }), undefined, 'no prefix or case matching');
});

test('every node backend exists for a dataplane mode and takes its overhead from the table', () => {
  assert.deepEqual(Object.keys(BACKENDS).sort(), Object.keys(DATAPLANES).sort());
  for (const [name, b] of Object.entries(BACKENDS)) assert.equal(b.overhead, DATAPLANES[name as DataplaneMode].overhead, name);
});

test('WireGuard adds 60 bytes over IPv4 and 80 over IPv6 (DESIGN.md); the larger of tunnel and encryption limits pods', () => {
  assert.deepEqual(ENCRYPTIONS, { Disabled: { overhead: 0, overheadV6: 0 }, WireGuard: { overhead: 60, overheadV6: 80 } });
  assert.deepEqual(podOverhead('VXLAN', 'WireGuard'), { overhead: 60, by: 'WireGuard' });
  assert.deepEqual(podOverhead('None', 'WireGuard'), { overhead: 60, by: 'WireGuard' });
  assert.deepEqual(podOverhead('VXLAN'), { overhead: 50, by: 'VXLAN' });
  assert.deepEqual(podOverhead('None', 'Disabled'), { overhead: 0, by: 'None' });
});

test('the WireGuard default port is the schema\'s', () => {
  const schema = resolvedSchema(descriptorFor('Installation')) as { properties: { spec: { properties: { network: { properties: { encryption: { properties: { port: { default: number } } } } } } } } };
  assert.equal(schema.properties.spec.properties.network.properties.encryption.properties.port.default, WIREGUARD_DEFAULT_PORT);
});
