/**
 * Pure: a Tigera operator `operator.tigera.io/v1 Installation` (with `projectcalico.org/v3` or
 * `crd.projectcalico.org/v1` IPPools, BGPConfiguration "default" and BGPPeers) -> the Weft
 * Installation that asks for the same pod network, plus one note for every field that could not
 * be carried. Field names follow the Tigera operator API (operator.tigera.io/v1 InstallationSpec,
 * CalicoNetworkSpec) and Calico's IPPool / BGPConfiguration / BGPPeer specs.
 */
import type { BGPPeer, Installation, IPPool, NodeAddressAutodetection } from '../../api/index.ts';

/** A field of the input that the Weft Installation does not carry, and why. */
export interface ConvertNote {
  /** Where in the input, e.g. "Installation default: spec.calicoNetwork.linuxDataplane". */
  where: string;
  message: string;
}

export interface ConvertResult {
  installation: Installation;
  notes: ConvertNote[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const ENCAPSULATIONS = new Set(['IPIP', 'IPIPCrossSubnet', 'VXLAN', 'VXLANCrossSubnet', 'None']);

/** A DNS label from a Calico pool name ("default-ipv4-ippool" stays, "Pool_1" -> "pool-1"). */
function dnsLabel(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return s || 'pool';
}

function autodetection(v: unknown, where: string, notes: ConvertNote[]): NodeAddressAutodetection | undefined {
  if (!isObj(v)) return undefined;
  const out: NodeAddressAutodetection = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'firstFound' && x === true) out.firstFound = true;
    else if ((k === 'interface' || k === 'skipInterface' || k === 'canReach') && typeof x === 'string') out[k] = x;
    else if (k === 'cidrs' && Array.isArray(x)) out.cidrs = x.map(String);
    else if (k === 'kubernetes' && x === 'NodeInternalIP') out.kubernetes = 'NodeInternalIP';
    else if (k === 'firstFound' && x === false) continue;
    else notes.push({ where: `${where}.${k}`, message: `autodetection method ${k}=${JSON.stringify(x)} has no Weft equivalent; Weft's methods are firstFound, interface, skipInterface, canReach, cidrs and kubernetes` });
  }
  return Object.keys(out).length ? out : undefined;
}

function poolFromTigera(p: Obj, i: number, where: string, notes: ConvertNote[]): IPPool | undefined {
  const at = `${where}.ipPools[${i}]`;
  if (typeof p.cidr !== 'string') { notes.push({ where: at, message: 'pool without cidr left out' }); return undefined; }
  const pool: IPPool = { name: dnsLabel(typeof p.name === 'string' ? p.name : `pool-${i}`), cidr: p.cidr };
  if (typeof p.blockSize === 'number') pool.blockSize = p.blockSize;
  if (typeof p.encapsulation === 'string') {
    if (ENCAPSULATIONS.has(p.encapsulation)) pool.encapsulation = p.encapsulation as IPPool['encapsulation'];
    else notes.push({ where: `${at}.encapsulation`, message: `${p.encapsulation} is not a Weft encapsulation; left at Auto` });
  }
  if (p.natOutgoing === 'Enabled' || p.natOutgoing === 'Disabled') pool.natOutgoing = p.natOutgoing;
  if (typeof p.nodeSelector === 'string') pool.nodeSelector = p.nodeSelector;
  for (const k of Object.keys(p)) {
    if (!['name', 'cidr', 'blockSize', 'encapsulation', 'natOutgoing', 'nodeSelector'].includes(k)) {
      notes.push({ where: `${at}.${k}`, message: `not carried: Weft pools have no ${k} (${JSON.stringify(p[k])})` });
    }
  }
  return pool;
}

/** projectcalico.org/v3 (or crd.projectcalico.org/v1) IPPool -> a Weft pool. */
function poolFromCalico(doc: Obj, notes: ConvertNote[]): IPPool | undefined {
  const name = String((doc.metadata as Obj | undefined)?.name ?? 'pool');
  const where = `IPPool ${name}: spec`;
  const spec = isObj(doc.spec) ? doc.spec : {};
  if (spec.disabled === true) { notes.push({ where: `${where}.disabled`, message: 'the pool is disabled in Calico (no new addresses); left out' }); return undefined; }
  if (typeof spec.cidr !== 'string') { notes.push({ where: `${where}.cidr`, message: 'pool without cidr left out' }); return undefined; }
  const pool: IPPool = { name: dnsLabel(name), cidr: spec.cidr };
  if (typeof spec.blockSize === 'number') pool.blockSize = spec.blockSize;
  const ipip = String(spec.ipipMode ?? 'Never');
  const vxlan = String(spec.vxlanMode ?? 'Never');
  if (ipip !== 'Never' && vxlan !== 'Never') notes.push({ where: `${where}.vxlanMode`, message: `ipipMode ${ipip} and vxlanMode ${vxlan} both set; Weft takes VXLAN` });
  if (vxlan === 'Always') pool.encapsulation = 'VXLAN';
  else if (vxlan === 'CrossSubnet') pool.encapsulation = 'VXLANCrossSubnet';
  else if (ipip === 'Always') pool.encapsulation = 'IPIP';
  else if (ipip === 'CrossSubnet') pool.encapsulation = 'IPIPCrossSubnet';
  else pool.encapsulation = 'None';
  if (typeof spec.natOutgoing === 'boolean') pool.natOutgoing = spec.natOutgoing ? 'Enabled' : 'Disabled';
  if (typeof spec.nodeSelector === 'string') pool.nodeSelector = spec.nodeSelector;
  for (const k of Object.keys(spec)) {
    if (!['cidr', 'blockSize', 'ipipMode', 'vxlanMode', 'natOutgoing', 'nodeSelector', 'disabled'].includes(k)) {
      notes.push({ where: `${where}.${k}`, message: `not carried: Weft pools have no ${k} (${JSON.stringify(spec[k])})` });
    }
  }
  return pool;
}

const CALICO_POOL = /^(projectcalico\.org\/v3|crd\.projectcalico\.org\/v1)$/;

/**
 * Converts the documents of a Tigera installation. Throws an Error naming what is missing when
 * there is no operator.tigera.io/v1 Installation and no Calico IPPool.
 */
export function convertTigera(docs: readonly unknown[]): ConvertResult {
  const notes: ConvertNote[] = [];
  const objs = docs.filter(isObj);
  const tigera = objs.filter((d) => d.apiVersion === 'operator.tigera.io/v1' && d.kind === 'Installation');
  const calicoPools = objs.filter((d) => CALICO_POOL.test(String(d.apiVersion)) && d.kind === 'IPPool');
  const bgpConfig = objs.find((d) => CALICO_POOL.test(String(d.apiVersion)) && d.kind === 'BGPConfiguration' && (d.metadata as Obj | undefined)?.name === 'default');
  const bgpPeers = objs.filter((d) => CALICO_POOL.test(String(d.apiVersion)) && d.kind === 'BGPPeer');
  if (tigera.length === 0 && calicoPools.length === 0) {
    throw new Error('no operator.tigera.io/v1 Installation and no projectcalico.org/v3 IPPool in the input; pass the output of kubectl get installation.operator.tigera.io default -o yaml (and kubectl get ippools -o yaml)');
  }
  for (const d of objs) {
    if (d === tigera[0] || calicoPools.includes(d) || d === bgpConfig || bgpPeers.includes(d)) continue;
    notes.push({ where: `${String(d.kind)} ${String((d.metadata as Obj | undefined)?.name ?? '')}`.trim(), message: `not carried: weft convert reads an operator.tigera.io/v1 Installation, Calico IPPools, BGPConfiguration default and BGPPeers (${String(d.apiVersion)})` });
  }

  const src = tigera[0];
  const tname = String((src?.metadata as Obj | undefined)?.name ?? 'default');
  const where = `Installation ${tname}: spec`;
  const spec = isObj(src?.spec) ? src.spec : {};
  const net = isObj(spec.calicoNetwork) ? spec.calicoNetwork : {};
  const network: NonNullable<Installation['spec']['network']> = {};
  const out: Installation['spec'] = { network };

  for (const [k, v] of Object.entries(spec)) {
    switch (k) {
      case 'calicoNetwork':
        break;
      case 'imagePullSecrets':
        if (Array.isArray(v)) out.imagePullSecrets = v.filter(isObj).map((s) => ({ name: String(s.name) }));
        break;
      case 'nodeUpdateStrategy': {
        const mu = isObj(v) && isObj(v.rollingUpdate) ? v.rollingUpdate.maxUnavailable : undefined;
        if (mu !== undefined) out.nodeUpdateStrategy = { maxUnavailable: mu as number | string };
        break;
      }
      case 'cni': {
        const cni = isObj(v) ? v : {};
        if (cni.type !== undefined && cni.type !== 'Calico') notes.push({ where: `${where}.cni.type`, message: `${String(cni.type)} CNI is not carried: Weft is the CNI (ptp with its own IPAM blocks)` });
        if (isObj(cni.ipam) && cni.ipam.type !== undefined && cni.ipam.type !== 'Calico') notes.push({ where: `${where}.cni.ipam.type`, message: `${String(cni.ipam.type)} IPAM is not carried: Weft hands out its own blocks` });
        break;
      }
      case 'registry':
      case 'imagePath':
      case 'imagePrefix':
        notes.push({ where: `${where}.${k}`, message: `not carried: it points at Calico's images; set spec.registry to where Weft's images are mirrored, if anywhere (${JSON.stringify(v)})` });
        break;
      default:
        notes.push({ where: `${where}.${k}`, message: `not carried: no Weft equivalent (${JSON.stringify(v)})` });
    }
  }

  for (const [k, v] of Object.entries(net)) {
    const at = `${where}.calicoNetwork.${k}`;
    switch (k) {
      case 'mtu':
        if (typeof v === 'number' && v > 0) network.mtu = v;
        break;
      case 'bgp':
        if (v === 'Enabled') network.bgp = { ...network.bgp, mode: 'FullMesh' };
        else if (v !== 'Disabled') notes.push({ where: at, message: `bgp ${JSON.stringify(v)} not understood; BGP left Disabled` });
        break;
      case 'hostPorts':
        if (v === 'Enabled' || v === 'Disabled') network.hostPorts = v;
        break;
      case 'nodeAddressAutodetectionV4':
      case 'nodeAddressAutodetectionV6': {
        const a = autodetection(v, at, notes);
        if (a) network[k] = a;
        break;
      }
      case 'ipPools':
        if (calicoPools.length === 0 && Array.isArray(v)) {
          network.ipPools = v.filter(isObj).map((p, i) => poolFromTigera(p, i, `${where}.calicoNetwork`, notes)).filter((p): p is IPPool => p !== undefined);
        } else if (Array.isArray(v) && v.length) {
          notes.push({ where: at, message: 'not carried: the IPPool objects given are what the cluster runs (the operator creates them from these only at first install), so they are used instead' });
        }
        break;
      case 'linuxDataplane':
        if (v !== 'Iptables' && v !== 'Nftables') notes.push({ where: at, message: `not carried: Weft programs routes with iproute2 and masquerades with nftables; there is no ${String(v)} dataplane` });
        break;
      default:
        notes.push({ where: at, message: `not carried: no Weft equivalent (${JSON.stringify(v)})` });
    }
  }

  if (calicoPools.length) network.ipPools = calicoPools.map((d) => poolFromCalico(d, notes)).filter((p): p is IPPool => p !== undefined);

  if (bgpConfig) {
    const b = isObj(bgpConfig.spec) ? bgpConfig.spec : {};
    const bw = 'BGPConfiguration default: spec';
    for (const [k, v] of Object.entries(b)) {
      if (k === 'nodeToNodeMeshEnabled') network.bgp = { ...network.bgp, mode: v === false ? 'Disabled' : 'FullMesh' };
      else if (k === 'asNumber' && typeof v === 'number') network.bgp = { ...network.bgp, asNumber: v };
      else notes.push({ where: `${bw}.${k}`, message: `not carried: no Weft equivalent (${JSON.stringify(v)})` });
    }
  }
  const peers: BGPPeer[] = [];
  for (const d of bgpPeers) {
    const p = isObj(d.spec) ? d.spec : {};
    const pw = `BGPPeer ${String((d.metadata as Obj | undefined)?.name ?? '')}: spec`;
    if (typeof p.peerIP !== 'string' || typeof p.asNumber !== 'number') { notes.push({ where: pw, message: 'a peer without peerIP and asNumber is left out' }); continue; }
    // Calico allows "IP:port" / "[IPv6]:port"; Weft peers on 179.
    const withPort = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(p.peerIP) ?? /^\[(.+)\]:(\d+)$/.exec(p.peerIP);
    if (withPort) notes.push({ where: `${pw}.peerIP`, message: `port ${withPort[2]} not carried: Weft peers on TCP 179` });
    peers.push({ peerIP: withPort ? withPort[1]! : p.peerIP, asNumber: p.asNumber, ...(typeof p.nodeSelector === 'string' ? { nodeSelector: p.nodeSelector } : {}) });
    for (const k of Object.keys(p)) if (!['peerIP', 'asNumber', 'nodeSelector'].includes(k)) notes.push({ where: `${pw}.${k}`, message: `not carried: Weft peers have no ${k} (${JSON.stringify(p[k])})` });
  }
  if (peers.length) network.bgp = { ...network.bgp, peers };
  if (!network.ipPools?.length) notes.push({ where: `${where}.calicoNetwork.ipPools`, message: 'no pool found: add one to spec.network.ipPools of the output' });

  return {
    installation: { apiVersion: 'operator.weft.dev/v1', kind: 'Installation', metadata: { name: 'default' }, spec: out },
    notes,
  };
}
