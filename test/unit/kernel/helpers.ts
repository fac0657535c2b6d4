import { desiredNftModel } from '../../../components/node/kernel/nft.ts';
import type { DesiredKernelState, ObservedKernelState } from '../../../components/node/kernel/types.ts';
import type { DataplaneConfig, LocalNode, PeerNode } from '../../../components/node/backends/types.ts';
import type { EffectiveConfig } from '../../../api/effective-config.ts';
import { renderBirdTemplate } from '../../../render/bird.ts';

/** The kernel as it reads back once exactly `d` has been programmed. */
export function observedFrom(d: DesiredKernelState): ObservedKernelState {
  return {
    links: d.links.map((l) => ({ ...l, up: true, addresses: [...l.addresses] })),
    routes: d.routes.map((r) => ({ ...r })),
    neighbors: d.neighbors.map((n) => ({ ...n })),
    fdb: d.fdb.map((f) => ({ ...f })),
    nft: desiredNftModel(d.nat),
  };
}

export const EMPTY: ObservedKernelState = { links: [], routes: [], neighbors: [], fdb: [], nft: null };

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** Node i: underlay 198.18.<subnet>.<10+i>, block 10.244.<i>.0/26 (both spill upwards past 255). */
export function node(i: number, subnet = 0): LocalNode & PeerNode {
  return {
    name: `n${i}`, underlayAddress: ipv4(((198 << 24) >>> 0) + (18 << 16) + subnet * 256 + 10 + i),
    underlaySubnet: `198.18.${subnet}.0/24`, underlayInterface: 'eth0', blocks: [`${ipv4(((10 << 24) >>> 0) + (244 << 16) + i * 256)}/26`],
  };
}

/** The effective config of one BGP full-mesh pool 10.244.0.0/16, AS 64512 (what render would write). */
export const BGP_EFFECTIVE: EffectiveConfig = {
  version: 1, mtu: 1450, mtuReason: 'test', hostPorts: false, bandwidth: false,
  pools: [{ name: 'default', cidr: '10.244.0.0/16', family: 4, blockSize: 26, encapsulation: 'None', dataplane: 'bgp', natOutgoing: true, nodeSelector: '' }],
  bgp: { enabled: true, fullMesh: true, asNumber: 64512, peers: [] },
  autodetection: { v4: { firstFound: true } },
  cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', confName: '10-weft.conflist' },
  vxlan: { vni: 4096, port: 4789, device: 'weft.vxlan' }, ipip: { device: 'weft.ipip' },
};

export const CFG: DataplaneConfig = {
  mtu: 1450,
  pools: [{ cidr: '10.244.0.0/16', natOutgoing: true }],
  bgp: {
    asNumber: 64512, template: renderBirdTemplate(BGP_EFFECTIVE)!, fullMesh: true, peers: [],
    configPath: '/run/weft/bird.conf', socketPath: '/run/weft/bird.ctl', pidFile: '/run/weft/bird.pid',
  },
};

export function peers(n: number, skip = 1): PeerNode[] {
  const out: PeerNode[] = [];
  for (let i = 1; i <= n; i++) if (i !== skip) out.push(node(i));
  return out;
}
