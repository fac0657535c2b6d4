/**
 * `weft diagnose [--node NAME] [-o table|json]`: what is wrong with the pod network and how to fix
 * it. Exit code: 0 no findings, 1 warnings only, 2 at least one critical finding (3: diagnose
 * itself could not run, e.g. no API server).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { analyze, exitCodeFor } from '../diagnose/analyze.ts';
import { describeError } from '../errors.ts';
import { formatJson, formatTable } from '../diagnose/format.ts';
import { DEFAULT_AGENT_PORT, gather } from '../diagnose/gather.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_PROBE_PEERS } from '../diagnose/bounded.ts';
import { loadKubeConfig } from '../kube.ts';

function pairs(flag: string) {
  return (value: string, previous: Record<string, string> = {}): Record<string, string> => {
    const i = value.indexOf('=');
    if (i <= 0 || i === value.length - 1) throw new InvalidArgumentError(`${flag} takes NODE=VALUE, got ${JSON.stringify(value)}`);
    return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
  };
}

function count(value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 10_000) throw new InvalidArgumentError(`not a whole number from ${min} to 10000: ${value}`);
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`not a port: ${value}`);
  return n;
}

interface Opts { node?: string; output: string; kubeconfig?: string; agentPort: number; agentAddress?: Record<string, string>; nodeNetns?: Record<string, string>; local: boolean; timeout: number; concurrency: number; probePeers: number }

export async function runDiagnose(o: Opts): Promise<{ code: number; text: string }> {
  const snapshot = await gather({
    kubeConfig: loadKubeConfig(o.kubeconfig),
    ...(o.node ? { node: o.node } : {}),
    agentPort: o.agentPort,
    agentAddresses: o.agentAddress ?? {},
    nodeNetns: o.nodeNetns ?? {},
    local: o.local && process.getuid?.() === 0,
    timeoutMs: o.timeout,
    concurrency: o.concurrency,
    probePeers: o.probePeers,
  });
  const findings = analyze(snapshot);
  return { code: exitCodeFor(findings), text: o.output === 'json' ? formatJson(findings, snapshot) : formatTable(findings, snapshot) };
}

export function registerDiagnose(program: Command): void {
  program
    .command('diagnose')
    .description('find what is wrong with the pod network (MTU, CNI config, IPAM, BGP, VXLAN, kernel settings, rollout) and say how to fix it')
    .option('--node <name>', 'only this node\'s agent is asked and only its findings (and cluster-wide ones) are shown')
    .option('-o, --output <format>', 'table or json', (v) => { if (v !== 'table' && v !== 'json') throw new InvalidArgumentError('table or json'); return v; }, 'table')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--agent-port <port>', 'health port of the node agents (/debug/diagnose)', port, DEFAULT_AGENT_PORT)
    .option('--agent-address <node=host:port>', 'where one node\'s agent answers, when not on its underlay address and --agent-port (repeatable)', pairs('--agent-address'))
    .option('--node-netns <node=netns>', 'network namespace of a node on this machine, for node-local checks and probes (repeatable; the sandbox annotates its nodes)', pairs('--node-netns'))
    .option('--no-local', 'skip the node-local checks and DF/VXLAN probes even when the node namespaces are on this machine')
    .option('--timeout <ms>', 'per-agent request timeout', (v) => port(v), 5000)
    .option('--concurrency <n>', 'agent requests and probes in flight at once', (v) => count(v, 1), DEFAULT_CONCURRENCY)
    .option('--probe-peers <n>', 'peers each node probes for DF and VXLAN (a ring, so every node is probed as often as it probes); 0: every other node', (v) => count(v, 0), DEFAULT_PROBE_PEERS)
    .addHelpText('after', '\nExit code: 0 no findings, 1 warnings only, 2 at least one critical finding, 3 diagnose could not run.')
    .action(async (opts: Opts) => {
      try {
        const { code, text } = await runDiagnose(opts);
        process.stdout.write(`${text}\n`);
        process.exitCode = code;
      } catch (e) {
        process.stderr.write(`weft diagnose: ${describeError(e)}\n`);
        process.exitCode = 3;
      }
    });
}
