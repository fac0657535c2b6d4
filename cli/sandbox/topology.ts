// The sandbox's machines, as network namespaces on a bridged underlay (198.18.0.0/15):
//
//   subnet A 198.18.0.0/24 (bridge br0)          subnet B 198.18.1.0/24 (bridge br1)
//     .1   router ─────────── forwards ─────────── .1   router
//     .2   controlplane (etcd, kube-apiserver, controller-manager, scheduler, weft-operator)
//     .11  node-1, .12 node-2                      .13  node-3
//     .254 this host (link wsb<id>), so kubectl and the sandbox reach the API and the agents
//
// Both bridges live in an "underlay" namespace of their own, so nothing but one veth touches
// the host. Names: namespaces `wsb<id>-<role>`, the host link `wsb<id>`.
import { must, nsMust } from './exec.ts';
import { writeState, type SandboxState } from './state.ts';

export interface SandboxNode {
  name: string;
  netns: string;
  address: string;
  /** CIDR form, e.g. 198.18.0.11/24. */
  cidr: string;
  subnet: string;
  gateway: string;
}

export interface Topology {
  underlay: string;
  router: string;
  controlPlane: { netns: string; address: string };
  host: { link: string; address: string };
  nodes: SandboxNode[];
  underlayMtu: number;
}

export const SUBNETS = ['198.18.0.0/24', '198.18.1.0/24'] as const;
const GATEWAYS = ['198.18.0.1', '198.18.1.1'] as const;
export const CONTROL_PLANE_ADDRESS = '198.18.0.2';
export const HOST_ADDRESS = '198.18.0.254';

/** Node i (1-based) of n: the last third (at least one) sit in subnet B, behind the router. */
export function planTopology(id: string, nodeCount: number, underlayMtu = 1500): Topology {
  const inB = Math.max(1, Math.ceil(nodeCount / 3));
  const nodes: SandboxNode[] = [];
  for (let i = 1; i <= nodeCount; i++) {
    const s = i > nodeCount - inB ? 1 : 0;
    const address = `198.18.${s}.${10 + i}`;
    nodes.push({ name: `node-${i}`, netns: `wsb${id}-node-${i}`, address, cidr: `${address}/24`, subnet: SUBNETS[s]!, gateway: GATEWAYS[s]! });
  }
  return {
    underlay: `wsb${id}-underlay`,
    router: `wsb${id}-router`,
    controlPlane: { netns: `wsb${id}-controlplane`, address: CONTROL_PLANE_ADDRESS },
    host: { link: `wsb${id}`, address: HOST_ADDRESS },
    nodes,
    underlayMtu,
  };
}

/** Host routes and addresses already in 198.18.0.0/23 would make the sandbox unreachable or hijack traffic. */
export async function hostConflicts(): Promise<string[]> {
  const routes = await must(['ip', '-4', 'route', 'show', 'table', 'all']);
  return routes.split('\n').filter((l) => /\b198\.18\.[01]\.\d+/.test(l) || /^198\.18\.0\.0\/(15|16|23)\b/.test(l));
}

async function addNetns(state: SandboxState, name: string): Promise<void> {
  state.namespaces.push(name);
  writeState(state);
  await must(['ip', 'netns', 'add', name]);
  await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

/** A veth from bridge `bridge` of the underlay namespace into `ns`, named `ifname` there. */
async function plug(t: Topology, ns: string, port: string, bridge: string, ifname: string, cidr: string): Promise<void> {
  const mtu = String(t.underlayMtu);
  await must(['ip', '-n', t.underlay, 'link', 'add', port, 'mtu', mtu, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns, 'mtu', mtu]);
  await must(['ip', '-n', t.underlay, 'link', 'set', port, 'master', bridge, 'up']);
  await must(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', ifname]);
  await must(['ip', '-n', ns, 'link', 'set', ifname, 'up']);
}

export async function buildTopology(t: Topology, state: SandboxState): Promise<void> {
  await addNetns(state, t.underlay);
  for (const b of ['br0', 'br1']) {
    await must(['ip', '-n', t.underlay, 'link', 'add', b, 'mtu', String(t.underlayMtu), 'type', 'bridge']);
    await must(['ip', '-n', t.underlay, 'link', 'set', b, 'up']);
  }
  await addNetns(state, t.router);
  await plug(t, t.router, 'router0', 'br0', 'eth0', '198.18.0.1/24');
  await plug(t, t.router, 'router1', 'br1', 'eth1', '198.18.1.1/24');
  await nsMust(t.router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);

  await addNetns(state, t.controlPlane.netns);
  await plug(t, t.controlPlane.netns, 'cp', 'br0', 'eth0', `${t.controlPlane.address}/24`);
  await must(['ip', '-n', t.controlPlane.netns, 'route', 'add', 'default', 'via', GATEWAYS[0]]);

  for (const n of t.nodes) {
    await addNetns(state, n.netns);
    await plug(t, n.netns, n.name, n.subnet === SUBNETS[0] ? 'br0' : 'br1', 'eth0', n.cidr);
    await must(['ip', '-n', n.netns, 'route', 'add', 'default', 'via', n.gateway]);
  }

  // The host's link: its peer is a bridge port in the underlay namespace.
  state.hostLinks.push(t.host.link);
  writeState(state);
  const mtu = String(t.underlayMtu);
  await must(['ip', 'link', 'add', t.host.link, 'mtu', mtu, 'type', 'veth', 'peer', 'name', 'host', 'netns', t.underlay, 'mtu', mtu]);
  await must(['ip', '-n', t.underlay, 'link', 'set', 'host', 'master', 'br0', 'up']);
  await must(['ip', 'addr', 'add', `${t.host.address}/24`, 'dev', t.host.link]);
  await must(['ip', 'link', 'set', t.host.link, 'up']);
  const route = ['198.18.1.0/24', 'via', GATEWAYS[0], 'dev', t.host.link];
  state.hostRoutes.push(route);
  writeState(state);
  await must(['ip', 'route', 'add', ...route]);
}
