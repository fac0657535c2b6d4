// Backend name -> implementation.
import { bgpBackend } from './bgp.ts';
import { hostGwBackend } from './host-gw.ts';
import { ipipBackend, ipipCrossSubnetBackend } from './ipip.ts';
import type { BackendName, DataplaneBackend } from './types.ts';
import { vxlanBackend, vxlanCrossSubnetBackend } from './vxlan.ts';

export const BACKENDS: Record<BackendName, DataplaneBackend> = {
  'host-gw': hostGwBackend,
  vxlan: vxlanBackend,
  'vxlan-crosssubnet': vxlanCrossSubnetBackend,
  ipip: ipipBackend,
  'ipip-crosssubnet': ipipCrossSubnetBackend,
  bgp: bgpBackend,
};

export function backendFor(name: string): DataplaneBackend {
  const b = (BACKENDS as Record<string, DataplaneBackend>)[name];
  if (!b) throw new Error(`unknown dataplane backend "${name}"; expected one of ${Object.keys(BACKENDS).join(', ')}`);
  return b;
}

