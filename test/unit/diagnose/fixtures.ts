// A healthy 3-node VXLANCrossSubnet cluster as `weft diagnose` sees it (node-1, node-2 in
// 198.18.0.0/24, node-3 in 198.18.1.0/24), built fresh for every test so a case can break one thing.
import type { Installation, IPAMBlock, NodeNetwork } from '../../../api/index.ts';
import type { AgentReport, Snapshot } from '../../../cli/diagnose/snapshot.ts';

export const NOW = '2026-01-01T12:00:00.000Z';
const EARLIER = '2026-01-01T11:00:00.000Z';

export interface N { name: string; address: string; cidr: string; block: string; vtepIp: string; mac: string }

export const NODES: N[] = [
  { name: 'node-1', address: '198.18.0.11', cidr: '198.18.0.11/24', block: '10.244.0.0/26', vtepIp: '10.244.0.0', mac: '0e:57:c6:12:00:0b' },
  { name: 'node-2', address: '198.18.0.12', cidr: '198.18.0.12/24', block: '10.244.0.64/26', vtepIp: '10.244.0.64', mac: '0e:57:c6:12:00:0c' },
  { name: 'node-3', address: '198.18.1.13', cidr: '198.18.1.13/24', block: '10.244.0.128/26', vtepIp: '10.244.0.128', mac: '0e:57:c6:12:01:0d' },
];

const ready = (reason = 'Ready') => ({ type: 'Ready', status: 'True' as const, reason, message: 'ok', lastTransitionTime: EARLIER });

export function installation(encapsulation: 'VXLANCrossSubnet' | 'None' | 'VXLAN' = 'VXLANCrossSubnet', dataplane = 'vxlan-crosssubnet', mtu = 1450): Installation {
  return {
    apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default', generation: 1 },
    spec: { network: { ipPools: [{ name: 'default', cidr: '10.244.0.0/16', blockSize: 26, encapsulation: 'Auto', natOutgoing: 'Enabled' }] } },
    status: {
      observedGeneration: 1, mtu, mtuReason: 'test', encapsulation, configHash: 'abc',
      ipPools: [{ name: 'default', cidr: '10.244.0.0/16', blockSize: 26, encapsulation, dataplane }],
      nodes: { desired: 3, updated: 3, ready: 3 },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Ready', message: 'ready', lastTransitionTime: EARLIER },
        { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: 'done', lastTransitionTime: EARLIER },
        { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'configuration accepted', lastTransitionTime: EARLIER },
      ],
    },
  } as Installation;
}

export function nodeNetwork(n: N, mtu = 1450): NodeNetwork {
  return {
    apiVersion: 'network.weft.dev/v1', kind: 'NodeNetwork', metadata: { name: n.name }, spec: { nodeName: n.name },
    status: {
      address: n.cidr, interface: 'eth0', mtu: 1500, podMTU: mtu, autodetectionMethod: 'firstFound', configHash: 'abc',
      vtep: { mac: n.mac, ip: n.vtepIp },
      blocks: [{ cidr: n.block, pool: 'default', allocated: 2, capacity: 62 }],
      ipam: { allocated: 2, capacity: 62, leaked: 0, released: 0 },
      cni: { conflist: '/etc/cni/net.d/10-weft.conflist', written: true },
      conditions: [ready()],
    },
  };
}

export function block(n: N, uid = `uid-${n.name}`): IPAMBlock {
  return {
    apiVersion: 'network.weft.dev/v1', kind: 'IPAMBlock',
    metadata: { name: n.block.replace(/[./]/g, '-'), ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n.name, uid }] },
    spec: { cidr: n.block, pool: 'default', node: n.name }, status: { allocated: 2, capacity: 62 },
  } as IPAMBlock;
}

/** The agent report of node n in a healthy cluster: FDB and neighbour entries for its VXLAN peers. */
export function agent(n: N, nodes = NODES, crossSubnet = true): AgentReport {
  const peers = nodes.filter((p) => p !== n && (!crossSubnet || p.cidr.split('.')[2] !== n.cidr.split('.')[2]));
  return {
    endpoint: `http://${n.address}:9099/debug/diagnose`, ready: true, backend: 'vxlan-crosssubnet', leaked: 0,
    interfaces: [
      { name: 'lo', mtu: 65536, kind: '', up: true, addresses: ['127.0.0.1/8'] },
      { name: 'eth0', mtu: 1500, kind: 'veth', up: true, addresses: [n.cidr] },
      { name: 'weft.vxlan', mtu: 1450, kind: 'vxlan', up: true, addresses: [`${n.vtepIp}/32`] },
    ],
    fdb: peers.map((p) => ({ mac: p.mac, dst: p.address })),
    neighbours: [
      ...peers.map((p) => ({ dst: p.vtepIp, dev: 'weft.vxlan', lladdr: p.mac, state: ['PERMANENT'] })),
      { dst: '198.18.0.1', dev: 'eth0', lladdr: '02:00:00:00:00:01', state: ['REACHABLE'] },
    ],
    conflistDir: { path: '/etc/cni/net.d', entries: ['10-weft.conflist'] },
    conflist: { name: '10-weft.conflist', plugins: ['ptp', 'host-local', 'portmap'] },
    cniBinDir: { path: '/opt/cni/bin', entries: ['bridge', 'host-local', 'loopback', 'portmap', 'ptp'] },
    sysctls: { fresh: true, values: { 'net/ipv4/ip_forward': 1, 'net/ipv4/conf/all/rp_filter': 2, 'net/ipv4/conf/weft.vxlan/rp_filter': 2, 'net/ipv4/neigh/default/gc_thresh3': 1024 } },
    conntrack: { count: 120, max: 262144 },
  };
}

export function healthy(): Snapshot {
  return {
    collectedAt: NOW,
    installation: installation(),
    nodes: NODES.map((n) => ({ name: n.name, uid: `uid-${n.name}`, internalIPs: [n.address], ready: true })),
    nodeNetworks: NODES.map((n) => nodeNetwork(n)),
    blocks: NODES.map((n) => block(n)),
    pods: NODES.flatMap((n, i) => [
      { namespace: 'default', name: `demo-${i}-a`, node: n.name, ip: n.vtepIp.replace(/\d+$/, (x) => String(Number(x) + 2)), hostNetwork: false, phase: 'Running' },
      { namespace: 'weft-system', name: `weft-node-${i}`, node: n.name, ip: n.address, hostNetwork: true, phase: 'Running' },
    ]),
    agentPods: NODES.map((n, i) => ({ name: `weft-node-${i}`, node: n.name, ready: true, restarts: 0, phase: 'Running' })),
    events: [],
    agents: Object.fromEntries(NODES.map((n) => [n.name, agent(n)])),
    dfProbes: NODES.flatMap((a) => NODES.filter((b) => b !== a).map((b) => ({ from: a.name, to: b.name, size: 1472, ok: true, smallOk: true }))),
    tunnelProbes: [
      { from: 'node-1', to: 'node-3', tunnelAddress: NODES[2]!.vtepIp, underlayOk: true, tunnelOk: true },
      { from: 'node-2', to: 'node-3', tunnelAddress: NODES[2]!.vtepIp, underlayOk: true, tunnelOk: true },
      { from: 'node-3', to: 'node-1', tunnelAddress: NODES[0]!.vtepIp, underlayOk: true, tunnelOk: true },
      { from: 'node-3', to: 'node-2', tunnelAddress: NODES[1]!.vtepIp, underlayOk: true, tunnelOk: true },
    ],
  };
}
