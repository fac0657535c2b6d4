/** `weft status [--watch]`: the Installation's state, rollout progress and every node's agent. */
import type { Command } from 'commander';
import type { Installation, NodeNetwork } from '../../api/index.ts';
import { isNotFound } from '../../kube/errors.ts';
import { clients, loadKubeConfig } from '../kube.ts';
import { renderStatus } from '../status-view.ts';
import { describeError } from '../errors.ts';

async function snapshot(kubeconfig: string | undefined, maxNodeRows: number | undefined): Promise<string> {
  const { custom } = clients(loadKubeConfig(kubeconfig));
  let inst: Installation;
  try {
    inst = (await custom.getClusterCustomObject({
      group: 'operator.weft.dev', version: 'v1', plural: 'installations', name: 'default',
    })) as Installation;
  } catch (err) {
    if (isNotFound(err)) {
      return 'No Installation "default" found: apply one (see config/samples/installation.yaml).';
    }
    throw err;
  }
  const list = (await custom.listClusterCustomObject({
    group: 'network.weft.dev', version: 'v1', plural: 'nodenetworks',
  })) as { items: NodeNetwork[] };
  return renderStatus(inst, list.items, maxNodeRows === undefined ? {} : { maxNodeRows });
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the Installation status, the node-agent rollout and each node')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('-w, --watch', 'refresh every 2 seconds until interrupted')
    .option('--all-nodes', 'list every node (default: the nodes that lag behind first, at most 50 rows)')
    .action(async (opts: { kubeconfig?: string; watch?: boolean; allNodes?: boolean }) => {
      const rows = opts.allNodes ? undefined : 50;
      if (!opts.watch) {
        console.log(await snapshot(opts.kubeconfig, rows));
        return;
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      while (!stop.signal.aborted) {
        const text = await snapshot(opts.kubeconfig, rows).catch((e: unknown) => `error: ${describeError(e)}`);
        process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n${text}\n`);
        await new Promise((r) => setTimeout(r, 2000, undefined));
      }
    });
}
