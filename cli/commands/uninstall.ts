/** `weft uninstall [--dry-run]`: what removing Weft removes, cluster and nodes; without
 *  --dry-run it deletes the Installation and follows the uninstall handshake
 *  (docs/adr/0009-uninstall-handshake.md) until the operator released its finalizer. */
import type { Command } from 'commander';
import { labels, names, type Installation, type NodeNetwork } from '../../api/index.ts';
import { UNINSTALL_FINALIZER, UNINSTALLED_CONDITION, uninstallRequested } from '../../api/lifecycle.ts';
import { managedKinds } from '../../operator/kinds.ts';
import { KubeClient, isNotFound, type KubeObject } from '../../kube/index.ts';
import { loadKubeConfig } from '../kube.ts';

const CRDS = ['installations.operator.weft.dev', 'ipamblocks.network.weft.dev', 'nodenetworks.network.weft.dev'];

type Inst = Installation & KubeObject;
type NN = NodeNetwork & KubeObject;

export interface NodePlan {
  node: string;
  interfaces: string[];
  conflist: string;
  routes: number | undefined;
  nftTable: string;
  bird: boolean;
  uninstalled?: { status: string; reason?: string; message?: string };
}

export interface UninstallPlan {
  installation?: { finalizers: string[]; deleting: boolean };
  /** Objects the operator rendered (owner label), as Kind namespace/name. */
  rendered: string[];
  nodeNetworks: string[];
  ipamBlocks: string[];
  /** Left for the release manifest / Helm: the CRDs (and with them every Weft object). */
  crds: string[];
  nodes: NodePlan[];
}

/** What a node holds of Weft, as its agent last reported it. */
export function nodePlan(nn: NN): NodePlan {
  const s = nn.status;
  const cond = s?.conditions?.find((c) => c.type === UNINSTALLED_CONDITION);
  return {
    node: nn.metadata?.name ?? '?',
    interfaces: s?.vtep ? ['weft.vxlan'] : [],
    conflist: s?.cni?.conflist ?? '/etc/cni/net.d/10-weft.conflist',
    routes: s?.kernel?.routes,
    nftTable: 'inet weft',
    bird: !!s?.bgp,
    ...(cond ? { uninstalled: { status: cond.status, ...(cond.reason ? { reason: cond.reason } : {}), ...(cond.message ? { message: cond.message } : {}) } } : {}),
  };
}

async function list<T extends KubeObject>(client: KubeClient, path: string, query?: Record<string, string>): Promise<T[]> {
  try {
    return (await client.request<{ items: T[] }>(path, { verb: 'list', ...(query ? { query } : {}) })).items;
  } catch (e) {
    if (isNotFound(e)) return []; // the CRD is gone already
    throw e;
  }
}

export async function planUninstall(client: KubeClient): Promise<UninstallPlan> {
  const inst = await client.request<Inst>(`/apis/operator.weft.dev/v1/installations/${names.installation}`, { verb: 'get' }).catch((e: unknown) => { if (isNotFound(e)) return undefined; throw e; });
  const rendered: string[] = [];
  for (const k of managedKinds) {
    const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
    const path = k.namespaced ? `${base}/namespaces/${names.namespace}/${k.plural}` : `${base}/${k.plural}`;
    for (const o of await list(client, path, { labelSelector: `${labels.owner}=${names.installation}` })) {
      // The operator never prunes its own namespace: the release manifest owns it.
      if (k.kind === 'Namespace') continue;
      rendered.push(`${k.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`);
    }
  }
  const nns = await list<NN>(client, '/apis/network.weft.dev/v1/nodenetworks');
  const blocks = await list(client, '/apis/network.weft.dev/v1/ipamblocks');
  const crds: string[] = [];
  for (const c of CRDS) {
    const got = await client.request(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c}`, { verb: 'get' }).catch((e: unknown) => { if (isNotFound(e)) return undefined; throw e; });
    if (got) crds.push(c);
  }
  const finalizers = ((inst?.metadata as { finalizers?: string[] } | undefined)?.finalizers) ?? [];
  return {
    ...(inst ? { installation: { finalizers, deleting: !!inst.metadata?.deletionTimestamp } } : {}),
    rendered,
    nodeNetworks: nns.map((n) => n.metadata!.name!),
    ipamBlocks: blocks.map((b) => b.metadata!.name!),
    crds,
    nodes: nns.map(nodePlan),
  };
}

export function renderPlan(p: UninstallPlan): string {
  const out: string[] = [];
  if (!p.installation) out.push('Installation "default": not found (nothing for the operator to uninstall).');
  else {
    out.push(`Installation "default"${p.installation.deleting ? ' (being deleted)' : ''}: finalizers [${p.installation.finalizers.join(', ')}]`);
    if (!p.installation.finalizers.includes(UNINSTALL_FINALIZER)) out.push('  the operator holds no uninstall finalizer: nodes are not cleaned by their agents (is the operator running? use `weft-node cleanup` on each node)');
  }
  out.push('', `Cluster objects removed with the Installation (${p.rendered.length + p.nodeNetworks.length + p.ipamBlocks.length}):`);
  for (const r of p.rendered) out.push(`  ${r}`);
  for (const n of p.nodeNetworks) out.push(`  NodeNetwork ${n}`);
  for (const b of p.ipamBlocks) out.push(`  IPAMBlock ${b}`);
  out.push('', `Left for the release manifest (kubectl delete -f weft.yaml, or helm uninstall): namespace ${names.namespace}, the operator, its RBAC, CRDs ${p.crds.length ? p.crds.join(', ') : '(none left)'}`);
  out.push('', `Per node (${p.nodes.length}), removed by each node's agent:`);
  for (const n of p.nodes) {
    const what = [
      n.interfaces.length ? `interfaces ${n.interfaces.join(', ')}` : 'no tunnel interface',
      `${n.routes ?? '?'} route(s) with protocol 87 (weft)`,
      `nftables table ${n.nftTable} (if natOutgoing)`,
      `conflist ${n.conflist}`,
      ...(n.bird ? ['BIRD'] : []),
    ];
    const state = n.uninstalled ? ` — ${n.uninstalled.status === 'True' ? 'cleaned' : `not clean (${n.uninstalled.reason}: ${n.uninstalled.message})`}` : '';
    out.push(`  ${n.node}: ${what.join(', ')}${state}`);
  }
  return out.join('\n');
}

export function registerUninstall(program: Command): void {
  program
    .command('uninstall')
    .description('remove Weft from the cluster and its nodes: delete the Installation and follow the node cleanup; --dry-run lists what would be removed')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--dry-run', 'list what would be removed (cluster objects and, per node, what its agent removes); change nothing')
    .option('--timeout <seconds>', 'give up waiting after this long (the operator itself finishes after its --uninstall-timeout)', (v) => Number(v), 300)
    .action(async (opts: { kubeconfig?: string; dryRun?: boolean; timeout: number }) => {
      const client = new KubeClient(loadKubeConfig(opts.kubeconfig), { userAgent: 'weft-cli' });
      try {
        const plan = await planUninstall(client);
        console.log(renderPlan(plan));
        if (opts.dryRun || !plan.installation) return;
        console.log('\nDeleting Installation "default"...');
        if (!plan.installation.deleting) {
          await client.request(`/apis/operator.weft.dev/v1/installations/${names.installation}`, { verb: 'delete', method: 'DELETE' }).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
        }
        const deadline = Date.now() + opts.timeout * 1000;
        let last = '';
        for (;;) {
          const p = await planUninstall(client);
          const marked = (await list<NN>(client, '/apis/network.weft.dev/v1/nodenetworks')).filter(uninstallRequested).length;
          const cleaned = p.nodes.filter((n) => n.uninstalled?.status === 'True').length;
          const line = p.installation
            ? `waiting: ${cleaned}/${p.nodes.length} node(s) cleaned (${marked} marked), ${p.rendered.length} rendered object(s) left`
            : `Installation gone; ${p.rendered.length} rendered object(s), ${p.nodeNetworks.length} NodeNetwork(s), ${p.ipamBlocks.length} IPAMBlock(s) left`;
          if (line !== last) console.log(line);
          last = line;
          // NodeNetworks/IPAMBlocks a hung or old agent re-creates after the operator deleted
          // them are not waited for: they go with the CRDs.
          if (!p.installation && p.rendered.length === 0) {
            if (p.nodeNetworks.length + p.ipamBlocks.length) console.log(`left (removed with the CRDs): ${[...p.nodeNetworks.map((n) => `NodeNetwork ${n}`), ...p.ipamBlocks.map((b) => `IPAMBlock ${b}`)].join(', ')}`);
            break;
          }
          if (Date.now() > deadline) {
            const stuck = p.nodes.filter((n) => n.uninstalled?.status !== 'True').map((n) => n.node);
            console.error(`weft uninstall: not finished after ${opts.timeout}s.${stuck.length ? ` Nodes not cleaned: ${stuck.join(', ')} (run \`weft-node cleanup\` on them).` : ''} Is the operator running? (kubectl -n ${names.namespace} get deploy weft-operator)`);
            process.exitCode = 1;
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
        console.log(`Done. Weft is removed from the nodes that reported; check the Installation's events for nodes that did not. Now remove the operator and CRDs: kubectl delete -f weft.yaml (or helm uninstall).`);
      } finally {
        client.close();
      }
    });
}
