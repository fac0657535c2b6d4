#!/usr/bin/env -S npx tsx
// weft-operator: the program the operator Deployment runs (config/operator).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { names } from '../api/index.ts';
import { DEFAULT_REGISTRY } from '../render/index.ts';
import { CrdDowngradeError } from './crds.ts';
import { createOperator } from './operator.ts';
import { EXIT, missingNamespaceError } from './preflight.ts';
import { batchRollout, DEFAULT_BATCH_TIMEOUT_MS } from './rollout/batch-rollout.ts';
import { createLogger } from '../kube/index.ts';
import { loadKubeConfig } from '../kube/kubeconfig.ts';

const packageVersion = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function bool(v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new InvalidArgumentError('expected true or false');
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('expected a positive number of seconds');
  return n * 1000;
}

export function buildCommand(): Command {
  return new Command('weft-operator')
    .description('Runs the Weft operator: reconciles the Installation into the node agent DaemonSet, its configuration and RBAC.')
    .option('--kubeconfig <path>', 'kubeconfig to use instead of the in-cluster service account')
    .option('--namespace <ns>', 'namespace the operator runs in (leader-election Lease)', process.env.POD_NAMESPACE || names.namespace)
    .option('--version <tag>', 'operator version: the node agent image tag', process.env.WEFT_VERSION || packageVersion)
    .option('--registry <registry>', 'registry of the node agent image when the Installation sets none', DEFAULT_REGISTRY)
    .option('--agent-image <ref>', 'full node agent image reference, overriding registry and version (development builds)')
    .addOption(new Option('--leader-elect [bool]', 'elect a leader among replicas on a Lease').default(true).argParser(bool))
    .option('--leader-election-id <name>', 'name of the Lease', 'weft-operator')
    .addOption(new Option('--lease-duration <s>', 'lease duration in seconds').default(10_000, '10').argParser(seconds))
    .addOption(new Option('--renew-deadline <s>', 'seconds a leader keeps trying to renew before giving up').default(7_000, '7').argParser(seconds))
    .addOption(new Option('--retry-period <s>', 'seconds between lease attempts').default(2_000, '2').argParser(seconds))
    .option('--identity <id>', 'leader-election identity (default: pod name plus a random suffix)')
    .option('--health-port <port>', 'port of /healthz and /readyz (and /metrics); the pod uses host networking, so it avoids the common 8080/8081', port, 9098)
    .option('--metrics-port <port>', 'port of /metrics', port, 9097)
    .option('--bind-address <addr>', 'address the health and metrics servers listen on', '0.0.0.0')
    .addOption(new Option('--resync <s>', 'informer resync period in seconds').default(600_000, '600').argParser(seconds))
    .addOption(
      new Option('--rollout-batch-timeout <s>', 'seconds a node-agent rollout batch may take to report Ready before the rollout halts (Degraded)')
        .default(DEFAULT_BATCH_TIMEOUT_MS, String(DEFAULT_BATCH_TIMEOUT_MS / 1000))
        .argParser(seconds),
    )
    .addOption(new Option('--uninstall-timeout <s>', 'seconds Installation deletion waits for node agents to clean their nodes before it finishes anyway (Warning Event)').default(60_000, '60').argParser(seconds))
    .addOption(new Option('--apply-crds [bool]', 'apply the embedded CRDs at start').default(true).argParser(bool))
    .option('--crds-dir <dir>', 'directory of the CRDs to apply (default: the ones shipped with the operator)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', process.env.WEFT_LOG_LEVEL || 'info')
    .addHelpText('after', `
Exit codes:
  ${EXIT.ok}  stopped by a signal
  ${EXIT.failed}  stopped otherwise (lost the lease, failed to start): let the pod restart
  ${EXIT.noKubeconfig}  no kubeconfig: pass --kubeconfig or run in a pod with a service account
  ${EXIT.crdDowngrade}  the cluster's CRDs are newer than this operator
  ${EXIT.noNamespace}  the --namespace (default weft-system) does not exist: apply the release manifest, or pass --namespace`);
}

interface Flags {
  kubeconfig?: string;
  namespace: string;
  version: string;
  registry: string;
  agentImage?: string;
  leaderElect: boolean;
  leaderElectionId: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  identity?: string;
  healthPort: number;
  metricsPort: number;
  bindAddress: string;
  resync: number;
  rolloutBatchTimeout: number;
  uninstallTimeout: number;
  applyCrds: boolean;
  crdsDir?: string;
  logLevel: string;
}

export async function main(argv = process.argv): Promise<number> {
  const flags = buildCommand().parse(argv).opts<Flags>();
  const log = createLogger({ level: flags.logLevel, name: 'weft-operator' });
  let kc: KubeConfig;
  try {
    if (!flags.kubeconfig && process.env.KUBERNETES_SERVICE_HOST) {
      kc = new KubeConfig();
      kc.loadFromCluster();
    } else {
      kc = loadKubeConfig(flags.kubeconfig);
    }
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot load a kubeconfig: pass --kubeconfig or run in a pod with a service account');
    return EXIT.noKubeconfig;
  }
  if (flags.leaderElect) {
    const missing = await missingNamespaceError(kc, flags.namespace);
    if (missing) {
      // One line on stderr a person running this by hand reads, not a JSON log line.
      process.stderr.write(`weft-operator: ${missing}\n`);
      return EXIT.noNamespace;
    }
  }
  const identity = flags.identity ?? `${process.env.POD_NAME || hostname()}_${randomUUID().slice(0, 8)}`;
  log.info({ version: flags.version, namespace: flags.namespace, identity, leaderElect: flags.leaderElect }, 'starting weft-operator');
  let op;
  try {
    op = await createOperator({
      kubeConfig: kc,
      namespace: flags.namespace,
      version: flags.version,
      registry: flags.registry,
      ...(flags.agentImage ? { agentImage: flags.agentImage } : {}),
      logger: log,
      leaderElect: flags.leaderElect,
      leaderElectionId: flags.leaderElectionId,
      identity,
      leaseDurationMs: flags.leaseDuration,
      renewDeadlineMs: flags.renewDeadline,
      retryPeriodMs: flags.retryPeriod,
      healthPort: flags.healthPort,
      metricsPort: flags.metricsPort,
      bindAddress: flags.bindAddress,
      resyncMs: flags.resync,
      rollout: batchRollout({ batchTimeoutMs: flags.rolloutBatchTimeout }),
      applyCrds: flags.applyCrds,
      uninstallTimeoutMs: flags.uninstallTimeout,
      ...(flags.crdsDir ? { crdDir: flags.crdsDir } : {}),
    });
  } catch (err) {
    if (err instanceof CrdDowngradeError) {
      log.fatal(err.message);
      return EXIT.crdDowngrade;
    }
    log.fatal({ err }, 'starting the operator failed');
    return EXIT.failed;
  }
  for (const c of op.crdPlan) if (c.action !== 'unchanged') log.info({ crd: c.name, action: c.action, revision: c.ours }, 'CRD applied');
  const reason = await op.run();
  log.info({ reason }, 'weft-operator stopped');
  // A lost lease means another replica may be acting already: exit so the pod restarts clean.
  return reason === 'signal' || reason === 'stopped' ? EXIT.ok : EXIT.failed;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('operator/main.ts')) {
  main().then(
    (code) => {
      process.exitCode = code;
      // pino writes asynchronously; give it a tick, then leave even if a handle lingers.
      setTimeout(() => process.exit(code), 100).unref();
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
